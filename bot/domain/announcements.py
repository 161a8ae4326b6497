"""Automatic announcements: one compact message per incident in the announcements channel,
refreshed as the incident changes.

A change enqueues an announcement in the same transaction as the change itself (the outbox),
so a crash can never lose one. The message is rendered when it is delivered, from the state at
that moment, so a burst of changes shows the latest state and never a stale one.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.formatting import incident_ref
from bot.domain.model import SYSTEM_ACTOR, Source
from bot.domain.timeline import Kind, record
from bot.plan import Plan
from storage import bindings, outbox, queries
from storage.models import Incident, Announcement

RENDER = "announcement"
BUNDLE = "announcements"
ROLE_BRIEF = "role_brief"
PERSONAL_PREFIX = "user:"


async def changed(session: AsyncSession, *, incident_id: int, what: str, now: datetime) -> None:
    """Queue a refresh of the incident's announcement (nothing if no channel is set up, or for
    a need-to-know incident: a security event is told only to the groups its route names)."""
    channel = await bindings.get_binding(session, "announcements")
    if channel is None:
        return
    incident = await session.get(Incident, incident_id)  # usually already in the session
    if incident is not None and incident.need_to_know:
        return
    await outbox.enqueue(
        session,
        key=f"announce:{incident_id}:{now.isoformat()}:{what}",
        conversation_id=channel.channel_id,
        payload={"render": RENDER, "incident_id": incident_id, "summary": f"{incident_ref(incident_id)} {what}"},
        now=now,
        bundle=BUNDLE,
        incident_id=incident_id,
    )


async def posted(session: AsyncSession, incident_id: int) -> Announcement | None:
    """The incident's announcement message, once it has been posted."""
    return await session.get(Announcement, incident_id)


async def remember_posted(
    session: AsyncSession, *, incident_id: int, conversation_id: str, activity_id: str, channel_name: str,
    now: datetime,
) -> None:
    """Keep the announcement's message id (later changes update it) and put it on the timeline."""
    if await session.get(Announcement, incident_id) is None:
        session.add(Announcement(incident_id=incident_id, conversation_id=conversation_id,
                                 activity_id=activity_id, posted_at=now))
        await record(session, incident_id=incident_id, kind=Kind.ANNOUNCED, source=Source.SYSTEM,
                     actor=SYSTEM_ACTOR, now=now, text=f"announced in #{channel_name or 'the announcements channel'}")


async def mentions(session: AsyncSession, *, plan: Plan, severity: str) -> list[tuple[str, str]]:
    """(AAD id, name) of the people the plan wants @mentioned for this severity, if known in Teams."""
    if severity not in plan.severity_ids():
        return []
    emails: list[str] = []
    for group_id in plan.severity(severity).announce_mentions:
        emails.extend(plan.members_of(group_id))
    known = await queries.aad_ids_by_email(session, sorted(set(emails)))
    names = {p.email.lower(): p.name for p in plan.people}
    return [(known[e], names.get(e, e)) for e in sorted(known)]


async def digest_mentions(session: AsyncSession, *, plan: Plan, incident_ids: list[int]) -> list[tuple[str, str]]:
    """Everyone any of these incidents would have @mentioned on its own: a burst folded into a
    digest must not quietly drop the sev1 mentions."""
    found: dict[str, str] = {}
    for incident_id in dict.fromkeys(incident_ids):
        incident = await queries.get_incident(session, incident_id)
        if incident is not None:
            for aad, name in await mentions(session, plan=plan, severity=incident.severity):
                found.setdefault(aad, name)
    return list(found.items())


async def brief_assignee(
    session: AsyncSession, *, incident_id: int, role: str, role_title: str, assignee_aad: str, now: datetime
) -> None:
    """Queue a 1:1 message to someone given a role by another: the card and the role's duties."""
    await outbox.enqueue(
        session,
        key=f"brief:{incident_id}:{role}:{assignee_aad}:{now.isoformat()}",
        conversation_id=f"{PERSONAL_PREFIX}{assignee_aad}",
        payload={"render": ROLE_BRIEF, "incident_id": incident_id, "role": role, "user_aad": assignee_aad,
                 "summary": f"You are now {role_title.lower()} of {incident_ref(incident_id)}"},
        now=now,
        incident_id=incident_id,
    )


async def channel_name(session: AsyncSession) -> str:
    channel = await bindings.get_binding(session, "announcements")
    return channel.channel_name if channel else ""
