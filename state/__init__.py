"""The state store: skip guard, claims, task outcomes and run history."""

from agentd.state.base import (
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
from agentd.state.claims import Holder
from agentd.state.jsonfile import JsonFileStore

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
