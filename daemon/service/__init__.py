"""The long-running daemon: APScheduler wiring, fire bookkeeping, schedule math, sd_notify."""
