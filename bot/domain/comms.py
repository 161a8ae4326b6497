"""The communication plan applied to one incident: who must be told, by whom, by when, and what.

The plan's audiences (`communications.audiences`) say which severities (and optionally which
service tiers) they are told about, where, who sends it and within how long of declaration.
This module picks the audiences for an incident, fills each template from the incident (pure
functions, so the text is the same in the card, the command and the record), and records on
the timeline what was sent: the text, the audience, where, who and when. Sending again (an
update) is recorded again; the latest send is what the card shows.
"""
from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.formatting import format_time, incident_ref
from bot.domain.lifecycle import Status
from bot.domain.model import ROLE_LABELS, Actor, IncidentView, Role, Source
from bot.domain.timeline import Kind, record
from bot.domain.update_rhythm import next_update_due
from bot.errors import NotFound, ValidationFailed
from bot.plan import Plan
from bot.plan_duties import TEMPLATE_FIELDS, Audience
from storage import queries
from storage.models import Incident, IncidentRole, TimelineEvent

MAX_SENT_TEXT = 4000
MAX_NOTE = 300
# What an audience reads as the status: "acknowledged" is Firebreak's word for someone being on it.
_STATUS_WORDS = {Status.ACKNOWLEDGED.value: "investigating"}


def template_fields(incident: Incident, plan: Plan, roles: dict[str, IncidentRole]) -> dict[str, str]:
    """The values of every `TEMPLATE_FIELDS` placeholder for this incident. Times are in UTC:
    the text goes to people outside the incident, whose zone the viewer does not know."""
    severity = _known(plan.severity, incident.severity)
    service = "not yet known"
    if incident.service_id:
        known = _known(plan.service, incident.service_id)
        service = known.name if known else incident.service_id  # removed from the plan since
    manager = roles.get(Role.INCIDENT_MANAGER.value)
    if incident.status == Status.RESOLVED.value or severity is None or severity.update_every is None:
        next_update = "when there is news"
    else:
        next_update = format_time(next_update_due(incident, severity.update_every))
    fields = {
        "incident": incident_ref(incident.id),  # type: ignore[arg-type]
        "title": incident.title,
        "severity": incident.severity.upper(),
        "severity_name": severity.name if severity else incident.severity.upper(),
        "status": _STATUS_WORDS.get(incident.status, incident.status),
        "service": service,
        "declared": format_time(incident.declared_at),
        "manager": manager.display_name if manager and manager.display_name else "not yet assigned",
        "next_update": next_update,
    }
    assert fields.keys() == TEMPLATE_FIELDS.keys()
    return fields


def fill(template: str, fields: dict[str, str]) -> str:
    """The template with each {placeholder} replaced. Values are inserted as they are, never
    parsed again (a title with braces stays a title), and format specs are ignored."""
    out: list[str] = []
    for literal, name, _spec, _conversion in string.Formatter().parse(template):
        out.append(literal)
        if name is not None:
            out.append(fields.get(name, "{" + name + "}"))
    return "".join(out)


def service_tier(plan: Plan, incident: Incident) -> str | None:
    """The tier id of the incident's service, or None (no service yet, or one without a tier)."""
    if not incident.service_id:
        return None
    service = _known(plan.service, incident.service_id)
    return service.tier if service else None


def _known(lookup, key: str):
    """The plan's item by id, or None when a reloaded plan no longer has it."""
    try:
        return lookup(key)
    except NotFound:
        return None


def applies(audience: Audience, *, severity: str, tier: str | None, service_known: bool) -> bool:
    """Told for this severity; and, when the audience names tiers, for this service's tier. With
    no service yet the tier is unknown, and the audience is shown (better told than forgotten)."""
    if severity not in audience.severities:
        return False
    return not audience.tiers or not service_known or tier in audience.tiers


def audiences_for(plan: Plan, incident: Incident) -> list[Audience]:
    """The plan's audiences that must be told about this incident, in plan order."""
    tier = service_tier(plan, incident)
    return [a for a in plan.communications.audiences
            if applies(a, severity=incident.severity, tier=tier, service_known=bool(incident.service_id))]


def severities_with_audiences(plan: Plan) -> list[str]:
    """Severity ids that some audience is told about, in plan order."""
    told = {s for a in plan.communications.audiences for s in a.severities}
    return [s for s in plan.severity_ids() if s in told]


def sender_text(plan: Plan, view: IncidentView, sender: str) -> str:
    """Who sends it now: the role's holder, the group's members, or that nobody holds the role."""
    if sender in {r.value for r in Role}:
        role = Role(sender)
        holder = view.holder(role)
        title = plan.role(sender).title
        if holder is not None:
            return f"{holder.display_name} ({title})"
        return f"nobody yet: take the {ROLE_LABELS[role].lower()} role ({title})"
    try:
        group = plan.group(sender)
    except NotFound:
        return sender
    names = [p.name if (p := plan.person(e)) else e for e in group.members]
    return f"{group.name}: {', '.join(names)}" if names else group.name


