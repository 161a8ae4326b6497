"""Handing a role over: who gave what to whom, and what the new holder needs to know."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import authz, impartiality
from bot.domain.formatting import incident_ref
from bot.domain.incidents import load_view, set_role_holder
from bot.domain.model import ROLE_LABELS, Actor, IncidentView, Role, Source
from bot.domain.timeline import Kind, record
from bot.errors import InvalidTransition, ValidationFailed
from bot.plan import Plan
from storage import queries

RECENT_NOTES = 3


@dataclass(frozen=True)
class HandoverSummary:
    """What the incoming holder is told."""

    view: IncidentView
    role: Role
    previous: str | None
    incoming: str
    duties: str
    last_update: str | None
    last_update_at: datetime | None
    next_update_due: datetime | None
    recent_notes: tuple[str, ...]


async def handover(
    *, session: AsyncSession, plan: Plan, incident_id: int, role: Role, to: Actor, actor: Actor, source: Source,
    now: datetime,
) -> HandoverSummary:
    """Give `role` to `to`; only its holder or someone with the manager's authority may."""
    if not to.aad_id:
        raise ValidationFailed("Hand over to whom? @mention them, or say `me`.")
    view = await load_view(session, incident_id, lock=True)
    current = view.holder(role)
    if current is not None and current.aad_object_id == to.aad_id:
        raise InvalidTransition(f"{to.display} already is {ROLE_LABELS[role].lower()} of {incident_ref(view.id)}.")
    is_holder = current is not None and current.aad_object_id == actor.aad_id
    if not is_holder:
        authz.require_manager(view, plan, actor, action=f"hand over the {ROLE_LABELS[role].lower()} role of")
    await impartiality.require_impartial(session, plan=plan, view=view, role=role, person=to)
    previous = current.display_name if current else None
    view.roles[role.value] = await set_role_holder(session, view, role, to, by=actor, source=source, now=now)
    await record(session, incident_id=view.id, kind=Kind.HANDOVER, source=source, actor=actor, now=now,
                 old=previous, new=to.display, text=f"{ROLE_LABELS[role]} handed over")
    return await _summary(session, plan, view, role, previous, to)


async def _summary(
    session: AsyncSession, plan: Plan, view: IncidentView, role: Role, previous: str | None, to: Actor
) -> HandoverSummary:
    inc = view.incident
    every = plan.severity(inc.severity).update_every if inc.severity in plan.severity_ids() else None
    base = inc.last_update_at or inc.declared_at
    notes = await queries.recent_texts(session, view.id, kind=Kind.NOTE, limit=RECENT_NOTES)
    return HandoverSummary(
        view=view, role=role, previous=previous, incoming=to.display, duties=plan.role(role.value).duties,
        last_update=inc.last_update_text, last_update_at=inc.last_update_at,
        next_update_due=(base + every) if every else None, recent_notes=tuple(notes),
    )
