"""Agent CLIs: presets, usage, spend."""
