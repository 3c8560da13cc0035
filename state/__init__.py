"""The state store: skip guard, claims, task outcomes and run history."""

from state.base import (
    AllDone,
    Busy,
    Claimed,
    ClaimLost,
    ClaimResult,
    ProjectRecord,
    Snapshot,
    StateCorrupt,
    StateError,
    StateStore,
    TaskRecord,
)
from state.claims import Holder
from state.jsonfile import JsonFileStore

__all__ = [
    "AllDone",
    "Busy",
    "ClaimLost",
    "ClaimResult",
    "Claimed",
    "Holder",
    "JsonFileStore",
    "ProjectRecord",
    "Snapshot",
    "StateCorrupt",
    "StateError",
    "StateStore",
    "TaskRecord",
]
