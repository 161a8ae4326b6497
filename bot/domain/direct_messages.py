"""1:1 messages from the bot to a person, through the outbox.

Used for gap warnings, handoff digests, cover requests and alert notices. The Teams sender
(`bot/teams/outbound.py`) delivers them in the person's chat with the bot, creating it the
first time through the incidents channel (`via`), which every responder shares with the bot.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from storage import outbox, queries
from storage.bindings import get_binding

DIRECT_RENDER = "direct"  # a 1:1 message to someone by AAD id


async def send_direct(session: AsyncSession, *, key: str, email: str, text: str, summary: str, now: datetime,
                      bundle: str | None = None, incident_id: int | None = None) -> bool:
    """Queue a 1:1 message to the person with this e-mail, once per `key`; False if it cannot
    go (never seen in Teams, so no AAD id) or went before."""
    aad = (await queries.aad_ids_by_email(session, [email])).get(email.lower())
    if aad is None or not await queries.claim_key(session, key, now=now):
        return False
    channel = await get_binding(session, "incidents")
    await outbox.enqueue(session, key=key, conversation_id=f"user:{aad}", now=now, bundle=bundle,
                         incident_id=incident_id,
                         payload={"render": DIRECT_RENDER, "user_aad": aad, "text": text, "summary": summary,
                                  "via": channel.channel_id if channel else None})
    return True
