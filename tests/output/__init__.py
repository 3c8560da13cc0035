"""Reports, alerts and what a person sees."""
