"""Running one task as a process: argv and environment, the runner, orphans, logs,
git worktrees, and the stop token.
"""
