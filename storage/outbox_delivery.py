"""The outbox's delivery lifecycle: claim, start, finish, hold, expire (see storage/outbox.py).

Kept apart from the table and its enqueue side so each module holds one concern. Every function
is re-exported by `storage.outbox`, which is what callers import.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.outbox import (
    _IN_FLIGHT, BUNDLED, CLAIMED, PENDING, SEND, SENDING, SENT, UNKNOWN, CANCELLED, FAILED,
    ConversationHold, OutboxMessage,
)


async def claim_due(
    session: AsyncSession, *, now: datetime, limit: int, sending_for: timedelta
) -> list[OutboxMessage]:
    """Claim up to `limit` due pending rows, oldest first, until now + sending_for at most.

    A conversation with a row still claimed or being sent (a slow POST, or another replica's
    batch) is skipped, so its rows go strictly in order.

    On PostgreSQL `FOR UPDATE SKIP LOCKED` lets two replicas claim side by side without ever
    taking the same row; SQLite renders no lock clause and relies on the writer's
    `BEGIN IMMEDIATE`, which already makes the claim exclusive. A claim is only a plan: each
    row is started (`start_sending`) right before its POST.
    """
    held = select(ConversationHold.conversation_id).where(ConversationHold.until > now)
    busy = select(OutboxMessage.conversation_id).where(OutboxMessage.status.in_((CLAIMED, SENDING)))
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.status == PENDING, OutboxMessage.next_at <= now,
               OutboxMessage.conversation_id.not_in(held), OutboxMessage.conversation_id.not_in(busy))
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


# The per-message writes, built once: a statement built per call costs more CPU (construction
# and its cache key) than running it. Plain table statements, so no ORM bulk-update machinery.
_table = OutboxMessage.__table__
_START = (update(_table)
          .where(_table.c.id == bindparam("m_id"), _table.c.status == CLAIMED,
                 _table.c.attempts == bindparam("m_attempts"))
          .values(status=SENDING, attempts=bindparam("new_attempts"), last_attempt_at=bindparam("at"),
                  sending_deadline=bindparam("deadline")))
_SENT = (update(_table)
         .where(_table.c.id == bindparam("m_id"), _table.c.attempts == bindparam("m_attempts"),
                _table.c.status.in_((*_IN_FLIGHT, CLAIMED)))
         .values(status=SENT, sending_deadline=None, sent_at=bindparam("at"), remote_activity_id=bindparam("remote"),
                 last_error=None))


async def start_sending(session: AsyncSession, *, message: OutboxMessage, now: datetime, sending_for: timedelta) -> bool:
    """Mark a claimed row `sending` (one more attempt) just before its POST; False if it is no
    longer this worker's to send (its claim lapsed and someone else took it). `message` is
    left as it was: the caller counts the attempt once the transaction has committed."""
    result = await session.execute(_START, {"m_id": message.id, "m_attempts": message.attempts,
                                            "new_attempts": message.attempts + 1, "at": now,
                                            "deadline": now + sending_for})
    return result.rowcount == 1


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
    """Record a delivered row; False if the attempt is stale (someone else owns the row now).
    The same conditions as `_finish`, prepared once (every delivered message runs it)."""
    result = await session.execute(_SENT, {"m_id": message_id, "m_attempts": attempt, "at": now,
                                           "remote": remote_activity_id})
    return result.rowcount == 1


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


async def has_stuck_sending(session: AsyncSession, *, now: datetime) -> bool:
    """Is any row still `sending` (or `claimed`) past its deadline? (A cheap read before taking
    the write lock.)"""
    stmt = select(OutboxMessage.id).where(OutboxMessage.status.in_((SENDING, CLAIMED)),
                                          OutboxMessage.sending_deadline < now).limit(1)
    return (await session.execute(stmt)).first() is not None
