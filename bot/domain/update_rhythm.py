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


def _overdue(incident: Incident, plan: Plan, now: datetime) -> datetime | None:
    every = plan.severity(incident.severity).update_every if incident.severity in plan.severity_ids() else None
    if every is None or incident.home_conversation_id is None:
        return None
    due = next_update_due(incident, every)
    return due if due <= now else None


def _reminder_key(incident: Incident, due: datetime) -> str:
    return f"update-due:{incident.id}:{due.isoformat()}"


async def any_overdue(session: AsyncSession, *, plan: Plan, now: datetime) -> bool:
    """Whether some overdue update has not been reminded yet: a read-only look, so a tick takes
    the write lock only when there is a reminder to send (not every second while an incident
    stays overdue)."""
    for incident in await queries.open_incidents(session, limit=500):
        due = _overdue(incident, plan, now)
        if due is not None and not await queries.key_claimed(session, _reminder_key(incident, due)):
            return True
    return False


async def remind_due(session: AsyncSession, *, plan: Plan, now: datetime) -> list[int]:
    """Remind every open incident whose update is overdue; returns the incidents reminded."""
    reminded: list[int] = []
    for incident in await queries.open_incidents(session, limit=500):
        due = _overdue(incident, plan, now)
        if due is None:
            continue
        every = plan.severity(incident.severity).update_every
        key = _reminder_key(incident, due)
        if not await queries.claim_key(session, key, now=now):
            continue
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
