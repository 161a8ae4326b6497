"""Time as a dependency: domain code asks a Clock, so tests can move time by hand."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Protocol


class Clock(Protocol):
    """Source of the current time (always tz-aware UTC)."""

    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)


def as_utc(value: datetime) -> datetime:
    """Return `value` as tz-aware UTC; naive values (as some databases return them) are UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)
