"""Follow-up items: opened by something that must be checked afterwards (a break-glass use),
open until a person closes them with a note.

Closing goes on the incident's timeline (or, for an item with no incident, on the audit
trail). Break-glass items may be closed only by the plan's `breakglass.notify_group` (the
people who review the use and rotate the credentials); other kinds by anyone.
"""
from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.formatting import format_time, incident_ref
from bot.domain.model import Actor, Source
from bot.domain.timeline import record
from bot.errors import NotFound, PermissionDenied, ValidationFailed
from bot.plan import Plan
from storage import follow_ups as store
from storage.bindings import record_audit

CLOSED = "follow_up.closed"
BREAKGLASS = "breakglass"


def closers(plan: Plan, item: store.FollowUp) -> frozenset[str] | None:
    """E-mails of who may close the item; None when anyone may."""
    if item.kind == BREAKGLASS and plan.breakglass is not None:
        return plan.members_of(plan.breakglass.notify_group)
    return None


async def close(session: AsyncSession, *, plan: Plan, item_id: int, note: str, actor: Actor, source: Source,
                now: datetime) -> store.FollowUp:
    """Close an open item with a note; recorded on its incident's timeline or the audit trail."""
    note = note.strip()
    if not note:
        raise ValidationFailed(f"Say `followup close {item_id} NOTE`: what was done (the note is kept).")
    item = await store.get(session, item_id)
    if item is None:
        raise NotFound(f"There is no follow-up #{item_id}. Say `followups` to see the open ones.")
    if not item.is_open:
        raise ValidationFailed(f"Follow-up #{item_id} was already closed by {item.closed_by_name} at "
                               f"{format_time(item.closed_at)}: {item.close_note}")
    allowed = closers(plan, item)
    if allowed is not None and (actor.email or "").lower() not in allowed:
        group = plan.group(plan.breakglass.notify_group).name
        raise PermissionDenied(
            f"Sorry {actor.display}, only members of {group} may close break-glass follow-up #{item_id}: "
            "they review the use and rotate the credentials.",
            action=f"close follow-up #{item_id}", allowed=f"members of {group}", incident_id=item.incident_id)
    if not await store.close(session, item_id, closed_by_aad=actor.aad_id, closed_by_name=actor.display, note=note,
                             now=now):
        raise ValidationFailed(f"Follow-up #{item_id} was closed by someone else just now. Say `followups all`.")
    text = f"#{item_id} {item.text} ({item.subject}): {note}"
    if item.incident_id is not None:
        await record(session, incident_id=item.incident_id, kind=CLOSED, source=source, actor=actor, now=now,
                     new=str(item_id), text=text)
    else:
        await record_audit(session, at=now, action=f"followup close #{item_id}", actor_aad=actor.aad_id,
                           actor_name=actor.display, old_value=None,
                           new_value=json.dumps({"item": item_id, "text": item.text, "note": note}))
    return await store.get(session, item_id)


def item_line(item: store.FollowUp, *, zone) -> str:
    """One item for a list: id, incident, text, what it follows up, and its state."""
    where = f"{incident_ref(item.incident_id)} · " if item.incident_id is not None else ""
    state = (f"open since {format_time(item.opened_at, zone)}" if item.is_open
             else f"closed by {item.closed_by_name} at {format_time(item.closed_at, zone)}: {item.close_note}")
    return f"**#{item.id}** {where}{item.text} ({item.subject}); {state}"


async def reminder(session: AsyncSession, incident_id: int) -> str | None:
    """A line for the people resolving an incident that still has open follow-ups, else None."""
    items, total = await store.listed(session, include_closed=False, incident_id=incident_id, limit=10)
    if not total:
        return None
    ids = ", ".join(f"#{n}" for n in sorted(i.id for i in items))
    return (f"{incident_ref(incident_id)} still has {total} open follow-up item{'s' if total != 1 else ''} ({ids}); "
            f"they stay open after the incident. Say `followups {incident_ref(incident_id)}` to see them.")