@dataclass(frozen=True)
class Sent:
    """The latest send to an audience, from the timeline."""

    at: datetime
    by: str
    note: str | None


@dataclass(frozen=True)
class AudienceDue:
    """One audience as the comms card shows it."""

    audience: Audience
    sender: str
    due: datetime
    overdue: bool
    """Due and not sent yet."""
    text: str
    """The template filled from the incident."""
    sent: Sent | None
    tier_unknown: bool
    """The audience names tiers and the incident's service (so its tier) is not known yet."""


def comms_plan(plan: Plan, view: IncidentView, *, now: datetime, sent: dict[str, Sent]) -> list[AudienceDue]:
    """Every audience to tell about this incident, with its sender, due time, text and last send."""
    incident = view.incident
    fields = template_fields(incident, plan, view.roles)
    due_list = []
    for audience in audiences_for(plan, incident):
        due = incident.declared_at + audience.within
        last = sent.get(audience.id)
        due_list.append(AudienceDue(
            audience=audience, sender=sender_text(plan, view, audience.sender), due=due,
            overdue=last is None and now > due, text=fill(audience.template, fields), sent=last,
            tier_unknown=bool(audience.tiers) and not incident.service_id))
    return due_list


def none_apply_text(plan: Plan, incident: Incident) -> str:
    """Why nobody is listed: the plan has no audiences, or none for this severity/tier."""
    severities = severities_with_audiences(plan)
    if not severities:
        return "The response plan has no communication plan yet (`communications.audiences`), so nobody is listed."
    tier = service_tier(plan, incident)
    on = f" on a {tier}-tier service" if tier else ""
    listed = ", ".join(s.upper() for s in severities)
    return (f"Nobody must be told about a {incident.severity.upper()} incident{on} under the plan. "
            f"The communication plan has audiences for: {listed}.")


async def last_sent(session: AsyncSession, incident_id: int) -> dict[str, Sent]:
    """The latest send to each audience of this incident, by audience id."""
    stmt = (select(TimelineEvent).where(TimelineEvent.incident_id == incident_id,
                                        TimelineEvent.kind == Kind.COMMS_SENT)
            .order_by(TimelineEvent.id))
    found: dict[str, Sent] = {}
    for event in (await session.execute(stmt)).scalars():
        if event.new_value:
            found[event.new_value] = Sent(at=_aware(event.at), by=event.actor_name or "someone", note=event.old_value)
    return found


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def find_audience(plan: Plan, incident: Incident, audience_id: str) -> Audience:
    """The audience by id among those for this incident; ValidationFailed lists the valid ids."""
    wanted = audience_id.strip().lower()
    applicable = audiences_for(plan, incident)
    for audience in applicable:
        if audience.id == wanted:
            return audience
    ref = incident_ref(incident.id)  # type: ignore[arg-type]
    valid = ", ".join(a.id for a in applicable)
    if not valid:
        raise ValidationFailed(f"Nobody must be told about {ref} under the plan, so there is nothing to mark as sent.")
    known = any(a.id == wanted for a in plan.communications.audiences)
    why = "is not told about this incident" if known else "is not an audience in the communication plan"
    raise ValidationFailed(f"`{audience_id}` {why}. For {ref} say `comms sent AUDIENCE [note]` with one of: {valid}.")


async def mark_sent(session: AsyncSession, *, plan: Plan, incident_id: int, audience_id: str, actor: Actor,
                    source: Source, now: datetime, text: str | None = None, note: str | None = None) -> Audience:
    """Record that the message to an audience went out (again, for an update): the text sent
    (the filled template unless the sender edited it), the audience, where, who and when."""
    view_incident = await queries.get_incident(session, incident_id)
    if view_incident is None:
        raise NotFound(f"There is no {incident_ref(incident_id)}.")
    audience = find_audience(plan, view_incident, audience_id)
    if not (text or "").strip():
        roles = await queries.roles_of(session, incident_id)
        text = fill(audience.template, template_fields(view_incident, plan, roles))
    note = " ".join((note or "").split())[:MAX_NOTE] or None
    await record(session, incident_id=incident_id, kind=Kind.COMMS_SENT, source=source, actor=actor, now=now,
                 new=audience.id, old=note, text=f"{audience.name} ({audience.where}): {text.strip()[:MAX_SENT_TEXT]}")
    return audience


__all__ = ["AudienceDue", "Sent", "applies", "audiences_for", "comms_plan", "fill", "find_audience", "last_sent",
           "mark_sent", "none_apply_text", "sender_text", "template_fields"]
