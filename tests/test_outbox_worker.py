"""The outbox worker on a real SQLite database, with a FakeClock and a scripted sender."""
import asyncio
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (all tables exist)
from bot.domain.outbox import MAX_ATTEMPTS, DeliveryOutcome, backoff
from bot.outbox_worker import OutboxWorker
from storage import outbox as store
from storage.db import Database, create_engine
from storage.outbox import OutboxMessage
from tests.realpeers import fresh_database
from tests.support import sqlite_with_schema


class ScriptedSender:
    """Answers from a per-key script (then ok), recording every delivery with the fake time."""

    def __init__(self, clock, script=None, pause=0.0):
        self.clock = clock
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.pause = pause
        self.calls = []  # (key, at, payload)

    async def deliver(self, message):
        self.calls.append((message.key, self.clock.now(), message.payload))
        if self.pause:
            await asyncio.sleep(self.pause)
        answers = self.script.get(message.key)
        if answers:
            return answers.pop(0)
        return DeliveryOutcome.ok(f"act-{len(self.calls)}")

    def keys(self):
        return [k for k, _, _ in self.calls]


async def make_db(path) -> Database:
    return await sqlite_with_schema(path)


@pytest.fixture
async def db(tmp_path):
    database = await make_db(tmp_path / "outbox.db")
    yield database
    await database.dispose()


async def enqueue(db, clock, key, *, conversation="conv-1", bundle=None, summary=None):
    async with db.write() as session:
        return await store.enqueue(
            session, key=key, conversation_id=conversation, bundle=bundle, incident_id=1, now=clock.now(),
            payload={"text": f"text of {key}", "summary": summary or f"summary of {key}"},
        )


async def row(db, key) -> OutboxMessage:
    async with db.read() as session:
        return (await session.execute(select(OutboxMessage).where(OutboxMessage.key == key))).scalar_one()


