"""The one-hop SQLite dialect behaves like the stock aiosqlite one where our code relies on it."""
import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from storage.db import Database, async_url


@pytest.fixture
async def db(tmp_path):
    database = Database.from_url(f"sqlite:///{tmp_path}/t.db")
    async with database.write() as s:
        await s.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
    yield database
    await database.dispose()


def test_plain_sqlite_urls_use_the_one_hop_driver():
    assert async_url("sqlite:///x.db").drivername == "sqlite+firebreak"
    assert async_url("sqlite+aiosqlite:///x.db").drivername == "sqlite+firebreak"
    assert async_url("postgresql://u@h/db").drivername == "postgresql+asyncpg"
    with pytest.raises(ValueError, match="postgresql://"):
        async_url("mysql://u@h/db")


async def test_rowcount_lastrowid_rows_and_executemany(db):
    async with db.write() as s:
        result = await s.execute(text("INSERT INTO t (name) VALUES ('a')"))
        assert result.rowcount == 1 and result.lastrowid == 1
        await s.execute(text("INSERT INTO t (name) VALUES (:n)"), [{"n": "b"}, {"n": "c"}])
        updated = await s.execute(text("UPDATE t SET name = name || '!' WHERE id > 1"))
        assert updated.rowcount == 2
    async with db.read() as s:
        rows = (await s.execute(text("SELECT id, name FROM t ORDER BY id"))).all()
        assert rows == [(1, "a"), (2, "b!"), (3, "c!")]
        assert (await s.execute(text("SELECT name FROM t WHERE id = 2"))).scalar_one() == "b!"


async def test_errors_roll_back_and_surface_as_sqlalchemy_errors(db):
    with pytest.raises(IntegrityError):
        async with db.write() as s:
            await s.execute(text("INSERT INTO t (name) VALUES ('x')"))
            await s.execute(text("INSERT INTO t (name) VALUES ('x')"))
    async with db.read() as s:
        assert (await s.execute(text("SELECT COUNT(*) FROM t"))).scalar_one() == 0


async def test_concurrent_writers_queue_and_all_commit(db):
    async def add(i: int) -> None:
        async with db.write() as s:
            await s.execute(text("INSERT INTO t (name) VALUES (:n)"), {"n": f"w{i}"})
            await asyncio.sleep(0)

    await asyncio.gather(*(add(i) for i in range(40)))
    async with db.read() as s:
        assert (await s.execute(text("SELECT COUNT(*) FROM t"))).scalar_one() == 40


async def test_pragmas_are_set(db):
    async with db.read() as s:
        assert (await s.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"
        assert (await s.execute(text("PRAGMA synchronous"))).scalar_one() == 2  # FULL
        assert (await s.execute(text("PRAGMA busy_timeout"))).scalar_one() == 10000


async def test_a_writer_holds_the_write_lock_from_its_first_statement(db, tmp_path):
    """Two Database objects are like two processes: the second writer waits at BEGIN IMMEDIATE."""
    other = Database.from_url(f"sqlite:///{tmp_path}/t.db")
    order: list[str] = []
    try:
        async with db.write() as first:
            await first.execute(text("SELECT COUNT(*) FROM t"))  # BEGIN IMMEDIATE goes out with this

            async def second_writer() -> None:
                async with other.write() as s:
                    await s.execute(text("INSERT INTO t (name) VALUES ('second')"))
                order.append("second committed")

            task = asyncio.create_task(second_writer())
            await asyncio.sleep(0.3)
            assert not task.done(), "the second writer must wait for the first"
            await first.execute(text("INSERT INTO t (name) VALUES ('first')"))
            order.append("first committing")
        await task
    finally:
        await other.dispose()
    assert order == ["first committing", "second committed"]


async def test_an_empty_write_transaction_sends_nothing(db):
    async with db.write():
        pass
    async with db.write() as s:
        await s.execute(text("INSERT INTO t (name) VALUES ('after')"))
    async with db.read() as s:
        assert (await s.execute(text("SELECT name FROM t"))).scalars().all() == ["after"]
