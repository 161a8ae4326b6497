"""Incident business rules: declare, lifecycle, severity, roles, notes and updates.

Each function works inside the caller's transaction and writes the state change together with
its timeline event, so the two can never disagree. Authorization is checked here, not in the
Teams layer, so every entry point (command, card, dialog, alert) obeys the same rules.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import alert_summary, announcements, authz, impartiality, lifecycle, paging
from bot.domain.formatting import incident_ref
from bot.domain.model import ROLE_LABELS, Actor, IncidentView, Role, Source
from bot.domain.timeline import Kind, record
from bot.errors import InvalidTransition, NotFound, ValidationFailed
from bot.plan import Plan
from storage import queries
from storage.models import Incident, IncidentRole

MAX_TITLE = 200
MAX_TEXT = 4000


async def load_view(session: AsyncSession, incident_id: int, *, lock: bool = False) -> IncidentView:
    """The incident and its role holders, or NotFound naming the id."""
    incident = await queries.get_incident(session, incident_id, lock=lock)
    if incident is None:
        raise NotFound(f"There is no {incident_ref(incident_id)}. Say `list` to see open incidents.")
    return IncidentView(incident=incident, roles=await queries.roles_of(session, incident_id),
                        alerts=await alert_summary.summary(session, incident_id))


def _clean_text(text: str, *, what: str, limit: int = MAX_TEXT) -> str:
    cleaned = " ".join(text.split()) if what == "title" else text.strip()
    if not cleaned:
        raise ValidationFailed(f"The {what} is empty.")
    if len(cleaned) > limit:
        raise ValidationFailed(f"The {what} is {len(cleaned)} characters; keep it under {limit}.")
    return cleaned


async def declare(
    *,
    session: AsyncSession,
    plan: Plan,
    title: str,
    severity: str,
    actor: Actor,
    source: Source,
    now: datetime,
    service_id: str | None = None,
    description: str = "",
    conversation_id: str | None = None,
    tenant_id: str | None = None,
    announce: bool = True,
    page: bool = True,
) -> IncidentView:
    """Open a new incident; the declarer becomes incident manager unless the plan says otherwise.
    `announce=False` keeps it out of the announcements channel (a need-to-know security event);
    `page=False` opens it without paging (a flapping alert)."""
    title = _clean_text(title, what="title", limit=MAX_TITLE)
    description = _clean_text(description, what="description") if description.strip() else ""
    sev = plan.severity(severity.lower()).id
    if service_id:
        plan.service(service_id)
    incident = Incident(
        title=title,
        description=description,
        severity=sev,
        status=lifecycle.Status.DECLARED.value,
        service_id=service_id,
        tenant_id=tenant_id,
        home_conversation_id=conversation_id,
        declared_by_aad=actor.aad_id,
        declared_by_name=actor.display,
        declared_at=now,
        updated_at=now,
        need_to_know=not announce,
    )
    session.add(incident)
    await session.flush()
    assert incident.id is not None
    await record(session, incident_id=incident.id, kind=Kind.DECLARED, source=source, actor=actor, now=now,
           new=sev, text=title)
    if description:  # the column alone is seen by nobody; the timeline is what responders read
        await record(session, incident_id=incident.id, kind=Kind.NOTE, source=source, actor=actor, now=now,
                     text=description)
    roles: dict[str, IncidentRole] = {}
    if plan.role(Role.INCIDENT_MANAGER.value).on_declare == "declarer" and actor.aad_id:
        roles[Role.INCIDENT_MANAGER.value] = await _set_role(
            session, incident, Role.INCIDENT_MANAGER, actor, None, source=source, by=actor, now=now, announce=False
        )
    if announce:
        await announcements.changed(session, incident_id=incident.id, what="declared", now=now)
    if page:
        await paging.page_service_on_declare(session, plan=plan, incident_id=incident.id, severity=sev,
                                             service_id=service_id, actor=actor, source=source, now=now)
    return IncidentView(incident=incident, roles=roles)


async def transition(
    *,
    session: AsyncSession,
    plan: Plan,
    incident_id: int,
    action: str,
    actor: Actor,
    source: Source,
    now: datetime,
    text: str | None = None,
    system: bool = False,
) -> IncidentView:
    """Move an incident along the lifecycle (ack, mitigate, resolve, reopen). `system`: the
    plan itself asks for it (an integration that auto-resolves), so no person's authority is
    checked."""
    view = await load_view(session, incident_id, lock=True)
    incident = view.incident
    if action in authz.MANAGER_ACTIONS and not system:
        authz.require_manager(view, plan, actor, action=action)
    new = lifecycle.next_status(action, incident.status, label=incident_ref(view.id))
    old = incident.status
    incident.status = new.value
    incident.updated_at = now
    if new is lifecycle.Status.ACKNOWLEDGED and incident.acknowledged_at is None:
        incident.acknowledged_at = now
    if new is lifecycle.Status.MITIGATED:
        incident.mitigated_at = now
    if new is lifecycle.Status.RESOLVED:
        incident.resolved_at = now
        incident.resolution_summary = text.strip() if text and text.strip() else None
    if action == "reopen":
        incident.resolved_at = None
    await record(session, incident_id=view.id, kind=Kind.STATUS, source=source, actor=actor, now=now,
           old=old, new=new.value, text=(text or None))
    await announcements.changed(session, incident_id=view.id, what="reopened" if action == "reopen" else new.value, now=now)
    if new is lifecycle.Status.RESOLVED:
        await paging.stop_for_incident(session, incident_id=view.id, reason=f"{incident_ref(view.id)} resolved", now=now)
    return view


async def set_severity(
    *, session: AsyncSession, plan: Plan, incident_id: int, severity: str, actor: Actor, source: Source,
    now: datetime,
) -> IncidentView:
    """Change the severity (anyone in the conversation may; it is recorded)."""
    sev = plan.severity(severity.lower()).id
    view = await load_view(session, incident_id, lock=True)
    incident = view.incident
    if not lifecycle.is_open(incident.status):
        raise InvalidTransition(f"{incident_ref(view.id)} is resolved; `reopen` it to change its severity.")
    if incident.severity == sev:
        raise InvalidTransition(f"{incident_ref(view.id)} is already {sev}.")
    old = incident.severity
    incident.severity = sev
    incident.updated_at = now
    await record(session, incident_id=view.id, kind=Kind.SEVERITY, source=source, actor=actor, now=now, old=old, new=sev)
    await announcements.changed(session, incident_id=view.id, what=f"is now {sev.upper()}", now=now)
    return view


async def assign_role(
    *, session: AsyncSession, plan: Plan, incident_id: int, role: Role, assignee: Actor, actor: Actor,
    source: Source, now: datetime,
) -> IncidentView:
    """Give a role to someone; changing the incident manager needs the manager's authority."""
    if not assignee.aad_id:
        raise ValidationFailed("Name a person with an @mention, or say `me`.")
    view = await load_view(session, incident_id, lock=True)
    current = view.holder(role)
    if current and current.aad_object_id == assignee.aad_id:
        raise InvalidTransition(f"{assignee.display} is already {ROLE_LABELS[role].lower()} of {incident_ref(view.id)}.")
    if role is Role.INCIDENT_MANAGER and current is not None:
        authz.require_manager(view, plan, actor, action="change the incident manager of")
    await impartiality.require_impartial(session, plan=plan, view=view, role=role, person=assignee)
    view.roles[role.value] = await _set_role(session, view.incident, role, assignee, current, source=source, by=actor, now=now)
    view.incident.updated_at = now
    return view


