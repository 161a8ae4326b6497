"""The outbox: every outbound Teams message and card update, as a durable row.

Modelled on GoAlert's outgoing-message table. A domain change enqueues its messages in the
same transaction as the state change, so a committed page is never lost; a worker later claims
due rows, marks them `sending` with a deadline, POSTs outside any transaction and records the
outcome. A row still `sending` after its deadline means the process died between the POST and
the commit: it becomes `unknown` and is never resent, because a duplicate page is worse than a
visible "delivery unknown".

Statuses: pending -> claimed -> sending -> sent | failed | unknown, or back to pending for a
retry. `claimed` is a worker's plan to send soon; it becomes `sending` in its own small
transaction right before the POST, so a crash leaves `sending` (outcome unknown, never resent)
only on rows actually being POSTed, and claimed rows go back to pending to be sent after all;
`bundled` = folded into the digest row named by `digest_id` (delivered there, not dropped);
`cancelled` = no longer needed before it went (a page acknowledged while its e-mail waited).
Plain SQLAlchemy, portable across SQLite and PostgreSQL.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Optional

from sqlalchemy import Column, Index, Text, UniqueConstraint, and_, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime

PENDING = "pending"
CLAIMED = "claimed"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
UNKNOWN = "unknown"
BUNDLED = "bundled"
CANCELLED = "cancelled"
STATUSES = (PENDING, CLAIMED, SENDING, SENT, FAILED, UNKNOWN, BUNDLED, CANCELLED)

SEND = "send"
UPDATE = "update"
KINDS = (SEND, UPDATE)

# A row's outcome may still be recorded after the deadline expired it: the sender does know.
_IN_FLIGHT = (SENDING, UNKNOWN)


def _utc(nullable: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable))


class OutboxMessage(SQLModel, table=True):
    """One outbound message or card update, from enqueue to its final outcome."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        UniqueConstraint("key", name="uq_outbox_message_key"),
        Index("ix_outbox_due", "status", "next_at"),
        Index("ix_outbox_conversation_sent", "conversation_id", "sent_at"),
        Index("ix_outbox_conversation_attempt", "conversation_id", "last_attempt_at"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    key: str = Field(max_length=500)
    conversation_id: str = Field(max_length=400)
    kind: str = Field(max_length=16)
    target_activity_id: Optional[str] = Field(default=None, max_length=200)
    payload_json: str = Field(sa_column=Column(Text, nullable=False))
    bundle: Optional[str] = Field(default=None, max_length=200)
    incident_id: Optional[int] = Field(default=None, index=True)
    status: str = Field(default=PENDING, max_length=16)
    attempts: int = Field(default=0)
    next_at: datetime = _utc()
    sending_deadline: Optional[datetime] = _utc(nullable=True)
    last_attempt_at: Optional[datetime] = _utc(nullable=True)
    last_error: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    remote_activity_id: Optional[str] = Field(default=None, max_length=200)
    digest_id: Optional[int] = Field(default=None, index=True)
    created_at: datetime = _utc()
    sent_at: Optional[datetime] = _utc(nullable=True)

    @property
    def payload(self) -> dict:
        """The activity to send, decoded (storage never interprets it)."""
        return json.loads(self.payload_json)


class ConversationHold(SQLModel, table=True):
    """A conversation Teams asked us to leave alone (429/5xx Retry-After) until `until`.

    Held here rather than only on the rows pending at the time, so a message enqueued during
    the wait waits too, and nothing overtakes the message being retried.
    """

    __tablename__ = "outbox_hold"

    conversation_id: str = Field(primary_key=True, max_length=400)
    until: datetime = _utc()


def _insert_ignoring_duplicates(session: AsyncSession, table):
    """INSERT ... ON CONFLICT DO NOTHING in the session's dialect (as in storage.queries)."""
    if session.bind.dialect.name == "postgresql":
        return pg_insert(table).on_conflict_do_nothing()
    return sqlite_insert(table).on_conflict_do_nothing()


ENQUEUED = "firebreak.outbox_enqueued"


async def enqueue(
    session: AsyncSession,
    *,
    key: str,
    conversation_id: str,
    payload: dict,
    now: datetime,
    kind: str = SEND,
    target_activity_id: str | None = None,
    bundle: str | None = None,
    incident_id: int | None = None,
    not_before: datetime | None = None,
) -> int:
    """Add a message unless `key` was enqueued before; either way return the row's id.

    The unique key settles races: a domain step retried (or run by two replicas) enqueues once.
    """
    if kind not in KINDS:
        raise ValueError(f"outbox kind must be one of {KINDS}, not {kind!r}")
    if kind == UPDATE and not target_activity_id:
        raise ValueError("an outbox 'update' needs the target_activity_id it replaces")
    stmt = _insert_ignoring_duplicates(session, OutboxMessage.__table__).values(
        key=key,
        conversation_id=conversation_id,
        kind=kind,
        target_activity_id=target_activity_id,
        payload_json=json.dumps(payload, separators=(",", ":"), sort_keys=True),
        bundle=bundle,
        incident_id=incident_id,
        status=PENDING,
        attempts=0,
        next_at=not_before or now,
        created_at=now,
    )
    await session.execute(stmt)
    session.info[ENQUEUED] = True  # tells whoever commits this session that there is mail to deliver
    return (await session.execute(select(OutboxMessage.id).where(OutboxMessage.key == key))).scalar_one()


async def claim_due(
    session: AsyncSession, *, now: datetime, limit: int, sending_for: timedelta
) -> list[OutboxMessage]:
    """Claim up to `limit` due pending rows, oldest first, until now + sending_for at most.

    On PostgreSQL `FOR UPDATE SKIP LOCKED` lets two replicas claim side by side without ever
    taking the same row; SQLite renders no lock clause and relies on the writer's
    `BEGIN IMMEDIATE`, which already makes the claim exclusive. A claim is only a plan: each
    row is started (`start_sending`) right before its POST.
    """
    held = select(ConversationHold.conversation_id).where(ConversationHold.until > now)
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.status == PENDING, OutboxMessage.next_at <= now,
               OutboxMessage.conversation_id.not_in(held))
        .order_by(OutboxMessage.next_at, OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=OutboxMessage)
    )
    rows = list((await session.execute(stmt)).scalars().all())
    deadline = now + sending_for
    for row in rows:
        row.status = CLAIMED
        row.sending_deadline = deadline
    await session.flush()
    return rows


