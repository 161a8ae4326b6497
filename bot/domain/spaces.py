"""Where an incident lives: the chat it was declared in, a thread in the incidents channel, or
a channel of its own.

The plan chooses per severity (`severities[].space`). A dedicated channel needs Microsoft Graph;
whenever that cannot be had, the incident gets a thread instead. It is never left without a
space, and the fallback and its reason are recorded.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import announcements
from bot.domain.formatting import incident_ref
from bot.domain.model import SYSTEM_ACTOR, Actor, Role, Source
from bot.domain.timeline import Kind, record
from bot.errors import NotFound
from bot.plan import Plan
from storage import bindings, outbox, queries

THREAD_SEPARATOR = ";messageid="


@dataclass(frozen=True)
class SpaceDecision:
    """What kind of space to open, and why it is not the one the plan asked for (if so)."""

    kind: str  # "chat" | "thread" | "channel"
    fallback_reason: str | None = None


def decide_space(*, wanted: str, incidents_channel_bound: bool, graph_ready: bool) -> SpaceDecision:
    """The space for a new incident, from the plan's wish and what is set up."""
    if not incidents_channel_bound:
        return SpaceDecision("chat")
    if wanted == "channel" and not graph_ready:
        return SpaceDecision("thread", "Microsoft Graph is not configured, so it got a thread in the incidents channel")
    return SpaceDecision(wanted if wanted in ("thread", "channel") else "thread")


def thread_conversation_id(channel_id: str, root_activity_id: str) -> str:
    """The conversation id Teams gives replies in a channel thread."""
    return f"{channel_id}{THREAD_SEPARATOR}{root_activity_id}"


def home_candidates(conversation_id: str) -> list[str]:
    """Conversation ids an incident living here could be homed under: the thread itself, or
    (for an incident with a channel of its own) the channel the thread is in."""
    channel = conversation_id.split(THREAD_SEPARATOR, 1)[0]
    return [conversation_id] if channel == conversation_id else [conversation_id, channel]


async def move_home(
    session: AsyncSession, *, incident_id: int, conversation_id: str, kind: str, url: str | None, note: str,
    actor: Actor, now: datetime,
) -> None:
    """Make `conversation_id` the incident's space and record where, and why, it went."""
    incident = await queries.get_incident(session, incident_id, lock=True)
    if incident is None:
        raise NotFound(f"There is no {incident_ref(incident_id)}.")
    old = incident.home_conversation_id
    incident.home_conversation_id = conversation_id
    incident.space_kind = kind
    incident.space_url = url
    await record(session, incident_id=incident_id, kind=Kind.SPACE, source=Source.SYSTEM, actor=actor, now=now,
                 old=old, new=kind, text=note)
    if url:  # the announcement links to the space: refresh it in case it went out before the space existed
        await announcements.changed(session, incident_id=incident_id, what="space opened", now=now)


async def warn_channel_cap(session: AsyncSession, *, plan: Plan, incident_id: int, warning: str, now: datetime) -> None:
    """Warn the admins (the plan owner and the incident manager's acting groups, @mentioned) in
    the incidents channel that the incidents team nears Teams' channel cap: at most once a day,
    so a busy day does not bury the channel in warnings. The incident's timeline notes it."""
    channel = await bindings.get_binding(session, "incidents")
    await record(session, incident_id=incident_id, kind=Kind.SPACE_WARNING, source=Source.SYSTEM,
                 actor=SYSTEM_ACTOR, now=now, text=warning)
    if channel is None:
        return
    emails = {plan.plan.owner.lower()}
    for group_id in plan.role(Role.INCIDENT_MANAGER.value).acting_groups:
        emails |= plan.members_of(group_id)
    known = await queries.aad_ids_by_email(session, sorted(emails))
    names = {p.email.lower(): p.name for p in plan.people}
    await outbox.enqueue(
        session, key=f"channel-cap:{channel.team_id}:{now.date().isoformat()}", conversation_id=channel.channel_id,
        payload={"text": f"Heads-up for the admins: {warning}",
                 "mentions": [[known[e], names.get(e, e)] for e in sorted(known)]},
        now=now, incident_id=incident_id,
    )


OPEN_SPACE_RENDER = "open_space"  # the Teams sender opens the space (bot/teams/outbound.py)


async def request_space(session: AsyncSession, *, incident_id: int, now: datetime) -> None:
    """Queue opening the space of an incident declared outside Teams (by an alert): no turn is
    there to open it, so the outbox does, as soon as the declare has committed."""
    ref = incident_ref(incident_id)
    await outbox.enqueue(session, key=f"open-space:{incident_id}", conversation_id=f"space:{incident_id}",
                         payload={"render": OPEN_SPACE_RENDER, "incident_id": incident_id,
                                  "summary": f"Open the space of {ref}"}, now=now, incident_id=incident_id)


async def no_space(session: AsyncSession, *, incident_id: int, reason: str, now: datetime) -> None:
    """Record that an incident declared outside Teams got no space, and why (its announcement
    and pages still go out; a responder can move it with `declare` in a chat later)."""
    await record(session, incident_id=incident_id, kind=Kind.SPACE_WARNING, source=Source.SYSTEM, actor=SYSTEM_ACTOR,
                 now=now, text=f"no space was opened: {reason}")
