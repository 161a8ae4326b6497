"""Follow-up items: work that must happen after something was done, open until a person closes it.

A break-glass request opens one per `breakglass.follow_up` text (review the use, rotate the
credentials). Items are generic (`kind` says what opened them) so other features can open
their own. An item may belong to an incident (`incident_id`) or to none (a break-glass request
made outside any incident). Closing needs a note and is a compare-and-set on `closed_at`, so
two people closing the same item at once close it once.

A plain SQLAlchemy Core table on the shared metadata, imported only where follow-ups are used.
Portable across SQLite and PostgreSQL.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Column, Index, Integer, String, Table, Text, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from storage.types import UTCDateTime

follow_up_item = Table(
    "follow_up_item", SQLModel.metadata,
    Column("id", Integer, primary_key=True),
    Column("incident_id", Integer, nullable=True),
    Column("kind", String(40), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("text", Text, nullable=False),
    Column("opened_at", UTCDateTime(), nullable=False),
    Column("opened_by_aad", String(100), nullable=False),
    Column("opened_by_name", String(200), nullable=False),
    Column("closed_at", UTCDateTime(), nullable=True),
    Column("closed_by_aad", String(100), nullable=True),
    Column("closed_by_name", String(200), nullable=True),
    Column("close_note", Text, nullable=True),
    Index("ix_follow_up_item_incident", "incident_id"),
    Index("ix_follow_up_item_closed_at", "closed_at"),
)


@dataclass(frozen=True)
class FollowUp:
    """One follow-up item as read."""

    id: int
    incident_id: int | None
    kind: str
    subject: str
    """What it follows up, e.g. "break-glass `entra-emergency-access` by Aisha Patel"."""
    text: str
    opened_at: datetime
    opened_by_aad: str
    """Who opened it: for a break-glass item, the person who used the account."""
    opened_by_name: str
    closed_at: datetime | None
    closed_by_name: str | None
    close_note: str | None

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


_COLUMNS = [follow_up_item.c[name] for name in FollowUp.__dataclass_fields__]


def _item(row) -> FollowUp:
    return FollowUp(**dict(row._mapping))


async def open_items(session: AsyncSession, *, incident_id: int | None, kind: str, subject: str, texts: Sequence[str],
                     opened_by_aad: str, opened_by_name: str, now: datetime) -> list[int]:
    """Open one item per text; their ids, in order."""
    ids = []
    for text in texts:
        result = await session.execute(insert(follow_up_item).values(
            incident_id=incident_id, kind=kind, subject=subject[:300], text=text, opened_at=now,
            opened_by_aad=opened_by_aad[:100], opened_by_name=opened_by_name[:200]))
        ids.append(int(result.inserted_primary_key[0]))
    return ids


async def get(session: AsyncSession, item_id: int) -> FollowUp | None:
    row = (await session.execute(select(*_COLUMNS).where(follow_up_item.c.id == item_id))).first()
    return _item(row) if row is not None else None


def _scope(include_closed: bool, incident_id: int | None) -> list:
    where = []
    if not include_closed:
        where.append(follow_up_item.c.closed_at.is_(None))
    if incident_id is not None:
        where.append(follow_up_item.c.incident_id == incident_id)
    return where


def _hidden(kind: str, shown_to_aad: str):
    """Items of `kind` not opened by `shown_to_aad`."""
    return (follow_up_item.c.kind == kind) & (follow_up_item.c.opened_by_aad != shown_to_aad[:100])


async def listed(session: AsyncSession, *, include_closed: bool, incident_id: int | None = None,
                 limit: int = 30, hide_kind: str | None = None, shown_to_aad: str = "") -> tuple[list[FollowUp], int]:
    """Items, open first then newest first, at most `limit`; and how many there are in all.
    With `hide_kind`, items of that kind are left out unless `shown_to_aad` opened them."""
    where = _scope(include_closed, incident_id)
    if hide_kind is not None:
        where.append(~_hidden(hide_kind, shown_to_aad))
    stmt = (select(*_COLUMNS).where(*where)
            .order_by(follow_up_item.c.closed_at.is_not(None), follow_up_item.c.id.desc()).limit(limit))
    rows = [_item(r) for r in (await session.execute(stmt)).all()]
    total = (await session.execute(select(func.count()).select_from(follow_up_item).where(*where))).scalar_one()
    return rows, int(total)


async def any_hidden(session: AsyncSession, *, include_closed: bool, incident_id: int | None, hide_kind: str,
                     shown_to_aad: str) -> bool:
    """Whether `listed` with the same arguments left some item out."""
    stmt = select(follow_up_item.c.id).where(*_scope(include_closed, incident_id),
                                             _hidden(hide_kind, shown_to_aad)).limit(1)
    return (await session.execute(stmt)).first() is not None


async def open_count(session: AsyncSession, incident_id: int) -> int:
    """How many items of this incident are still open."""
    stmt = select(func.count()).select_from(follow_up_item).where(
        follow_up_item.c.incident_id == incident_id, follow_up_item.c.closed_at.is_(None))
    return int((await session.execute(stmt)).scalar_one())


async def close(session: AsyncSession, item_id: int, *, closed_by_aad: str, closed_by_name: str, note: str,
                now: datetime) -> bool:
    """Close an open item; False when it was already closed (or does not exist)."""
    result = await session.execute(
        update(follow_up_item)
        .where(follow_up_item.c.id == item_id, follow_up_item.c.closed_at.is_(None))
        .values(closed_at=now, closed_by_aad=closed_by_aad[:100], closed_by_name=closed_by_name[:200], close_note=note))
    return result.rowcount == 1
