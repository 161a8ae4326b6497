"""Database engine and sessions: SQLite (default) or PostgreSQL, always async.

SQLite needs care to behave under concurrent turns: WAL so readers never block the writer,
`synchronous=FULL` so a committed page survives power loss, a busy timeout, and
`BEGIN IMMEDIATE` so two writers queue at BEGIN instead of failing at their first write.
"""
from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 10_000
READ_ONLY_OPTION = "firebreak_read_only"


def async_url(raw: str) -> URL:
    """Map a plain SQLAlchemy URL to its async driver (`sqlite` -> aiosqlite, `postgresql` -> asyncpg)."""
    url = make_url(raw)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return url.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+asyncpg")
    raise ValueError(
        f"DATABASE_URL uses '{url.drivername}'; Firebreak supports sqlite:///PATH and "
        "postgresql://user:pass@host/db"
    )


def is_sqlite(raw: str) -> bool:
    """True when the URL names an SQLite database."""
    return make_url(raw).get_backend_name() == "sqlite"


def ensure_sqlite_dir(raw: str) -> None:
    """Create the folder of an SQLite file so `./data/firebreak.db` works on a fresh checkout."""
    url = make_url(raw)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # pragma: no cover - exercised via engine
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn) -> None:  # pragma: no cover - exercised via engine
        # Readers take no write lock (WAL lets them run beside the writer); writers queue here.
        if conn.get_execution_options().get(READ_ONLY_OPTION):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(raw_url: str, *, echo: bool = False) -> AsyncEngine:
    """Build the async engine for `DATABASE_URL`, with SQLite tuned for concurrent writers."""
    ensure_sqlite_dir(raw_url)
    url = async_url(raw_url)
    if url.get_backend_name() == "sqlite":
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _configure_sqlite(engine)
        return engine
    return create_async_engine(url, echo=echo, pool_pre_ping=True)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit (cards render from them)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def read_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for queries that write nothing: on SQLite they begin without the write lock."""
    return async_sessionmaker(engine.execution_options(**{READ_ONLY_OPTION: True}), expire_on_commit=False)


@asynccontextmanager
async def transaction(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit on success, roll back on any exception."""
    async with factory() as session:
        async with session.begin():
            yield session
