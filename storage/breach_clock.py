"""The regulatory clock of incidents marked a possible personal-data breach.

`breach_mark`: one row per marked incident (who marked it and when, and the reportability
decision once made). `breach_deadline`: one row per deadline of every duty the mark started,
with the plan's values copied in when the clock starts (like an escalation's policy snapshot):
a plan edit later does not move a legal deadline that is already running.

Marking twice never restarts the clock: the mark is the incident's primary key and deadlines
are unique per (incident, duty, deadline); both are inserted with ON CONFLICT DO NOTHING.
`next_remind_at` is when the owner is next due a reminder (None once there is nothing more to
send), indexed, so the tick's "anything due?" is one cheap read.

Plain SQLAlchemy Core tables on the shared metadata, imported only where the clock is used.
Portable across SQLite and PostgreSQL.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Column, Index, Integer, String, Table, Text, UniqueConstraint, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from storage.inserts import insert_ignoring_duplicates
from storage.types import UTCDateTime

breach_mark = Table(
    "breach_mark", SQLModel.metadata,
    Column("incident_id", Integer, primary_key=True, autoincrement=False),
    Column("marked_at", UTCDateTime(), nullable=False),
    Column("marked_by_aad", String(100), nullable=False),
    Column("marked_by_name", String(200), nullable=False),
    Column("decision", String(20), nullable=True),
    Column("decision_reason", Text, nullable=True),
    Column("decided_at", UTCDateTime(), nullable=True),
    Column("decided_by_aad", String(100), nullable=True),
    Column("decided_by_name", String(200), nullable=True),
)

breach_deadline = Table(
    "breach_deadline", SQLModel.metadata,
    Column("id", Integer, primary_key=True),
    Column("incident_id", Integer, nullable=False),
    Column("duty_id", String(100), nullable=False),
    Column("deadline_id", String(100), nullable=False),
    Column("duty_name", String(300), nullable=False),
    Column("action", Text, nullable=False),
    Column("owner_email", String(320), nullable=False),
    Column("remind_before", String(200), nullable=False),
    Column("due_at", UTCDateTime(), nullable=False),
    Column("next_remind_at", UTCDateTime(), nullable=True),
    Column("met_at", UTCDateTime(), nullable=True),
    Column("met_by_aad", String(100), nullable=True),
    Column("met_by_name", String(200), nullable=True),
    Column("met_kind", String(20), nullable=True),
    Column("met_note", Text, nullable=True),
    UniqueConstraint("incident_id", "duty_id", "deadline_id", name="uq_breach_deadline"),
    Index("ix_breach_deadline_next_remind_at", "next_remind_at"),
)


@dataclass(frozen=True)
class Mark:
    incident_id: int
    marked_at: datetime
    marked_by_aad: str
    marked_by_name: str
    decision: str | None
    decision_reason: str | None
    decided_at: datetime | None
    decided_by_aad: str | None
    decided_by_name: str | None


@dataclass(frozen=True)
class DeadlineRow:
    id: int
    incident_id: int
    duty_id: str
    deadline_id: str
    duty_name: str
    action: str
    owner_email: str
    remind_before: str
    """Seconds before `due_at`, comma-separated (see `remind_before_s`)."""
    due_at: datetime
    next_remind_at: datetime | None
    met_at: datetime | None
    met_by_aad: str | None
    met_by_name: str | None
    met_kind: str | None
    met_note: str | None

    @property
    def remind_before_s(self) -> tuple[int, ...]:
        return tuple(int(x) for x in self.remind_before.split(",") if x)


def _deadline(row) -> DeadlineRow:
    return DeadlineRow(**dict(row._mapping))


async def add_mark(session: AsyncSession, *, incident_id: int, by_aad: str, by_name: str, now: datetime) -> bool:
    """Mark the incident; False when it already was (nothing changes then)."""
    result = await session.execute(insert_ignoring_duplicates(session, breach_mark).values(
        incident_id=incident_id, marked_at=now, marked_by_aad=by_aad[:100], marked_by_name=by_name[:200]))
    return result.rowcount == 1


async def get_mark(session: AsyncSession, incident_id: int) -> Mark | None:
    row = (await session.execute(select(breach_mark).where(breach_mark.c.incident_id == incident_id))).first()
    return Mark(**dict(row._mapping)) if row is not None else None


async def set_decision(session: AsyncSession, *, incident_id: int, decision: str, reason: str, by_aad: str,
                       by_name: str, now: datetime) -> None:
    await session.execute(update(breach_mark).where(breach_mark.c.incident_id == incident_id).values(
        decision=decision, decision_reason=reason, decided_at=now, decided_by_aad=by_aad[:100],
        decided_by_name=by_name[:200]))


async def add_deadlines(session: AsyncSession, rows: Sequence[dict]) -> None:
    """Insert deadline rows (dicts of the table's columns); one already there is left as it is."""
    for row in rows:
        await session.execute(insert_ignoring_duplicates(session, breach_deadline).values(**row))


async def deadlines_of(session: AsyncSession, incident_id: int, *, lock: bool = False) -> list[DeadlineRow]:
    stmt = (select(breach_deadline).where(breach_deadline.c.incident_id == incident_id)
            .order_by(breach_deadline.c.due_at, breach_deadline.c.id))
    if lock:
        stmt = stmt.with_for_update()
    return [_deadline(r) for r in (await session.execute(stmt)).all()]


async def next_reminder_at(session: AsyncSession) -> datetime | None:
    """When the next reminder of any open deadline is due (the tick's cheap read)."""
    stmt = select(func.min(breach_deadline.c.next_remind_at)).where(breach_deadline.c.met_at.is_(None))
    return (await session.execute(stmt)).scalar_one_or_none()


async def due_for_reminder(session: AsyncSession, *, now: datetime, limit: int = 200) -> list[DeadlineRow]:
    """Open deadlines whose reminder is due, locked for this transaction (PostgreSQL skips rows
    another replica holds)."""
    stmt = (select(breach_deadline)
            .where(breach_deadline.c.met_at.is_(None), breach_deadline.c.next_remind_at <= now)
            .order_by(breach_deadline.c.next_remind_at, breach_deadline.c.id).limit(limit)
            .with_for_update(skip_locked=True))
    return [_deadline(r) for r in (await session.execute(stmt)).all()]


async def set_next_remind(session: AsyncSession, deadline_row_id: int, at: datetime | None) -> None:
    await session.execute(update(breach_deadline).where(breach_deadline.c.id == deadline_row_id)
                          .values(next_remind_at=at))


async def meet(session: AsyncSession, deadline_row_id: int, *, kind: str, note: str, by_aad: str, by_name: str,
               now: datetime) -> bool:
    """Mark an open deadline met (or closed by a decision); False when it already was."""
    result = await session.execute(
        update(breach_deadline)
        .where(breach_deadline.c.id == deadline_row_id, breach_deadline.c.met_at.is_(None))
        .values(met_at=now, met_kind=kind, met_note=note, met_by_aad=by_aad[:100], met_by_name=by_name[:200],
                next_remind_at=None))
    return result.rowcount == 1


async def reopen(session: AsyncSession, deadline_row_id: int, *, next_remind_at: datetime | None) -> None:
    """Open a deadline closed by a decision that was since changed."""
    await session.execute(update(breach_deadline).where(breach_deadline.c.id == deadline_row_id).values(
        met_at=None, met_kind=None, met_note=None, met_by_aad=None, met_by_name=None, next_remind_at=next_remind_at))