async def set_role_holder(
    session: AsyncSession, view: IncidentView, role: Role, assignee: Actor, *, by: Actor, source: Source,
    now: datetime,
) -> IncidentRole:
    """Put `assignee` in `role` (recorded); callers check who may and impartiality first."""
    view.incident.updated_at = now
    return await _set_role(session, view.incident, role, assignee, view.holder(role), source=source, by=by, now=now)


async def _set_role(
    session: AsyncSession, incident: Incident, role: Role, assignee: Actor, current: IncidentRole | None,
    *, source: Source, by: Actor, now: datetime, announce: bool = True,
) -> IncidentRole:
    assert incident.id is not None
    old_name = current.display_name if current else None
    if current is None:
        current = IncidentRole(incident_id=incident.id, role=role.value, assigned_at=now)
        session.add(current)
    current.aad_object_id = assignee.aad_id
    current.display_name = assignee.display
    current.email = assignee.email
    current.assigned_at = now
    await record(session, incident_id=incident.id, kind=Kind.ROLE, source=source, actor=by, now=now,
           old=old_name, new=assignee.display, text=ROLE_LABELS[role])
    if announce:  # a declare announces once, with its first incident manager already on the card
        await announcements.changed(session, incident_id=incident.id,
                                    what=f"{ROLE_LABELS[role].lower()}: {assignee.display}", now=now)
    if assignee.aad_id and assignee.aad_id != by.aad_id:  # told in 1:1 what the role expects of them
        await announcements.brief_assignee(session, incident_id=incident.id, role=role.value,
                                           role_title=ROLE_LABELS[role], assignee_aad=assignee.aad_id, now=now)
    return current


