"""Tasks as processes: argv, logs, worktrees."""
