"""Where the bot can speak: stored conversation references, posted cards, and known people.

Kept as opaque JSON so the domain stays free of Teams types; `bot/teams` turns them back into
ConversationReference objects.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.formatting import incident_ref
from storage import outbox, queries

CARD_RENDER = "living_card"


@dataclass(frozen=True)
class CardLocation:
    """A posted card: the conversation it is in, its activity id and the stored reference."""

    conversation_id: str
    activity_id: str
    reference_json: str | None
    service_url: str | None


async def remember_conversation(
    session: AsyncSession, *, conversation_id: str, tenant_id: str | None, service_url: str,
    conversation_type: str | None, reference_json: str, now: datetime,
) -> None:
    """Keep the latest reference to a conversation so later cards and updates can reach it."""
    await queries.upsert_conversation_ref(
        session, conversation_id=conversation_id, tenant_id=tenant_id, service_url=service_url,
        conversation_type=conversation_type, reference_json=reference_json, now=now,
    )


async def remember_card(
    session: AsyncSession, *, incident_id: int, conversation_id: str, activity_id: str, now: datetime,
    purpose: str = "living",
) -> None:
    """Record a posted card so every later change can update it in place."""
    await queries.save_posted_card(
        session, incident_id=incident_id, conversation_id=conversation_id, activity_id=activity_id,
        purpose=purpose, now=now,
    )


async def card_locations(session: AsyncSession, incident_id: int) -> Sequence[CardLocation]:
    """Every posted card of an incident with the reference needed to reach it."""
    out: list[CardLocation] = []
    for card in await queries.posted_cards(session, incident_id):
        ref = await queries.get_conversation_ref(session, card.conversation_id)
        out.append(CardLocation(
            conversation_id=card.conversation_id,
            activity_id=card.activity_id,
            reference_json=ref.reference_json if ref else None,
            service_url=ref.service_url if ref else None,
        ))
    return out


async def cards_changed(
    session: AsyncSession, *, incident_id: int, now: datetime, except_conversation: str | None = None,
    except_activity: str | None = None,
) -> int:
    """Queue an in-place update of every posted copy of the incident's card, except those the
    current turn updates itself; returns how many were queued.

    Through the outbox so that retries honour Retry-After and the per-conversation rate limit
    holds. The card is rendered when the update goes, so one waiting update per copy is enough:
    a burst of changes never piles up PUTs.
    """
    queued = 0
    for card in await queries.posted_cards(session, incident_id):
        if card.conversation_id == except_conversation or card.activity_id == except_activity:
            continue
        if await outbox.update_pending(session, conversation_id=card.conversation_id,
                                       target_activity_id=card.activity_id):
            continue
        await outbox.enqueue(
            session, key=f"card:{incident_id}:{card.activity_id}:{uuid.uuid4().hex}", kind=outbox.UPDATE,
            conversation_id=card.conversation_id, target_activity_id=card.activity_id, now=now,
            incident_id=incident_id, payload={"render": CARD_RENDER, "incident_id": incident_id,
                                              "summary": f"{incident_ref(incident_id)} card"},
        )
        queued += 1
    return queued


async def known_email(session: AsyncSession, aad_object_id: str) -> tuple[bool, str | None]:
    """(known, e-mail) for a Teams user seen before."""
    person = await queries.get_person(session, aad_object_id)
    return (person is not None, person.email if person else None)


async def remember_person(
    session: AsyncSession, *, aad_object_id: str, display_name: str, email: str | None, now: datetime
) -> None:
    await queries.upsert_person(session, aad_object_id=aad_object_id, display_name=display_name, email=email, now=now)


async def remember_people(session: AsyncSession, *, people: dict[str, tuple[str, str]], now: datetime) -> None:
    """Store many people at once: AAD object id -> (display name, e-mail)."""
    for aad, (name, email) in people.items():
        await queries.upsert_person(session, aad_object_id=aad, display_name=name, email=email.lower(), now=now)


async def known_people_emails(session: AsyncSession) -> set[str]:
    """E-mails of every Teams user Firebreak has seen (for matching the plan's people)."""
    return await queries.person_emails(session)


async def stored_reference(session: AsyncSession, conversation_id: str) -> tuple[str, str] | None:
    """(reference JSON, serviceUrl) of a conversation the bot can post into, if known."""
    ref = await queries.get_conversation_ref(session, conversation_id)
    return (ref.reference_json, ref.service_url) if ref else None
