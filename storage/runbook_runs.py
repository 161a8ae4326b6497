"""Runbook runs: one row per walk of a team's triage script for an incident.

Everything a run needs to go on after a restart is in its row: the runbook as it was when the
run started (a snapshot, so a plan reload mid-run cannot shift the steps under a responder),
the step and phase reached, what happened at each step, who holds the run, and where its
progress card was posted. At most one unfinished run per (incident, runbook): a partial unique
index (migration 0011; storage/partial_indexes.py) says so, so two responders starting the same runbook at once settle in the database
(the loser's insert fails in a savepoint and it gets the winner's run). Every change bumps
`version`, and writes are compare-and-set on it, so two take-overs at once give one winner.

A SQLAlchemy Core table (no ORM class): light to import, and plain SQL on SQLite and PostgreSQL.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

from sqlalchemy import Column, Index, Integer, String, Table, Text, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from storage.types import UTCDateTime

RUNNING = "running"
COMPLETED = "completed"

runbook_run = Table(
    "runbook_run",
    SQLModel.metadata,
    Column("id", Integer, primary_key=True),
    Column("incident_id", Integer, nullable=False),
    Column("runbook_id", String(100), nullable=False),
    Column("runbook_name", String(300), nullable=False),
    Column("snapshot_json", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("step", Integer, nullable=False),
    Column("phase", String(16), nullable=False),
    Column("rollback_cause", String(16), nullable=True),
    Column("records_json", Text, nullable=False),
    Column("holder_aad", String(100), nullable=True),
    Column("holder_name", String(200), nullable=True),
    Column("version", Integer, nullable=False),
    Column("cards_json", Text, nullable=False),
    Column("started_by_name", String(200), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=True),
    Index("ix_runbook_run_incident", "incident_id"),
    # uq_runbook_run_unfinished (one unfinished run per incident and runbook) is declared in
    # storage/partial_indexes.py: see there why.
)


@dataclass(frozen=True)
class StoredRun:
    """One row of `runbook_run` as read (JSON columns still as text)."""

    id: int
    incident_id: int
    runbook_id: str
    runbook_name: str
    snapshot_json: str
    status: str
    step: int
    phase: str
    rollback_cause: str | None
    records_json: str
    holder_aad: str | None
    holder_name: str | None
    version: int
    cards_json: str
    started_by_name: str
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None


def _row(mapping: Any) -> StoredRun:
    return StoredRun(**{name: mapping[name] for name in StoredRun.__dataclass_fields__})


async def get(session: AsyncSession, run_id: int, *, lock: bool = False) -> StoredRun | None:
    """The run with this id (locked for this transaction with `lock` on PostgreSQL)."""
    stmt = select(runbook_run).where(runbook_run.c.id == run_id)
    if lock:
        stmt = stmt.with_for_update()
    found = (await session.execute(stmt)).mappings().first()
    return _row(found) if found else None


async def unfinished(session: AsyncSession, *, incident_id: int, runbook_id: str | None = None) -> list[StoredRun]:
    """The incident's unfinished runs (of one runbook, when named), oldest first."""
    stmt = select(runbook_run).where(runbook_run.c.incident_id == incident_id, runbook_run.c.status == RUNNING)
    if runbook_id is not None:
        stmt = stmt.where(runbook_run.c.runbook_id == runbook_id)
    return [_row(m) for m in (await session.execute(stmt.order_by(runbook_run.c.id))).mappings()]


async def runs_of(session: AsyncSession, incident_id: int) -> Sequence[StoredRun]:
    """Every run of an incident, oldest first."""
    stmt = select(runbook_run).where(runbook_run.c.incident_id == incident_id).order_by(runbook_run.c.id)
    return [_row(m) for m in (await session.execute(stmt)).mappings()]


async def insert_or_existing(session: AsyncSession, values: dict) -> tuple[StoredRun, bool]:
    """Insert a new unfinished run; (run, True). When an unfinished run of the same runbook
    exists for the incident (a racing start committed first), (that run, False)."""
    existing = await unfinished(session, incident_id=values["incident_id"], runbook_id=values["runbook_id"])
    if existing:
        return existing[0], False
    try:
        async with session.begin_nested():
            result = await session.execute(insert(runbook_run).values(**values, status=RUNNING, version=0))
    except IntegrityError:
        existing = await unfinished(session, incident_id=values["incident_id"], runbook_id=values["runbook_id"])
        if not existing:
            raise
        return existing[0], False
    run = await get(session, int(result.inserted_primary_key[0]))
    assert run is not None
    return run, True


async def update_if_version(session: AsyncSession, run_id: int, *, version: int, values: dict) -> bool:
    """Compare-and-set: apply `values` and bump the version only if the row is still at
    `version`; False when someone else changed it first."""
    stmt = (update(runbook_run)
            .where(runbook_run.c.id == run_id, runbook_run.c.version == version)
            .values(**values, version=version + 1))
    return (await session.execute(stmt)).rowcount == 1


async def set_cards(session: AsyncSession, run_id: int, cards_json: str) -> None:
    """Where the run's progress cards are; not a change of progress, so no version bump."""
    await session.execute(update(runbook_run).where(runbook_run.c.id == run_id).values(cards_json=cards_json))