async def start_sending(session: AsyncSession, *, message: OutboxMessage, now: datetime, sending_for: timedelta) -> bool:
    """Mark a claimed row `sending` (one more attempt) just before its POST; False if it is no
    longer this worker's to send (its claim lapsed and someone else took it)."""
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message.id, OutboxMessage.status == CLAIMED,
               OutboxMessage.attempts == message.attempts)
        .values(status=SENDING, attempts=message.attempts + 1, last_attempt_at=now,
                sending_deadline=now + sending_for)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    message.attempts += 1
    message.status = SENDING
    return True


async def count_unstarted_attempt(session: AsyncSession, *, message: OutboxMessage, now: datetime) -> bool:
    """Count an attempt that ended before the row was marked `sending` (the sender failed while
    preparing, e.g. creating a 1:1 chat), so retries still give up after MAX_ATTEMPTS."""
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message.id, OutboxMessage.status == CLAIMED,
               OutboxMessage.attempts == message.attempts)
        .values(attempts=message.attempts + 1, last_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    message.attempts += 1
    return True


async def release_claims(session: AsyncSession) -> int:
    """Hand every claimed row back to pending (at start-up: a crashed worker's plans, never sent)."""
    result = await session.execute(
        update(OutboxMessage).where(OutboxMessage.status == CLAIMED)
        .values(status=PENDING, sending_deadline=None).execution_options(synchronize_session=False))
    return result.rowcount


async def reschedule(session: AsyncSession, *, messages: Sequence[OutboxMessage], next_at: datetime) -> None:
    """Hand claimed rows that were not tried back to pending, due at `next_at` (rate shaping)."""
    for message in messages:
        message.status = PENDING
        message.next_at = next_at
        message.sending_deadline = None
    await session.flush()


async def release_unsent(session: AsyncSession, *, message_id: int, next_at: datetime) -> bool:
    """Hand a claimed row that was never POSTed back to pending (its conversation got a 429 first)."""
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.status == CLAIMED)
        .values(status=PENDING, next_at=next_at, sending_deadline=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def add_digest(
    session: AsyncSession,
    *,
    key: str,
    conversation_id: str,
    payload: dict,
    bundle: str | None,
    incident_id: int | None,
    members: Sequence[OutboxMessage],
    created_at: datetime,
    now: datetime,
    sending_deadline: datetime | None,
    next_at: datetime,
) -> OutboxMessage:
    """Insert one digest row standing for claimed `members`, and mark them `bundled` into it.

    With a `sending_deadline` the digest is born claimed (about to be POSTed); without one it
    waits as pending until `next_at`. `created_at` is the oldest member's, so the
    digest keeps their place in the conversation's order.
    """
    digest = OutboxMessage(
        key=key,
        conversation_id=conversation_id,
        kind=SEND,
        payload_json=json.dumps(payload, separators=(",", ":"), sort_keys=True),
        bundle=bundle,
        incident_id=incident_id,
        status=CLAIMED if sending_deadline else PENDING,
        attempts=0,
        last_attempt_at=None,
        next_at=next_at,
        sending_deadline=sending_deadline,
        created_at=created_at,
    )
    session.add(digest)
    await session.flush()
    for member in members:
        member.status = BUNDLED
        member.digest_id = digest.id
        member.sending_deadline = None
    await session.flush()
    return digest


async def mark_sent(
    session: AsyncSession, *, message_id: int, attempt: int, now: datetime, remote_activity_id: str | None
) -> bool:
    """Record a delivered row; False if the attempt is stale (someone else owns the row now)."""
    return await _finish(
        session, message_id, attempt,
        status=SENT, sent_at=now, remote_activity_id=remote_activity_id, last_error=None,
    )


async def mark_retry(
    session: AsyncSession, *, message_id: int, attempt: int, next_at: datetime, error: str
) -> bool:
    """Send a row back to pending, due at `next_at`, remembering why the attempt failed."""
    return await _finish(session, message_id, attempt, status=PENDING, next_at=next_at, last_error=error[:2000])


async def mark_failed(session: AsyncSession, *, message_id: int, attempt: int, error: str) -> bool:
    """Give up on a row for good (permanent refusal or attempts exhausted)."""
    return await _finish(session, message_id, attempt, status=FAILED, last_error=error[:2000])


async def mark_cancelled(session: AsyncSession, *, message_id: int, attempt: int, why: str) -> bool:
    """Not sent because it is no longer wanted."""
    return await _finish(session, message_id, attempt, status=CANCELLED, last_error=why[:2000])


async def mark_unknown(session: AsyncSession, *, message_id: int, attempt: int, error: str) -> bool:
    """The POST may or may not have reached Teams (timeout, crash in the sender): do not resend."""
    return await _finish(session, message_id, attempt, status=UNKNOWN, last_error=error[:2000])


async def _finish(session: AsyncSession, message_id: int, attempt: int, **values: Any) -> bool:
    result = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            OutboxMessage.attempts == attempt,
            # CLAIMED: the sender decided before it had to send (nothing wanted, a refusal, or a
            # 429 while preparing), so the row was never marked `sending`
            OutboxMessage.status.in_((*_IN_FLIGHT, CLAIMED)),
        )
        .values(sending_deadline=None, **values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def defer_conversation(session: AsyncSession, *, conversation_id: str, until: datetime) -> int:
    """Hold a conversation until `until` (after a 429 or 5xx there): its pending rows, and any
    enqueued before then, wait. Keeps order: nothing overtakes the message being retried."""
    hold = await session.get(ConversationHold, conversation_id)
    if hold is None:
        session.add(ConversationHold(conversation_id=conversation_id, until=until))
    elif hold.until < until:
        hold.until = until
    await session.flush()
    result = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.conversation_id == conversation_id,
            OutboxMessage.status == PENDING,
            OutboxMessage.next_at < until,
        )
        .values(next_at=until)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