async def add_note(
    *, session: AsyncSession, incident_id: int, text: str, actor: Actor, source: Source, now: datetime,
) -> int:
    """Record a note (anyone; notes are allowed after resolution too, for the postmortem).

    The hottest command, so it touches nothing but the timeline: `incident_id` must come from
    `find_target` in the same transaction, which has checked that the incident exists.
    """
    text = _clean_text(text, what="note")
    await record(session, incident_id=incident_id, kind=Kind.NOTE, source=source, actor=actor, now=now, text=text)
    return incident_id


async def post_update(
    *, session: AsyncSession, incident_id: int, text: str, actor: Actor, source: Source, now: datetime,
) -> IncidentView:
    """Publish a status update: it shows on the living card as the last update."""
    text = _clean_text(text, what="update")
    view = await load_view(session, incident_id, lock=True)
    if not lifecycle.is_open(view.incident.status):
        raise InvalidTransition(f"{incident_ref(view.id)} is resolved; use `note` to add to its record.")
    view.incident.last_update_text = text
    view.incident.last_update_at = now
    view.incident.updated_at = now
    await record(session, incident_id=view.id, kind=Kind.UPDATE, source=source, actor=actor, now=now, text=text)
    await announcements.changed(session, incident_id=view.id, what="status update", now=now)
    return view


async def add_message(
    *, session: AsyncSession, incident_id: int, text: str, author: str, link: str | None, actor: Actor,
    source: Source, now: datetime, tenant_id: str | None = None,
) -> int:
    """Put a Teams message on an open incident's timeline: what it said, who wrote it, a link to it.

    Only open incidents: the form offers only those, so a resolved one means the form is stale
    and the person should see that rather than have the message land on a closed record.
    A message longer than a timeline entry is shortened, never refused: it cannot be edited
    from here, and the link leads to the whole of it.
    """
    view = await load_view(session, incident_id)
    ref = incident_ref(view.id)
    authz.require_same_organisation(view, actor, tenant_id=tenant_id, action="add to the timeline of")
    if not lifecycle.is_open(view.incident.status):
        raise InvalidTransition(
            f"{ref} was resolved, so its timeline takes no more messages here; "
            f"`reopen {ref}` first, or add to its record with `note {ref} TEXT`."
        )
    text = text.strip()
    if not text:
        raise ValidationFailed("That message has no text to add.")
    if len(text) > MAX_TEXT:
        text = text[: MAX_TEXT - 1].rstrip() + "…"
    await record(session, incident_id=view.id, kind=Kind.MESSAGE, source=source, actor=actor, now=now,
                 text=text, old=(author.strip() or "someone"), new=(link or None))
    return view.id
