"""When a breach deadline's owner is reminded: pure rules over (due time, remind-before list, now).

A deadline's reminders are its stages: one at each `remind_before` before the deadline, and
"overdue" (stage 0) at the deadline itself. At any instant the stage reached is the latest one
whose time has come. The tick sends that stage once (its idempotency key names the stage), so
a tick that missed a stage (the process was down) sends only the one now current, never a burst
of stale ones, and a stage is never sent twice.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from bot.domain.formatting import format_age

OVERDUE = 0


def stage_times(due_at: datetime, remind_before_s: tuple[int, ...]) -> list[tuple[datetime, int]]:
    """(when, stage) for every reminder of a deadline, earliest first; stage = seconds before
    the deadline, OVERDUE (0) for the deadline itself."""
    stages = {s for s in remind_before_s if s > 0} | {OVERDUE}
    return sorted(((due_at - timedelta(seconds=s), s) for s in stages), key=lambda pair: pair[0])


def stage_at(due_at: datetime, remind_before_s: tuple[int, ...], now: datetime) -> int | None:
    """The stage reached at `now` (the latest whose time has come), or None before the first."""
    reached = [stage for at, stage in stage_times(due_at, remind_before_s) if at <= now]
    return reached[-1] if reached else None


def next_remind_at(due_at: datetime, remind_before_s: tuple[int, ...], *, after: datetime) -> datetime | None:
    """When the next stage after `after` falls due; None once the deadline has passed."""
    for at, _stage in stage_times(due_at, remind_before_s):
        if at > after:
            return at
    return None


def reminder_key(deadline_row_id: int, stage: int) -> str:
    """The idempotency key of one reminder: once per deadline row and stage."""
    return f"breach-reminder:{deadline_row_id}:{'overdue' if stage == OVERDUE else stage}"


def time_left(due_at: datetime, now: datetime) -> str:
    """`3d 4h left`, or `overdue by 2h 5m`."""
    if now >= due_at:
        return f"overdue by {format_age(now - due_at)}"
    return f"{format_age(due_at - now)} left"
