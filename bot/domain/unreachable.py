"""When the person a message is for cannot be reached in Teams, and where it goes instead.

A 1:1 message needs the person's AAD id, which Firebreak learns only once they have used it in
Teams. `send_direct` answers False both when that id is missing and when the message went
before; for a legal deadline or a security event those two must not be confused: one is
nothing to do, the other means someone must be told another way. `tell_directly` keeps them
apart, and `post_in_incident_space` / `post_in_incidents_channel` put a notice where other
people will see it (through the outbox, once per key).
"""
from __future__ import annotations

from datetime import datetime
from enum import Enum

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.direct_messages import send_direct
from storage import bindings, outbox, queries


class Delivery(Enum):
    SENT = "sent"
    ALREADY_SENT = "already sent"
    UNREACHABLE = "unreachable"


async def tell_directly(session: AsyncSession, *, key: str, email: str, text: str, summary: str, now: datetime,
                        incident_id: int | None = None) -> Delivery:
    """Queue a 1:1 message once per `key`, saying whether it went now, went before, or cannot go."""
    if email.lower() not in await queries.aad_ids_by_email(session, [email]):
        return Delivery.UNREACHABLE
    sent = await send_direct(session, key=key, email=email, text=text, summary=summary, now=now,
                             incident_id=incident_id)
    return Delivery.SENT if sent else Delivery.ALREADY_SENT


INCIDENT_SPACE = "the incident's space"
INCIDENTS_CHANNEL = "the incidents channel"


async def post_in_incident_space(session: AsyncSession, *, incident_id: int, key: str, text: str, summary: str,
                                 now: datetime) -> str | None:
    """Post in the incident's own chat or thread, where its responders are; failing that (it has
    none) in the incidents channel, unless the incident is need-to-know. Where it went, or None."""
    incident = await queries.get_incident(session, incident_id)
    if incident is None:
        return None
    if incident.home_conversation_id:
        await outbox.enqueue(session, key=key, conversation_id=incident.home_conversation_id, now=now,
                             incident_id=incident_id, payload={"text": text, "summary": summary})
        return INCIDENT_SPACE
    if incident.need_to_know:
        return None
    return await post_in_incidents_channel(session, key=key, text=text, summary=summary, now=now,
                                           incident_id=incident_id)


async def post_in_incidents_channel(session: AsyncSession, *, key: str, text: str, summary: str, now: datetime,
                                    incident_id: int | None = None) -> str | None:
    """Post in the channel bound by `setup incidents`; None when none is set up."""
    channel = await bindings.get_binding(session, "incidents")
    if channel is None:
        return None
    await outbox.enqueue(session, key=key, conversation_id=channel.channel_id, now=now, incident_id=incident_id,
                         payload={"text": text, "summary": summary})
    return INCIDENTS_CHANNEL
