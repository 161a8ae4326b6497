"""Escalations, pages and on-call overrides: the durable state of paging.

Modelled on GoAlert: an escalation is one row with a frozen policy snapshot, the level and round
reached, `next_at` and a fencing counter. The tick selects due rows inside a write transaction
(`FOR UPDATE SKIP LOCKED` on PostgreSQL, so replicas never take the same row; SQLite has one
writer), advances each one step, and writes the pages, timeline events and outbox rows in that
same transaction. An acknowledgement bumps the fence in its own transaction, so whichever
commits second sees the other's effect: a page is never computed from a stale state.

Plain SQLAlchemy, portable across SQLite and PostgreSQL.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Optional

from sqlalchemy import Column, Index, Text, bindparam, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from storage.models import Incident
from storage.types import UTCDateTime

ACTIVE = "active"


def _utc(nullable: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable))


class Escalation(SQLModel, table=True):
    """One running (or finished) escalation of an incident through a policy snapshot."""

    __tablename__ = "escalation"
    __table_args__ = (Index("ix_escalation_due", "status", "next_at"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    policy_id: str = Field(default="", max_length=100)
    snapshot_json: str = Field(sa_column=Column(Text, nullable=False))
    reason: str = Field(default="", max_length=400)
    level: int = Field(default=-1)
    round: int = Field(default=0)
    status: str = Field(default=ACTIVE, max_length=16)
    next_at: Optional[datetime] = _utc(nullable=True)
    fence: int = Field(default=0)
    started_by_aad: str = Field(default="", max_length=100)
    started_by_name: str = Field(default="", max_length=200)
    created_at: datetime = _utc()
    updated_at: datetime = _utc()
    acknowledged_at: Optional[datetime] = _utc(nullable=True)
    acknowledged_by: Optional[str] = Field(default=None, max_length=320)


class PageRecord(SQLModel, table=True):
    """One person paged by one escalation step; its contact attempts are outbox rows."""

    __tablename__ = "page"

    id: Optional[int] = Field(default=None, primary_key=True)
    escalation_id: int = Field(foreign_key="escalation.id", index=True)
    incident_id: int = Field(index=True)
    email: str = Field(max_length=320, index=True)
    target: str = Field(default="", max_length=400)
    level: int = Field(default=0)
    round: int = Field(default=0)
    status: str = Field(default="pending", max_length=16)
    delivered_via: Optional[str] = Field(default=None, max_length=16)
    delayed_s: Optional[int] = Field(default=None)
    created_at: datetime = _utc()
    acknowledged_at: Optional[datetime] = _utc(nullable=True)


class OnCallOverride(SQLModel, table=True):
    """Someone on call for a schedule in [starts_at, ends_at), set from Teams."""

    __tablename__ = "oncall_override"
    __table_args__ = (Index("ix_override_schedule_window", "schedule_id", "ends_at"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    schedule_id: str = Field(max_length=100)
    email: str = Field(max_length=320)
    starts_at: datetime = _utc()
    ends_at: datetime = _utc()
    replaces_email: Optional[str] = Field(default=None, max_length=320)
    created_by_aad: str = Field(default="", max_length=100)
    created_by_name: str = Field(default="", max_length=200)
    created_at: datetime = _utc()
    cancelled_at: Optional[datetime] = _utc(nullable=True)


async def due_escalations(session: AsyncSession, *, now: datetime, limit: int) -> Sequence[Escalation]:
    """Active escalations whose next step is due, oldest due first, locked for this transaction
    (skipped if another replica holds them)."""
    stmt = (
        select(Escalation)
        .where(Escalation.status == ACTIVE, Escalation.next_at.is_not(None), Escalation.next_at <= now)
        .order_by(Escalation.next_at, Escalation.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.execute(stmt)).scalars().all()


async def next_due_at(session: AsyncSession) -> datetime | None:
    """When the earliest active escalation is due (a read, for the tick to skip idle passes)."""
    stmt = select(Escalation.next_at).where(Escalation.status == ACTIVE, Escalation.next_at.is_not(None)) \
        .order_by(Escalation.next_at).limit(1)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_escalation(session: AsyncSession, escalation_id: int, *, lock: bool = False) -> Escalation | None:
    stmt = select(Escalation).where(Escalation.id == escalation_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def escalations_of(session: AsyncSession, incident_id: int, *, active_only: bool = False) -> Sequence[Escalation]:
    stmt = select(Escalation).where(Escalation.incident_id == incident_id)
    if active_only:
        stmt = stmt.where(Escalation.status == ACTIVE)
    return (await session.execute(stmt.order_by(Escalation.id).with_for_update())).scalars().all()


async def get_page(session: AsyncSession, page_id: int) -> PageRecord | None:
    return await session.get(PageRecord, page_id)


_PAGE_IN_CONTEXT = (select(PageRecord, Escalation.status, Incident)
                    .join(Escalation, Escalation.id == PageRecord.escalation_id)
                    .join(Incident, Incident.id == PageRecord.incident_id)
                    .where(PageRecord.id == bindparam("page_id")))


async def page_in_context(session: AsyncSession, page_id: int) -> tuple[PageRecord, str, Incident] | None:
    """A page with its escalation's status and its incident, in one query (a sender's last
    look before it speaks)."""
    row = (await session.execute(_PAGE_IN_CONTEXT, {"page_id": page_id})).first()
    return (row[0], row[1], row[2]) if row is not None else None


_pages = PageRecord.__table__
_DELIVERED = (update(_pages).where(_pages.c.id == bindparam("page_id")).values(
    delivered_via=func.coalesce(_pages.c.delivered_via, bindparam("via")),
    status=case((_pages.c.status == "pending", "delivered"), else_=_pages.c.status)))


async def mark_page_delivered(session: AsyncSession, page_id: int, *, via: str) -> bool:
    """A contact attempt of this page was delivered: note the first way it got through and move
    a pending page to `delivered` (an acknowledged one stays acknowledged). False: no such page.
    Runs for every page delivered, so the statement is built once."""
    result = await session.execute(_DELIVERED, {"page_id": page_id, "via": via})
    return result.rowcount == 1


async def pages_of(session: AsyncSession, escalation_id: int) -> Sequence[PageRecord]:
    stmt = select(PageRecord).where(PageRecord.escalation_id == escalation_id).order_by(PageRecord.id)
    return (await session.execute(stmt)).scalars().all()


async def unacknowledged_pages_for(session: AsyncSession, email: str) -> Sequence[PageRecord]:
    stmt = select(PageRecord).join(Escalation, Escalation.id == PageRecord.escalation_id).where(
        PageRecord.email == email, Escalation.status == ACTIVE).order_by(PageRecord.id)
    return (await session.execute(stmt)).scalars().all()


async def overrides_between(
    session: AsyncSession, *, schedule_id: str | None, start: datetime, end: datetime,
) -> Sequence[OnCallOverride]:
    """Live (not cancelled) overrides overlapping [start, end), for one schedule or all."""
    stmt = select(OnCallOverride).where(
        OnCallOverride.cancelled_at.is_(None), OnCallOverride.starts_at < end, OnCallOverride.ends_at > start)
    if schedule_id is not None:
        stmt = stmt.where(OnCallOverride.schedule_id == schedule_id)
    return (await session.execute(stmt.order_by(OnCallOverride.starts_at, OnCallOverride.id))).scalars().all()


class CoverRequest(SQLModel, table=True):
    """`cover me`: someone asks their schedule's group to take a window; the first to accept does."""

    __tablename__ = "cover_request"

    id: Optional[int] = Field(default=None, primary_key=True)
    schedule_id: str = Field(max_length=100)
    requester_email: str = Field(max_length=320)
    requester_aad: str = Field(default="", max_length=100)
    starts_at: datetime = _utc()
    ends_at: datetime = _utc()
    status: str = Field(default="open", max_length=16)
    taken_by_email: Optional[str] = Field(default=None, max_length=320)
    override_id: Optional[int] = Field(default=None)
    created_at: datetime = _utc()
    taken_at: Optional[datetime] = _utc(nullable=True)


async def get_cover_request(session: AsyncSession, request_id: int, *, lock: bool = False) -> CoverRequest | None:
    stmt = select(CoverRequest).where(CoverRequest.id == request_id)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()
