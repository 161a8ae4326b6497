"""Follow-up items: opened by something that must be checked afterwards (a break-glass use),
open until a person closes them with a note.

Closing goes on the incident's timeline (or, for an item with no incident, on the audit
trail). Break-glass items may be closed only by the plan's `breakglass.notify_group` (the
people who review the use and rotate the credentials), and never by the person who used the
account, even one in that group: nobody reviews their own use. Without a `breakglass` section
in the plan nobody can say who reviews, so such items wait until it is restored. Other kinds
may be closed by anyone. Break-glass items are seen only by that group and the person who used
the account (`may_see_all`).
"""
from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.formatting import format_time, incident_ref, inert_text
from bot.domain.model import Actor, Source
from bot.domain.timeline import record
from bot.errors import NotFound, PermissionDenied, ValidationFailed
from bot.plan import Plan
from storage import follow_ups as store
from storage.bindings import record_audit

CLOSED = "follow_up.closed"
BREAKGLASS = "breakglass"


def reviewers(plan: Plan) -> frozenset[str] | None:
    """E-mails of who reviews break-glass uses (the notify group); None without a `breakglass` section."""
    return plan.members_of(plan.breakglass.notify_group) if plan.breakglass is not None else None


def may_see_all(plan: Plan, actor: Actor) -> bool:
    """Whether the person sees every break-glass item (the notify group); others see only the
    items of their own break-glass uses."""
    return (actor.email or "").lower() in (reviewers(plan) or frozenset())


def _names(plan: Plan, emails) -> str:
    return ", ".join(plan.person(e).name if plan.person(e) else e for e in sorted(emails))


def _require_may_close(plan: Plan, item: store.FollowUp, actor: Actor) -> None:
    """Break-glass items: a reviewer other than the person who used the account; others: anyone."""
    if item.kind != BREAKGLASS:
        return
    what = f"close break-glass follow-up #{item.id}"
    allowed = reviewers(plan)
    if allowed is None:
        owner = plan.person(plan.plan.owner)
        raise PermissionDenied(
            f"Sorry {actor.display}, break-glass follow-up #{item.id} cannot be closed now: the response plan has no "
            "`breakglass` section now, so I cannot tell who reviews break-glass uses. Ask the plan's owner "
            f"({owner.name if owner else plan.plan.owner}) to restore `breakglass.notify_group`, then close it.",
            action=what, allowed="the break-glass notify group (none in the plan now)", incident_id=item.incident_id)
    group = plan.group(plan.breakglass.notify_group).name
    email = (actor.email or "").lower()
    if actor.aad_id == item.opened_by_aad:
        others = allowed - {email}
        members = "Other members" if email in allowed else "Members"
        who = (f"{members} of {group} ({_names(plan, others)}) may close it." if others else
               f"Nobody else is in {group}: ask the plan's owner to add a reviewer to it.")
        raise PermissionDenied(
            f"Sorry {actor.display}, you may not close break-glass follow-up #{item.id}: you used that break-glass "
            f"account, so someone else must review it. {who}",
            action=what, allowed=f"members of {group} other than {item.opened_by_name}", incident_id=item.incident_id)
    if email not in allowed:
        raise PermissionDenied(
            f"Sorry {actor.display}, only members of {group} may close break-glass follow-up #{item.id}: "
            "they review the use and rotate the credentials.",
            action=what, allowed=f"members of {group}", incident_id=item.incident_id)


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
        raise ValidationFailed(f"Follow-up #{item_id} was already closed by {inert_text(item.closed_by_name)} at "
                               f"{format_time(item.closed_at)}: {inert_text(item.close_note, limit=500)}")
    _require_may_close(plan, item, actor)
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


async def reminder(session: AsyncSession, incident_id: int) -> str | None:
    """A line for the people resolving an incident that still has open follow-ups, else None."""
    items, total = await store.listed(session, include_closed=False, incident_id=incident_id, limit=10)
    if not total:
        return None
    ids = ", ".join(f"#{n}" for n in sorted(i.id for i in items))
    return (f"{incident_ref(incident_id)} still has {total} open follow-up item{'s' if total != 1 else ''} ({ids}); "
            f"they stay open after the incident. Say `followups {incident_ref(incident_id)}` to see them.")
