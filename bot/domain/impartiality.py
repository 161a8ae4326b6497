"""Impartial roles: the postmortem leader (and any role the plan marks impartial) must not have
worked the incident, so the review is blameless in fact and not only in name."""
from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.formatting import incident_ref
from bot.domain.model import ROLE_LABELS, Actor, IncidentView, Role
from bot.domain.timeline import Kind
from bot.errors import PermissionDenied
from bot.plan import Plan
from storage import queries

MAX_SUGGESTIONS = 5


async def conflict(session: AsyncSession, view: IncidentView, person: Actor) -> str | None:
    """Why `person` is not impartial for this incident, or None."""
    manager = view.holder(Role.INCIDENT_MANAGER)
    if manager is not None and manager.aad_object_id == person.aad_id:
        return "are its incident manager"
    if person.aad_id in await queries.actors_of(session, view.id, except_kinds=(Kind.REFUSED,)):
        return "have acted in it"
    return None


async def eligible(session: AsyncSession, plan: Plan, view: IncidentView) -> list[str]:
    """Names of plan people who have not worked the incident (known in Teams first)."""
    actors = await queries.actors_of(session, view.id, except_kinds=(Kind.REFUSED,))
    manager = view.holder(Role.INCIDENT_MANAGER)
    if manager is not None:
        actors.add(manager.aad_object_id)
    by_email = await queries.aad_ids_by_email(session, [p.email for p in plan.people])
    known = [p for p in plan.people if p.email.lower() in by_email and by_email[p.email.lower()] not in actors]
    unknown = [p for p in plan.people if p.email.lower() not in by_email]
    return [p.name for p in (known + unknown)[:MAX_SUGGESTIONS]]


async def require_impartial(
    session: AsyncSession, *, plan: Plan, view: IncidentView, role: Role, person: Actor
) -> None:
    """Refuse, with the reason and eligible people, when the plan wants this role impartial."""
    if not plan.role(role.value).impartial:
        return
    reason = await conflict(session, view, person)
    if reason is None:
        return
    label = ROLE_LABELS[role].lower()
    names = await eligible(session, plan, view)
    suggestion = f" People who have not worked it: {', '.join(names)}." if names else ""
    raise PermissionDenied(
        f"{person.display} can't be {label} of {incident_ref(view.id)}: they {reason}, and the plan wants "
        f"the {label} to be impartial.{suggestion}",
        action=f"assign {label}", allowed="someone who has not worked the incident", incident_id=view.id,
    )
