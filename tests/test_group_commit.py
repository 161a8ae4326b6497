"""Group commit on a real SQLite file: concurrent small writes share transactions, and one
failing write never takes the others with it."""
import asyncio

import pytest
from sqlalchemy import event, text

from storage.db import Database
from storage.group_commit import GroupCommit


@pytest.fixture
async def db(tmp_path):
    database = Database.from_url(f"sqlite:///{tmp_path / 'group.db'}")
    async with database.engine.begin() as conn:
        await conn.execute(text("CREATE TABLE item (name TEXT PRIMARY KEY)"))
    yield database
    await database.dispose()


def insert(name: str, sessions: list):
    async def job(session):
        sessions.append(id(session))
        await session.execute(text("INSERT INTO item (name) VALUES (:name)"), {"name": name})
        return name
    return job


async def names(db) -> list[str]:
    async with db.read() as session:
        return sorted((await session.execute(text("SELECT name FROM item"))).scalars())


def commits(db) -> list:
    seen = []
    event.listen(db.engine.sync_engine, "commit", lambda _conn: seen.append(1))
    return seen


async def test_writes_queued_while_a_transaction_runs_share_the_next_one(db):
    group, sessions, committed = GroupCommit(db), [], commits(db)
    first = asyncio.ensure_future(group.run(insert("first", sessions)))
    await asyncio.sleep(0)  # the first write's transaction is under way
    results = await asyncio.gather(*(group.run(insert(f"n{i}", sessions)) for i in range(12)))
    assert await first == "first"
    assert results == [f"n{i}" for i in range(12)]  # each caller gets its own job's result
    assert await names(db) == sorted(["first"] + [f"n{i}" for i in range(12)])
    assert len(committed) == 2  # the first alone; the twelve that queued meanwhile in one commit


async def test_a_failing_write_is_reported_to_its_caller_and_the_others_still_commit(db):
    group, sessions, committed = GroupCommit(db), [], commits(db)
    jobs = [insert("a", sessions), insert("b", sessions), insert("a", sessions), insert("c", sessions)]
    results = await asyncio.gather(*(group.run(job) for job in jobs), return_exceptions=True)
    assert results[:2] == ["a", "b"] and results[3] == "c"
    assert "UNIQUE constraint failed" in str(results[2])  # the duplicate, and only it, failed
    assert await names(db) == ["a", "b", "c"]
    assert len(committed) == 3  # the group rolled back, then a, b and c committed one by one


async def test_a_lone_write_runs_at_once(db):
    group, sessions = GroupCommit(db), []
    assert await asyncio.wait_for(group.run(insert("solo", sessions)), 2) == "solo"
    assert await names(db) == ["solo"]
