"""The state store and its journal."""
