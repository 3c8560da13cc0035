"""The daemon: schedule, fires, signals, systemd."""
