"""Reads and small writes over the tables. Plain SQLAlchemy; portable across SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Sequence

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.inserts import insert_ignoring_duplicates
from storage.models import (
    ConversationRef,
    Incident,
    IncidentRole,
    Person,
    PostedCard,
    ProcessedKey,
    TimelineEvent,
)

OPEN = ("declared", "acknowledged", "mitigated")


async def get_incident(session: AsyncSession, incident_id: int, *, lock: bool = False) -> Incident | None:
    """One incident by number; `lock` takes a row lock where the database has them."""
    stmt = select(Incident).where(Incident.id == incident_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def incident_exists(session: AsyncSession, incident_id: int) -> bool:
    return (await session.execute(select(Incident.id).where(Incident.id == incident_id))).first() is not None


async def incident_statuses_homed_in(session: AsyncSession, conversation_ids: list[str]) -> list[tuple[int, str]]:
    """(number, status) of the incidents living in these conversations, newest first."""
    stmt = (
        select(Incident.id, Incident.status)
        .where(Incident.home_conversation_id.in_(conversation_ids))
        .order_by(Incident.id.desc())
        .limit(50)
    )
    return [(row[0], row[1]) for row in (await session.execute(stmt)).all()]


async def open_incidents(session: AsyncSession, *, limit: int = 50) -> Sequence[Incident]:
    """Open incidents, most severe first would need the plan; newest first here."""
    stmt = select(Incident).where(Incident.status.in_(OPEN)).order_by(Incident.id.desc()).limit(limit)
    return (await session.execute(stmt)).scalars().all()


async def updates_overdue(session: AsyncSession, cutoffs: dict[str, datetime]) -> list[tuple[int, str, datetime]]:
    """(number, severity, last update or declaration) of the open incidents with a home
    conversation whose last update is at or before the cutoff given for their severity.
    Plain rows from one query, so the tick can ask every second however many are open."""
    if not cutoffs:
        return []
    last = func.coalesce(Incident.last_update_at, Incident.declared_at)
    stmt = (
        select(Incident.id, Incident.severity, last)
        .where(Incident.status.in_(OPEN), Incident.home_conversation_id.is_not(None),
               or_(*(and_(Incident.severity == severity, last <= cutoff) for severity, cutoff in cutoffs.items())))
        .order_by(Incident.id)
    )
    return [(row[0], row[1], row[2]) for row in (await session.execute(stmt)).all()]


async def count_open(session: AsyncSession) -> int:
    stmt = select(func.count()).select_from(Incident).where(Incident.status.in_(OPEN))
    return int((await session.execute(stmt)).scalar_one())


async def incident_homes(session: AsyncSession, incident_ids: Sequence[int]) -> dict[int, tuple[str, str | None]]:
    """Number -> (status, home conversation) of these incidents, in one query."""
    if not incident_ids:
        return {}
    stmt = select(Incident.id, Incident.status, Incident.home_conversation_id).where(Incident.id.in_(list(incident_ids)))
    return {row[0]: (row[1], row[2]) for row in (await session.execute(stmt)).all()}


async def role_emails(session: AsyncSession, incident_ids: Sequence[int], role: str) -> dict[int, str]:
    """Number -> e-mail of the holder of `role` (where it has one), for these incidents at once."""
    if not incident_ids:
        return {}
    stmt = select(IncidentRole.incident_id, IncidentRole.email).where(
        IncidentRole.incident_id.in_(list(incident_ids)), IncidentRole.role == role)
    return {row[0]: row[1] for row in (await session.execute(stmt)).all() if row[1]}


async def roles_of(session: AsyncSession, incident_id: int) -> dict[str, IncidentRole]:
    """Role key -> current holder."""
    stmt = select(IncidentRole).where(IncidentRole.incident_id == incident_id)
    return {r.role: r for r in (await session.execute(stmt)).scalars().all()}


async def timeline_page(
    session: AsyncSession, incident_id: int, *, offset: int, limit: int
) -> tuple[Sequence[TimelineEvent], int]:
    """A page of timeline events in order, and the total count."""
    total = (
        await session.execute(
            select(func.count()).select_from(TimelineEvent).where(TimelineEvent.incident_id == incident_id)
        )
    ).scalar_one()
    stmt = (
        select(TimelineEvent)
        .where(TimelineEvent.incident_id == incident_id)
        .order_by(TimelineEvent.id)
        .offset(offset)
        .limit(limit)
    )
    return (await session.execute(stmt)).scalars().all(), int(total)


async def timeline_events(session: AsyncSession, incident_id: int) -> Sequence[TimelineEvent]:
    stmt = select(TimelineEvent).where(TimelineEvent.incident_id == incident_id).order_by(TimelineEvent.id)
    return (await session.execute(stmt)).scalars().all()




async def key_claimed(session: AsyncSession, key: str) -> bool:
    """Whether `key` was claimed before (a read: no write lock)."""
    return (await session.execute(select(ProcessedKey.key).where(ProcessedKey.key == key))).first() is not None


async def claimed_keys(session: AsyncSession, keys: Sequence[str]) -> set[str]:
    """Which of `keys` were claimed before (a read: no write lock)."""
    if not keys:
        return set()
    return set((await session.execute(select(ProcessedKey.key).where(ProcessedKey.key.in_(list(keys))))).scalars())


async def claim_key(session: AsyncSession, key: str, *, now: datetime, window: timedelta | None = None) -> bool:
    """Record `key` as processed; False when it already was (within `window`, if given).

    The primary key settles races: two turns claiming the same key cannot both succeed.
    With a window, an old claim is renewed by compare-and-set on its timestamp.
    """
    stmt = insert_ignoring_duplicates(session, ProcessedKey.__table__).values(key=key, seen_at=now)
    if (await session.execute(stmt)).rowcount == 1:
        return True
    if window is None:
        return False
    seen_at = (await session.execute(select(ProcessedKey.seen_at).where(ProcessedKey.key == key))).scalar_one()
    if now - seen_at < window:
        return False
    result = await session.execute(
        update(ProcessedKey)
        .where(ProcessedKey.key == key, ProcessedKey.seen_at == seen_at)
        .values(seen_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def posted_cards(session: AsyncSession, incident_id: int) -> Sequence[PostedCard]:
    stmt = select(PostedCard).where(PostedCard.incident_id == incident_id).order_by(PostedCard.id)
    return (await session.execute(stmt)).scalars().all()


async def save_posted_card(
    session: AsyncSession, *, incident_id: int, conversation_id: str, activity_id: str, purpose: str, now: datetime
) -> None:
    """Remember (or move) the card posted for `purpose` in a conversation."""
    stmt = select(PostedCard).where(
        PostedCard.incident_id == incident_id,
        PostedCard.conversation_id == conversation_id,
        PostedCard.purpose == purpose,
    )
    existing = (await session.execute(stmt)).scalar_one_or_none()
    if existing:
        existing.activity_id = activity_id
        existing.posted_at = now
    else:
        session.add(
            PostedCard(
                incident_id=incident_id,
                conversation_id=conversation_id,
                activity_id=activity_id,
                purpose=purpose,
                posted_at=now,
            )
        )


async def get_conversation_ref(session: AsyncSession, conversation_id: str) -> ConversationRef | None:
    return await session.get(ConversationRef, conversation_id)


async def upsert_conversation_ref(
    session: AsyncSession,
    *,
    conversation_id: str,
    tenant_id: str | None,
    service_url: str,
    conversation_type: str | None,
    reference_json: str,
    now: datetime,
) -> None:
    """Store the latest reference for a conversation (Teams may move its serviceUrl)."""
    row = await session.get(ConversationRef, conversation_id)
    if row is None:
        session.add(
            ConversationRef(
                conversation_id=conversation_id,
                tenant_id=tenant_id,
                service_url=service_url,
                conversation_type=conversation_type,
                reference_json=reference_json,
                updated_at=now,
            )
        )
        return
    if row.reference_json != reference_json or row.service_url != service_url:
        row.tenant_id = tenant_id
        row.service_url = service_url
        row.conversation_type = conversation_type
        row.reference_json = reference_json
        row.updated_at = now


async def get_person(session: AsyncSession, aad_object_id: str) -> Person | None:
    return await session.get(Person, aad_object_id)


async def upsert_person(
    session: AsyncSession, *, aad_object_id: str, display_name: str, email: str | None, now: datetime
) -> None:
    """Remember who an AAD object id is (name and UPN), for plan lookups by e-mail."""
    row = await session.get(Person, aad_object_id)
    if row is None:
        session.add(Person(aad_object_id=aad_object_id, display_name=display_name, email=email, updated_at=now))
        return
    row.display_name = display_name or row.display_name
    row.email = email or row.email
    row.updated_at = now


async def person_emails(session: AsyncSession) -> set[str]:
    rows = (await session.execute(select(Person.email).where(Person.email.is_not(None)))).scalars().all()
    return {r.lower() for r in rows}


async def actors_of(session: AsyncSession, incident_id: int, *, except_kinds: tuple[str, ...] = ()) -> set[str]:
    """AAD ids of everyone who did something recorded on an incident's timeline."""
    stmt = select(TimelineEvent.actor_aad).where(TimelineEvent.incident_id == incident_id).distinct()
    if except_kinds:
        stmt = stmt.where(TimelineEvent.kind.not_in(except_kinds))
    return {aad for aad in (await session.execute(stmt)).scalars().all() if aad}


async def aad_ids_by_email(session: AsyncSession, emails: list[str]) -> dict[str, str]:
    """e-mail (lowercase) -> AAD id, for the people Firebreak has seen."""
    if not emails:
        return {}
    stmt = select(Person.email, Person.aad_object_id).where(Person.email.in_([e.lower() for e in emails]))
    return {email.lower(): aad for email, aad in (await session.execute(stmt)).all() if email}


async def recent_texts(session: AsyncSession, incident_id: int, *, kind: str, limit: int) -> list[str]:
    """The texts of the latest events of one kind, newest first."""
    stmt = (
        select(TimelineEvent.text)
        .where(TimelineEvent.incident_id == incident_id, TimelineEvent.kind == kind)
        .order_by(TimelineEvent.id.desc())
        .limit(limit)
    )
    return [t for t in (await session.execute(stmt)).scalars().all() if t]
