"""The command line: parser, exit statuses, one module per command, and the setup that
turns options into a config, logging and a store. Only this package knows exit statuses.
"""
