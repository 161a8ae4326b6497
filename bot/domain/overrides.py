"""On-call overrides made from Teams, and what `oncall` shows.

An override puts someone on call for one schedule in a window, above every layer of the plan.
Only people responsible for the schedule may make one: its owner, the plan owner, members of
the schedule's group and its participants (a rota arranges its own swaps). Each one is kept in
the database and on the audit trail, with who it replaced.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.model import Actor
from bot.domain.oncall import Override, Shift, gaps_between, shift_at, shifts_between
from bot.domain.when import Window
from bot.errors import PermissionDenied, ValidationFailed
from bot.plan import Plan
from bot.plan_oncall import Schedule
from storage import bindings, paging as store
from storage.paging import OnCallOverride

LOOKAHEAD = timedelta(days=7)


def responsible(plan: Plan, schedule: Schedule) -> set[str]:
    """E-mails of the people who may change who is on call for `schedule`."""
    people = {schedule.owner, plan.plan.owner}
    if schedule.group:
        people |= set(plan.members_of(schedule.group))
    for layer in schedule.layers:
        people |= set(layer.participants)
    return {p.lower() for p in people}


def pick_schedule(plan: Plan, named: str | None, *, email: str | None) -> Schedule:
    """The schedule named, or the only one there is, or the only one `email` takes part in."""
    if named:
        return plan.schedule(named)
    if not plan.schedules:
        raise ValidationFailed("The plan has no on-call schedules yet (see `schedules` in plans/example.yaml).")
    if len(plan.schedules) == 1:
        return plan.schedules[0]
    if email:
        theirs = [s for s in plan.schedules if any(email in layer.participants for layer in s.layers)]
        if len(theirs) == 1:
            return theirs[0]
    ids = ", ".join(s.id for s in plan.schedules)
    raise ValidationFailed(f"Which schedule? Name one of: {ids}.")


async def overrides_for(session: AsyncSession, schedule_id: str | None, start: datetime, end: datetime) -> list[Override]:
    """Stored overrides overlapping [start, end) as the on-call resolution takes them."""
    rows = await store.overrides_between(session, schedule_id=schedule_id, start=start, end=end)
    return [Override(schedule_id=r.schedule_id, email=r.email, start=r.starts_at, end=r.ends_at) for r in rows]


async def add_override(
    session: AsyncSession, *, plan: Plan, schedule: Schedule, email: str, window: Window, actor: Actor, now: datetime,
) -> OnCallOverride:
    """Put `email` on call for `schedule` during `window`; recorded with who it replaces."""
    email = email.lower()
    if plan.person(email) is None:
        raise ValidationFailed(f"{email} is not in the plan's `people`; add them there first, so they can be reached when paged.")
    who = (actor.email or "").lower()
    allowed = responsible(plan, schedule)
    if who not in allowed:
        raise PermissionDenied(
            f"Only people responsible for {schedule.name} may change who is on call: its owner, the plan owner, "
            f"its group and its participants.", action="override", allowed="the schedule's owner, group and participants")
    overrides = await overrides_for(session, schedule.id, window.start, window.end)
    before = shift_at(schedule, window.start, overrides)
    row = OnCallOverride(schedule_id=schedule.id, email=email, starts_at=window.start, ends_at=window.end,
                         replaces_email=", ".join(before.people) or None, created_by_aad=actor.aad_id,
                         created_by_name=actor.display, created_at=now)
    session.add(row)
    await session.flush()
    await bindings.record_audit(
        session, at=now, action="oncall.override", actor_aad=actor.aad_id, actor_name=actor.display,
        old_value=", ".join(before.people) or "nobody",
        new_value=json.dumps({"schedule": schedule.id, "email": email, "from": window.start.isoformat(),
                              "to": window.end.isoformat(), "override_id": row.id}, sort_keys=True))
    return row


@dataclass(frozen=True)
class OnCallNow:
    """What `oncall` shows for one schedule."""

    schedule: Schedule
    current: Shift
    following: Shift | None
    gaps: list[Shift]


async def on_call_now(session: AsyncSession, *, schedule: Schedule, now: datetime) -> OnCallNow:
    """Who is on call now and until when, who is next, and any gap in the next 7 days."""
    overrides = await overrides_for(session, schedule.id, now - timedelta(days=90), now + LOOKAHEAD + timedelta(days=90))
    current = shift_at(schedule, now, overrides)
    spans = shifts_between(schedule, now, now + LOOKAHEAD, overrides)
    following = spans[1] if len(spans) > 1 else None
    return OnCallNow(schedule=schedule, current=current, following=following,
                     gaps=gaps_between(schedule, now, now + LOOKAHEAD, overrides))
