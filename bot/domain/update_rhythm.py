"""Status updates on a rhythm: the plan sets an interval per severity (`update_every`); when an
update is due and none was posted, the space is reminded and the missed update is recorded.

Each due time is reminded once, whatever the number of ticks, processes or restarts: the
reminder claims an idempotency key in the same transaction as its timeline event and message.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.formatting import format_time, incident_ref
from bot.domain.model import SYSTEM_ACTOR, Role, Source
from bot.domain.timeline import Kind, record
from bot.plan import Plan
from bot.durations import format_duration
from storage import outbox, queries
from storage.models import Incident


def next_update_due(incident: Incident, every: timedelta) -> datetime:
    """When the next status update is due: the interval after the last one (or the declaration)."""
    return (incident.last_update_at or incident.declared_at) + every


def _cutoffs(plan: Plan, now: datetime) -> dict[str, datetime]:
    """Per severity with a rhythm: an incident whose last update is at or before this is overdue."""
    return {s.id: now - s.update_every for s in plan.severities if s.update_every is not None}


async def _unreminded(session: AsyncSession, plan: Plan, now: datetime) -> list[tuple[int, datetime, str]]:
    """(incident, due time, reminder key) of each overdue update not yet reminded. Two small
    queries whatever the number of open incidents (the tick asks every second)."""
    overdue = []
    for incident_id, severity, last in await queries.updates_overdue(session, _cutoffs(plan, now)):
        due = last + plan.severity(severity).update_every
        overdue.append((incident_id, due, f"update-due:{incident_id}:{due.isoformat()}"))
    claimed = await queries.claimed_keys(session, [key for _i, _due, key in overdue])
    return [item for item in overdue if item[2] not in claimed]


async def any_overdue(session: AsyncSession, *, plan: Plan, now: datetime) -> bool:
    """Whether some overdue update has not been reminded yet: a read-only look, so a tick takes
    the write lock only when there is a reminder to send (not every second while an incident
    stays overdue)."""
    return bool(await _unreminded(session, plan, now))


async def remind_due(session: AsyncSession, *, plan: Plan, now: datetime) -> list[int]:
    """Remind every open incident whose update is overdue; returns the incidents reminded."""
    reminded: list[int] = []
    for incident_id, due, key in await _unreminded(session, plan, now):
        incident = await queries.get_incident(session, incident_id)
        if incident is None or not await queries.claim_key(session, key, now=now):
            continue
        every = plan.severity(incident.severity).update_every
        roles = await queries.roles_of(session, incident.id)
        holder = roles.get(Role.COMMS_LEAD.value) or roles.get(Role.INCIDENT_MANAGER.value)
        who = holder.display_name if holder else "Incident manager"
        ref = incident_ref(incident.id)
        text = (f"{who}: a status update for {ref} was due at {format_time(due)} "
                f"({incident.severity.upper()} updates every {format_duration(every)}). Say `update TEXT`.")
        await record(session, incident_id=incident.id, kind=Kind.UPDATE_DUE, source=Source.SYSTEM,
                     actor=SYSTEM_ACTOR, now=now, text=f"status update due at {format_time(due)} not posted")
        await outbox.enqueue(session, key=key, conversation_id=incident.home_conversation_id,
                             payload={"text": text, "summary": f"{ref} update due"}, now=now, incident_id=incident.id)
        reminded.append(incident.id)  # type: ignore[arg-type]
    return reminded
