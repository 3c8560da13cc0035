"""The state store: skip guard, claims, task outcomes and run history."""

from agentd.state.base import (
    AllDone,
    Blocked,
    Busy,
    Claimed,
    ClaimLost,
    ClaimResult,
    ProjectRecord,
    RunProject,
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
    "Blocked",
    "Busy",
    "ClaimLost",
    "ClaimResult",
    "Claimed",
    "Holder",
    "JsonFileStore",
    "ProjectRecord",
    "RunProject",
    "Snapshot",
    "StateCorrupt",
    "StateError",
    "StateStore",
    "TaskRecord",
]