async def all_rows(db) -> list[OutboxMessage]:
    async with db.read() as session:
        return list((await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars().all())


def worker(db, sender, clock, **kw):
    return OutboxWorker(db=db, sender=sender, clock=clock, rng=lambda: 1.0, **kw)


async def test_sends_once_and_records_the_activity_id(db, clock):
    sender = ScriptedSender(clock)
    await enqueue(db, clock, "page-1")
    report = await worker(db, sender, clock).run_once()
    assert (report.claimed, report.sent) == (1, 1)
    sent = await row(db, "page-1")
    assert (sent.status, sent.remote_activity_id, sent.attempts, sent.sent_at) == ("sent", "act-1", 1, clock.now())
    clock.advance(minutes=5)
    assert (await worker(db, sender, clock).run_once()).claimed == 0
    assert sender.keys() == ["page-1"]


async def test_enqueue_is_idempotent_on_the_key(db, clock):
    first = await enqueue(db, clock, "page-1", summary="first")
    second = await enqueue(db, clock, "page-1", summary="second")
    assert first == second
    rows = await all_rows(db)
    assert len(rows) == 1 and rows[0].payload["summary"] == "first"


async def test_a_429_waits_for_retry_after_then_retries(db, clock):
    sender = ScriptedSender(clock, {"page-1": [DeliveryOutcome.retryable(status_code=429, retry_after=3)]})
    await enqueue(db, clock, "page-1")
    await enqueue(db, clock, "page-2")  # same conversation: must not overtake the retried one
    start = clock.now()
    w = worker(db, sender, clock)
    report = await w.run_once()
    assert (report.retried, report.sent, report.waiting) == (1, 0, 1)
    assert sender.keys() == ["page-1"]
    held = await row(db, "page-1")
    assert (held.status, held.next_at, held.last_error) == ("pending", start + timedelta(seconds=3), "HTTP 429")
    assert (await row(db, "page-2")).attempts == 0  # never POSTed, so no attempt counted

    clock.advance(seconds=2.9)
    await w.run_once()
    assert sender.keys() == ["page-1"]

    clock.advance(seconds=0.1)
    report = await w.run_once()
    assert report.sent == 2
    assert sender.keys() == ["page-1", "page-1", "page-2"]
    assert (await row(db, "page-1")).status == "sent"


async def test_a_message_enqueued_during_retry_after_waits_too(db, clock):
    sender = ScriptedSender(clock, {"page-1": [DeliveryOutcome.retryable(status_code=429, retry_after=3)]})
    await enqueue(db, clock, "page-1")
    w = worker(db, sender, clock)
    await w.run_once()
    clock.advance(seconds=1)
    await enqueue(db, clock, "page-2")  # Teams said "not for 3 s": this one must wait as well
    await enqueue(db, clock, "other", conversation="conv-2")  # another conversation is not held
    await w.run_once()
    assert sender.keys() == ["page-1", "other"]
    clock.advance(seconds=2)
    await w.run_once()
    assert sender.keys() == ["page-1", "other", "page-1", "page-2"]  # in order, after the wait


async def test_refused_attempts_do_not_use_up_the_rate_budget(db, clock):
    script = {f"m{i}": [DeliveryOutcome.retryable(status_code=429, retry_after=1)] for i in range(7)}
    sender = ScriptedSender(clock, script)
    for i in range(7):
        await enqueue(db, clock, f"m{i}")
    w = worker(db, sender, clock)
    await w.run_once()  # m0 refused; the conversation is held 1 s
    async with db.read() as session:
        assert await store.sent_since(session, "conv-1", clock.now() - timedelta(seconds=30)) == []


async def test_5xx_backs_off_then_fails_after_max_attempts(db, clock):
    sender = ScriptedSender(clock, {"page-1": [DeliveryOutcome.retryable(status_code=503)] * (MAX_ATTEMPTS + 5)})
    await enqueue(db, clock, "page-1")
    w = worker(db, sender, clock)
    for _ in range(MAX_ATTEMPTS * 3):
        await w.run_once()
        current = await row(db, "page-1")
        if current.status != "pending":
            break
        clock.advance(seconds=0.5)
        await w.run_once()  # not yet due: no extra attempt
        clock._now = current.next_at
    assert len(sender.calls) == MAX_ATTEMPTS
    failed = await row(db, "page-1")
    assert failed.status == "failed" and failed.attempts == MAX_ATTEMPTS
    assert failed.last_error.startswith(f"gave up after {MAX_ATTEMPTS} attempts")
    times = [at for _, at, _ in sender.calls]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert gaps == [backoff(n, None, rng=lambda: 1.0) for n in range(1, MAX_ATTEMPTS)]
    clock.advance(hours=1)
    await w.run_once()
    assert len(sender.calls) == MAX_ATTEMPTS


async def test_a_permanent_403_fails_at_once(db, clock):
    sender = ScriptedSender(clock, {"page-1": [DeliveryOutcome.permanent("HTTP 403: bot removed", status_code=403)]})
    await enqueue(db, clock, "page-1")
    await enqueue(db, clock, "page-2")
    w = worker(db, sender, clock)
    report = await w.run_once()
    assert (report.failed, report.sent, report.retried) == (1, 1, 0)
    failed = await row(db, "page-1")
    assert (failed.status, failed.attempts, failed.last_error) == ("failed", 1, "HTTP 403: bot removed")
    clock.advance(hours=1)
    await w.run_once()
    assert sender.keys() == ["page-1", "page-2"]


async def test_a_row_left_sending_past_its_deadline_becomes_unknown_and_is_never_resent(db, clock):
    sender = ScriptedSender(clock)
    await enqueue(db, clock, "page-1")
    # a replica claims and starts the POST, then dies before recording the outcome
    async with db.write() as session:
        [claimed] = await store.claim_due(session, now=clock.now(), limit=10, sending_for=timedelta(seconds=60))
        assert await store.start_sending(session, message=claimed, now=clock.now(), sending_for=timedelta(seconds=60))
    w = worker(db, sender, clock)
    clock.advance(seconds=59)
    assert (await w.run_once()).unknown == 0
    assert (await row(db, "page-1")).status == "sending"
    clock.advance(seconds=2)
    assert (await w.run_once()).unknown == 1
    lost = await row(db, "page-1")
    assert lost.status == "unknown" and "delivery unknown" in lost.last_error
    clock.advance(hours=2)
    await w.run_once()
    assert sender.calls == []


async def test_rows_claimed_but_never_started_by_a_dead_worker_are_sent_after_a_restart(db, clock):
    sender = ScriptedSender(clock)
    for key in ("page-1", "page-2"):
        await enqueue(db, clock, key, conversation=f"conv-{key}")
    # a worker claims both, starts the POST of page-1, and dies before page-2's turn
    async with db.write() as session:
        first, _second = await store.claim_due(session, now=clock.now(), limit=10, sending_for=timedelta(seconds=60))
        assert await store.start_sending(session, message=first, now=clock.now(), sending_for=timedelta(seconds=60))
    # the restarted process hands the untouched claim back at once and sends it; page-1 stays unknown-to-be
    stop = asyncio.Event()
    w = worker(db, sender, clock)
    task = asyncio.create_task(w.run_forever(stop))
    for _ in range(100):
        if sender.keys():
            break
        await asyncio.sleep(0.02)
    stop.set()
    w.kick()
    await task
    assert sender.keys() == ["page-2"]
    assert (await row(db, "page-1")).status == "sending" and (await row(db, "page-2")).status == "sent"


async def test_a_sender_that_raises_leaves_the_row_unknown_not_resent(db, clock):
    class Exploding(ScriptedSender):
        async def deliver(self, message):
            await super().deliver(message)
            raise ConnectionResetError("peer reset after the request was written")

    sender = Exploding(clock)
    await enqueue(db, clock, "page-1")
    w = worker(db, sender, clock)
    assert (await w.run_once()).unknown == 1
    clock.advance(minutes=10)
    await w.run_once()
    assert sender.keys() == ["page-1"] and (await row(db, "page-1")).status == "unknown"


async def test_a_sender_that_fails_without_marking_the_row_is_retried_not_unknown(db, clock):
    """A card update (an idempotent PUT) takes no `sending` mark: when it times out or the
    connection breaks, the row is done again, not left "delivery unknown" with a stale card."""
    class UnmarkedPut(ScriptedSender):
        starts_itself = True  # and never calls about_to_send()

        async def deliver(self, message):
            await super().deliver(message)
            if len(self.calls) == 1:
                raise asyncio.TimeoutError()
            return DeliveryOutcome.ok("act-put")

    sender = UnmarkedPut(clock)
    await enqueue(db, clock, "card-1")
    w = worker(db, sender, clock)
    report = await w.run_once()
    assert (report.unknown, report.retried) == (0, 1)
    first = await row(db, "card-1")
    assert (first.status, first.attempts) == ("pending", 1)
    clock.advance(minutes=1)
    await w.run_once()
    assert sender.keys() == ["card-1", "card-1"] and (await row(db, "card-1")).status == "sent"


def _max_in_window(times, length):
    times = sorted(times)
    return max(sum(1 for t in times if start <= t < start + length) for start in times)


async def _burst(db, clock, n):
    """Enqueue n messages into one conversation at once (every other one bundled) and drain."""
    sender = ScriptedSender(clock)
    start = clock.now()
    keys = [f"m{i:03d}" for i in range(n)]
    for i, key in enumerate(keys):
        await enqueue(db, clock, key, bundle="alerts" if i % 2 else None)
    w = worker(db, sender, clock, batch_size=100)
    for _ in range(500):
        await w.run_once()
        async with db.read() as session:
            due = await store.next_due_at(session)
        if due is None:
            break
        clock._now = max(due, clock.now())
    else:
        pytest.fail("the outbox never drained")

    times = [at for _, at, _ in sender.calls]
    assert _max_in_window(times, timedelta(seconds=1)) <= 7
    assert _max_in_window(times, timedelta(seconds=30)) <= 60

    delivered = []
    for key, _, payload in sender.calls:
        if "digest" in payload:
            delivered += [item["key"] for item in payload["digest"]["items"]]
            assert all(f"- summary of {item['key']}" in payload["text"] for item in payload["digest"]["items"])
        else:
            delivered.append(key)
    assert Counter(delivered) == Counter(keys)  # every message once: none dropped, none twice
    assert any("digest" in p for _, _, p in sender.calls)
    assert len(Counter(sender.keys())) == len(sender.calls)  # no row POSTed twice

    originals = [r for r in await all_rows(db) if r.key in set(keys)]
    assert {r.status for r in originals} <= {"sent", "bundled"}
    digests = [r for r in await all_rows(db) if r.key not in set(keys)]
    assert all(r.key.startswith("digest:") for r in digests)
    assert {r.status for r in digests} <= {"sent", "bundled"}  # a waiting digest may fold into a later one
    # within the conversation, unbundled messages kept their order
    plain = [k for k in sender.keys() if not k.startswith("digest:")]
    assert plain == sorted(plain)
    return max(times) - start


async def test_a_burst_of_200_is_shaped_and_bundled_never_dropped_never_twice(db, clock):
    took = await _burst(db, clock, 200)
    assert took >= timedelta(seconds=30)  # over 60 sends: shaping must have spread them


async def test_run_forever_wakes_on_kick_and_stops(db, clock):
    sender = ScriptedSender(clock)
    w = OutboxWorker(db=db, sender=sender, clock=clock, poll_interval_s=30)
    stop = asyncio.Event()
    task = asyncio.create_task(w.run_forever(stop))
    await asyncio.sleep(0.05)
    await enqueue(db, clock, "page-1")
    w.kick()
    for _ in range(200):
        if sender.calls:
            break
        await asyncio.sleep(0.01)
    assert sender.keys() == ["page-1"]  # well before the 30 s poll interval
    stop.set()
    await asyncio.wait_for(task, 2)


async def test_a_slow_conversation_does_not_hold_up_the_others_and_keeps_its_order(db, clock):
    """A Bot Connector call that hangs (up to the send timeout) delays its own conversation only."""
    release = asyncio.Event()

    class OneSlow(ScriptedSender):
        async def deliver(self, message):
            outcome = await super().deliver(message)
            if message.key == "slow-1":
                await release.wait()
            return outcome

    async def until(condition):
        for _ in range(300):
            if condition():
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"not delivered in time: {sender.keys()}")

    sender = OneSlow(clock)
    w = OutboxWorker(db=db, sender=sender, clock=clock, poll_interval_s=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(w.run_forever(stop))
    try:
        await enqueue(db, clock, "slow-1", conversation="conv-slow")
        w.kick()
        await until(lambda: "slow-1" in sender.keys())
        await enqueue(db, clock, "slow-2", conversation="conv-slow")
        await enqueue(db, clock, "fast-1", conversation="conv-fast")
        w.kick()
        await until(lambda: "fast-1" in sender.keys())  # while slow-1 still hangs
        # The sender has the message; its "sent" is committed a moment later.
        for _ in range(300):
            if (await row(db, "fast-1")).status == "sent":
                break
            await asyncio.sleep(0.01)
        assert (await row(db, "fast-1")).status == "sent"
        assert (await row(db, "slow-1")).status == "sending"  # still hanging
        assert "slow-2" not in sender.keys()  # nothing overtakes the slow row in its own chat
        release.set()
        await until(lambda: "slow-2" in sender.keys())
        assert sender.keys() == ["slow-1", "fast-1", "slow-2"]
    finally:
        release.set()
        stop.set()
        await asyncio.wait_for(task, 5)
    assert {r.status for r in await all_rows(db)} == {"sent"}


async def test_a_send_that_hangs_past_its_timeout_is_unknown(db, clock):
    class Hanging(ScriptedSender):
        async def deliver(self, message):
            await super().deliver(message)
            await asyncio.sleep(5)

    sender = Hanging(clock)
    await enqueue(db, clock, "page-1")
    w = worker(db, sender, clock, sending_for=timedelta(seconds=0.2))
    assert (await w.run_once()).unknown == 1
    assert (await row(db, "page-1")).status == "unknown"


async def test_two_workers_on_the_same_database_never_deliver_a_row_twice(tmp_path, clock):
    path = tmp_path / "shared.db"
    db_a, db_b = await make_db(path), Database.from_url(f"sqlite:///{path}")
    sender = ScriptedSender(clock, pause=0.001)
    try:
        for i in range(60):
            await enqueue(db_a, clock, f"p{i}", conversation=f"conv-{i % 12}")
        a = worker(db_a, sender, clock, batch_size=7)
        b = worker(db_b, sender, clock, batch_size=7)
        for _ in range(20):
            reports = await asyncio.gather(a.run_once(), b.run_once(), a.run_once(), b.run_once())
            if not any(r.claimed for r in reports):
                break
        assert sorted(sender.keys()) == sorted(f"p{i}" for i in range(60))
        assert {r.status for r in await all_rows(db_a)} == {"sent"}
    finally:
        await db_a.dispose()
        await db_b.dispose()


@pytest.fixture
async def pg_engine(postgres_url):
    """A fresh database on the session's PostgreSQL server, with every table."""
    engine = create_engine(await fresh_database(postgres_url))
    async with engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.create_all)
    yield engine
    await engine.dispose()


@pytest.mark.realpeer
async def test_a_burst_is_shaped_and_bundled_on_postgres(pg_engine, clock):
    await _burst(Database(pg_engine), clock, 80)


@pytest.mark.realpeer
async def test_claim_due_skip_locked_on_postgres_gives_concurrent_claimers_disjoint_rows(pg_engine, clock):
    db = Database(pg_engine)
    for i in range(10):
        await enqueue(db, clock, f"p{i}", conversation=f"conv-{i}")
    sessions = async_sessionmaker(pg_engine, expire_on_commit=False)
    async with sessions() as first, sessions() as second:
        async with first.begin():
            mine = await store.claim_due(first, now=clock.now(), limit=6, sending_for=timedelta(seconds=60))
            # the first claim is still uncommitted and holds its row locks
            async with second.begin():
                theirs = await asyncio.wait_for(
                    store.claim_due(second, now=clock.now(), limit=6, sending_for=timedelta(seconds=60)), 5
                )
    assert len(mine) == 6 and len(theirs) == 4
    assert not {m.id for m in mine} & {m.id for m in theirs}
    assert {r.status for r in await all_rows(db)} == {"claimed"}
