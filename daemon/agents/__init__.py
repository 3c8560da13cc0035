"""What agentd knows of each agent CLI: its argv, how it reports usage and errors."""
