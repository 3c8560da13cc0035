"""A sweep: selection, ordering, the bounded executor, one project's claim -> tasks ->
release, and the agents' budget.
"""
