"""INSERT ... ON CONFLICT DO NOTHING, in the session's dialect (SQLite and PostgreSQL share it).

The PostgreSQL form is imported only on PostgreSQL: importing SQLAlchemy's PostgreSQL dialect
costs a SQLite process about 2 MiB of memory for nothing (docs/benchmarks.md, idle RSS).
"""
from __future__ import annotations

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession


def insert_ignoring_duplicates(session: AsyncSession, table: Table):
    """An INSERT into `table` that skips rows whose unique key is taken (a claim, a dedupe)."""
    if session.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing()
