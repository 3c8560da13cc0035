"""A sweep: selection, ordering, the bound, claims, failures."""
