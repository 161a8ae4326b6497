"""Database engine and sessions: SQLite (default) or PostgreSQL, always async.

SQLite needs care to behave under concurrent turns: WAL so readers never block the writer,
`synchronous=FULL` so a committed page survives power loss, a busy timeout, and
`BEGIN IMMEDIATE` so two writers queue at BEGIN instead of failing at their first write.
"""
from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager, nullcontext
from pathlib import Path
from typing import AsyncIterator

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

import storage.sqlite_driver  # noqa: F401  (registers sqlite+firebreak)

SQLITE_BUSY_TIMEOUT_MS = 10_000
READ_ONLY_OPTION = "firebreak_read_only"


def async_url(raw: str) -> URL:
    """Map a plain SQLAlchemy URL to its async driver (`sqlite` -> aiosqlite, `postgresql` -> asyncpg)."""
    url = make_url(raw)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return url.set(drivername="sqlite+firebreak")
    if backend in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+asyncpg")
    raise ValueError(
        f"DATABASE_URL uses '{url.drivername}'; Firebreak supports sqlite:///PATH and "
        "postgresql://user:pass@host/db"
    )


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
        # Writers take the write lock with BEGIN IMMEDIATE, sent together with their first
        # statement (one trip to the SQLite thread fewer). Readers open no transaction at all:
        # each SELECT is its own snapshot under WAL, which is all a read-only session needs.
        if not conn.get_execution_options().get(READ_ONLY_OPTION):
            conn.connection.dbapi_connection.begin_with_next_statement("BEGIN IMMEDIATE")


def create_engine(raw_url: str, *, echo: bool = False) -> AsyncEngine:
    """Build the async engine for `DATABASE_URL`, with SQLite tuned for concurrent writers."""
    ensure_sqlite_dir(raw_url)
    url = async_url(raw_url)
    if url.get_backend_name() == "sqlite":
        # Sessions always end their own transactions (commit or rollback), so the pool's extra
        # rollback on check-in would only cost another trip to the SQLite thread. A small pool:
        # writers take turns anyway, and every pooled connection is one more thread competing
        # for the GIL (measured: fewer connections, less CPU per turn at 8 concurrent turns).
        engine = create_async_engine(
            url, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, pool_reset_on_return=None,
            pool_size=1, max_overflow=1,
        )
        _configure_sqlite(engine)
        return engine
    return create_async_engine(url, echo=echo, pool_pre_ping=True)


class Database:
    """The engine plus the two ways to use it: write transactions and read-only sessions.

    On SQLite, writers of this process also queue on an asyncio lock before `BEGIN IMMEDIATE`:
    SQLite's own busy handler waits by sleeping (up to 100 ms a try), so without the queue
    concurrent turns pay those sleeps as tail latency. Other processes still queue at BEGIN.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._writer = async_sessionmaker(engine, expire_on_commit=False)
        self._read_engine = engine.execution_options(**{READ_ONLY_OPTION: True})
        self._reader = async_sessionmaker(self._read_engine, expire_on_commit=False)
        self._write_queue = asyncio.Lock() if engine.dialect.name == "sqlite" else None

    @classmethod
    def from_url(cls, raw_url: str) -> "Database":
        return cls(create_engine(raw_url))

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commit on success, roll back on any exception."""
        async with self._write_queue or nullcontext():
            async with self._writer() as session:
                async with session.begin():
                    yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for queries that write nothing (no write lock on SQLite)."""
        async with self._reader() as session:
            yield session

    @asynccontextmanager
    async def read_rows(self) -> AsyncIterator[AsyncConnection]:
        """A bare connection for read-only Core queries on hot paths (no ORM session to set up)."""
        async with self._read_engine.connect() as conn:
            yield conn

    async def dispose(self) -> None:
        await self.engine.dispose()
