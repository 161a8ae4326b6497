"""The incident lifecycle as a table: which action moves which status where.

declared -> acknowledged -> mitigated -> resolved; reopen takes a resolved incident back to
acknowledged (whoever reopens it is already working on it).
"""
from __future__ import annotations

from enum import StrEnum

from bot.errors import InvalidTransition


class Status(StrEnum):
    DECLARED = "declared"
    ACKNOWLEDGED = "acknowledged"
    MITIGATED = "mitigated"
    RESOLVED = "resolved"


OPEN_STATUSES = frozenset({Status.DECLARED, Status.ACKNOWLEDGED, Status.MITIGATED})

TRANSITIONS: dict[str, dict[Status, Status]] = {
    "ack": {Status.DECLARED: Status.ACKNOWLEDGED},
    "mitigate": {Status.DECLARED: Status.MITIGATED, Status.ACKNOWLEDGED: Status.MITIGATED},
    "resolve": {
        Status.DECLARED: Status.RESOLVED,
        Status.ACKNOWLEDGED: Status.RESOLVED,
        Status.MITIGATED: Status.RESOLVED,
    },
    "reopen": {Status.RESOLVED: Status.ACKNOWLEDGED},
}

_WHY_NOT: dict[tuple[str, Status], str] = {
    ("ack", Status.ACKNOWLEDGED): "it is already acknowledged",
    ("ack", Status.MITIGATED): "it is already mitigated",
    ("ack", Status.RESOLVED): "it is resolved; `reopen` it first",
    ("mitigate", Status.MITIGATED): "it is already mitigated",
    ("mitigate", Status.RESOLVED): "it is resolved; `reopen` it first",
    ("resolve", Status.RESOLVED): "it is already resolved",
    ("reopen", Status.DECLARED): "it is still open",
    ("reopen", Status.ACKNOWLEDGED): "it is still open",
    ("reopen", Status.MITIGATED): "it is still open",
}


def next_status(action: str, current: str, *, label: str = "The incident") -> Status:
    """The status `action` leads to from `current`, or InvalidTransition saying why not."""
    table = TRANSITIONS.get(action)
    if table is None:
        raise ValueError(f"unknown lifecycle action {action!r}")
    status = Status(current)
    if status not in table:
        reason = _WHY_NOT.get((action, status), f"it is {status.value}")
        raise InvalidTransition(f"Can't {action} {label}: {reason}.")
    return table[status]


def is_open(status: str) -> bool:
    """True while the incident still needs responders."""
    return Status(status) in OPEN_STATUSES
