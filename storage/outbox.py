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
from datetime import datetime
from typing import Any, Optional

from sqlalchemy import Column, Index, Text, UniqueConstraint, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from storage.inserts import insert_ignoring_duplicates
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
    stmt = insert_ignoring_duplicates(session, OutboxMessage.__table__).values(
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


async def enqueue_new(session: AsyncSession, *, messages: Sequence[dict], now: datetime) -> None:
    """Add several `send` messages in one statement, each a dict of `key`, `conversation_id`,
    `payload` and optionally `incident_id`, `bundle`, `not_before`. A key enqueued before is
    skipped, as in `enqueue`; no ids are returned (the tick's hot path does not need them)."""
    if not messages:
        return
    rows = [{"key": m["key"], "conversation_id": m["conversation_id"], "kind": SEND, "target_activity_id": None,
             "payload_json": json.dumps(m["payload"], separators=(",", ":"), sort_keys=True),
             "bundle": m.get("bundle"), "incident_id": m.get("incident_id"), "status": PENDING, "attempts": 0,
             "next_at": m.get("not_before") or now, "created_at": now} for m in messages]
    await session.execute(insert_ignoring_duplicates(session, OutboxMessage.__table__), rows)
    session.info[ENQUEUED] = True


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


# The delivery lifecycle lives in its own module; importing it here keeps `storage.outbox` the
# one name callers use. (At the end: it imports the table defined above.)
from storage.outbox_delivery import (  # noqa: E402
    add_digest, claim_due, count_unstarted_attempt, defer_conversation, expire_stuck_sending,
    has_stuck_sending, mark_cancelled, mark_failed, mark_retry, mark_sent, mark_unknown,
    release_claims, release_unsent, reschedule, sent_since, start_sending,
)

__all__ = [
    "BUNDLED", "CANCELLED", "CLAIMED", "ENQUEUED", "FAILED", "KINDS", "PENDING", "SEND", "SENDING", "SENT",
    "STATUSES", "UNKNOWN", "UPDATE", "ConversationHold", "OutboxMessage", "add_digest", "cancel_pending",
    "claim_due", "count_unstarted_attempt", "defer_conversation", "enqueue", "expire_stuck_sending",
    "get_message", "has_stuck_sending", "mark_cancelled", "mark_failed", "mark_retry", "mark_sent",
    "mark_unknown", "next_due_at", "pending_with_prefix", "release_claims", "release_unsent", "reschedule",
    "sent_since", "start_sending", "update_pending",
]