async def expire_stuck_sending(session: AsyncSession, *, now: datetime) -> list[int]:
    """Rows still `sending` past their deadline become `unknown` (never resent); their ids."""
    stuck = (
        await session.execute(
            select(OutboxMessage.id)
            .where(OutboxMessage.status == SENDING, OutboxMessage.sending_deadline < now)
            .with_for_update(skip_locked=True)
        )
    ).scalars().all()
    if stuck:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(list(stuck)), OutboxMessage.status == SENDING)
            .values(
                status=UNKNOWN,
                sending_deadline=None,
                last_error="delivery unknown: still sending at its deadline (process stopped between POST and commit?)",
            )
            .execution_options(synchronize_session=False)
        )
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == CLAIMED, OutboxMessage.sending_deadline < now)
        .values(status=PENDING, sending_deadline=None)
        .execution_options(synchronize_session=False)
    )
    return list(stuck)


async def sent_since(session: AsyncSession, conversation_id: str, since: datetime) -> list[datetime]:
    """Times of the POSTs into a conversation at or after `since`, oldest first.

    A delivered row counts at `sent_at`; a row in flight or of unknown outcome counts at its
    last attempt, since Teams may have counted it too. A refused attempt (a 429 waiting to be
    retried, or a failure) does not count: Teams did not take it. Shared through the database,
    so rate shaping survives restarts and holds across replicas.
    """
    stmt = select(OutboxMessage.sent_at, OutboxMessage.last_attempt_at).where(
        OutboxMessage.conversation_id == conversation_id,
        or_(
            OutboxMessage.sent_at >= since,
            and_(OutboxMessage.sent_at.is_(None), OutboxMessage.status.in_(_IN_FLIGHT),
                 OutboxMessage.last_attempt_at >= since),
        ),
    )
    times = [sent_at or attempted for sent_at, attempted in (await session.execute(stmt)).all()]
    return sorted(times)


