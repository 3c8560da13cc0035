"""config.toml: parsing, validation, cron and durations."""
