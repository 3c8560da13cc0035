"""agentd: a nightly scheduler for AI coding agents and other jobs across many repositories."""

__version__ = "0.1.0"
