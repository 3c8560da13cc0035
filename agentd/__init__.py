"""agentd: a nightly scheduler for AI coding agents and other jobs across many repositories.

Everything agentd installs lives under this one name, so no other distribution's
``daemon``, ``config`` or ``state`` (python-daemon, a project's Django settings on
``PYTHONPATH``) can shadow it or be shadowed by it. The packages themselves live in the
repository's top-level folders; ``pyproject.toml`` maps them here.
"""