async def cancel_pending(session: AsyncSession, *, key_prefixes: Sequence[str]) -> int:
    """Mark not-yet-sent rows whose key starts with one of `key_prefixes` as cancelled (a page
    acknowledged before its e-mail went); returns how many. Rows in flight are left alone."""
    if not key_prefixes:
        return 0
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == PENDING, or_(*(OutboxMessage.key.startswith(p, autoescape=True)
                                                      for p in key_prefixes)))
        .values(status=CANCELLED, last_error="not needed any more")
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


async def pending_with_prefix(session: AsyncSession, *, key_prefix: str) -> list[OutboxMessage]:
    """Pending rows whose key starts with `key_prefix`, oldest first."""
    stmt = select(OutboxMessage).where(OutboxMessage.status == PENDING,
                                       OutboxMessage.key.startswith(key_prefix, autoescape=True)).order_by(OutboxMessage.id)
    return list((await session.execute(stmt)).scalars().all())


async def update_pending(session: AsyncSession, *, conversation_id: str, target_activity_id: str) -> bool:
    """Whether an update of this message already waits, not yet claimed (it will carry the
    latest state when it goes, so another one would only repeat it)."""
    stmt = select(OutboxMessage.id).where(
        OutboxMessage.conversation_id == conversation_id, OutboxMessage.kind == UPDATE,
        OutboxMessage.target_activity_id == target_activity_id, OutboxMessage.status == PENDING,
    ).limit(1)
    return (await session.execute(stmt)).first() is not None


async def get_message(session: AsyncSession, message_id: int) -> OutboxMessage | None:
    return await session.get(OutboxMessage, message_id)


async def next_due_at(session: AsyncSession) -> datetime | None:
    """When the earliest pending row becomes due (for a scheduler that wants to sleep until then)."""
    stmt = select(OutboxMessage.next_at).where(OutboxMessage.status == PENDING).order_by(OutboxMessage.next_at).limit(1)
    return (await session.execute(stmt)).scalar_one_or_none()


async def has_stuck_sending(session: AsyncSession, *, now: datetime) -> bool:
    """Is any row still `sending` (or `claimed`) past its deadline? (A cheap read before taking
    the write lock.)"""
    stmt = select(OutboxMessage.id).where(OutboxMessage.status.in_((SENDING, CLAIMED)),
                                          OutboxMessage.sending_deadline < now).limit(1)
    return (await session.execute(stmt)).first() is not None
