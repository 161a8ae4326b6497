"""An acknowledgement racing the next level's due time never leads to a page after the ack.

Both run as real transactions on a real SQLite file, in random order and timing, many times.
Whichever commits second sees the other: either the ack stops the escalation before level 2
is computed, or level 2 is paged first and the ack then cancels every contact attempt of it
that has not gone out (and the senders re-check before speaking)."""
import asyncio
import random
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.domain import incidents, paging
from bot.domain import escalation_rules as rules
from bot.domain.model import Actor, Source
from bot.domain.service import IncidentService
from bot.plan import load_plan
from storage import paging as store
from storage.models import TimelineEvent
from storage.outbox import OutboxMessage
from tests.support import EXAMPLE_PLAN, FakeClock, sqlite_with_schema

RUNS = 40
SOFIA = Actor(aad_id="aad-sofia", name="Sofia Martins", email="sofia.martins@contoso.com")


@pytest.fixture
async def service(tmp_path):
    db = await sqlite_with_schema(tmp_path / "race.db")
    yield IncidentService(db=db, plan=lambda: PLAN, clock=FakeClock())
    await db.dispose()


PLAN = load_plan(EXAMPLE_PLAN)
SNAPSHOT = rules.PolicySnapshot(
    policy_id="race", repeat=0, finally_notify=(),
    levels=(rules.LevelSnapshot(targets=("person:sofia.martins@contoso.com",), after=timedelta(minutes=1)),
            rules.LevelSnapshot(targets=("person:tom.becker@contoso.com",), after=timedelta(minutes=1))))


async def _jitter(rng: random.Random) -> None:
    for _ in range(rng.randint(0, 3)):
        await asyncio.sleep(0)
    if rng.random() < 0.5:
        await asyncio.sleep(rng.random() * 0.004)


async def test_an_ack_racing_the_level_two_due_time_never_leads_to_a_page_after_it(service):
    rng = random.Random(20261129)
    outcomes = {"ack first": 0, "level 2 first": 0}
    for run in range(RUNS):
        clock: FakeClock = service.clock
        view = await service.execute(lambda s, now: incidents.declare(
            session=s, plan=PLAN, title=f"Race {run}", severity="sev3", actor=SOFIA, source=Source.COMMAND, now=now))
        escalation = await service.execute(lambda s, now: paging.start(
            s, plan=PLAN, incident_id=view.id, snapshot=SNAPSHOT, reason="race", actor=SOFIA,
            source=Source.COMMAND, now=now))
        await service.execute(lambda s, now: paging.run_due(s, plan=PLAN, now=now))  # level 1
        clock.advance(minutes=1)  # level 2 is due this instant

        async def tick():
            await _jitter(rng)
            await service.execute(lambda s, now: paging.run_due(s, plan=PLAN, now=now))

        async def ack():
            await _jitter(rng)
            await service.execute(lambda s, now: paging.acknowledge(
                s, escalation_id=escalation.id, actor=SOFIA, source=Source.CARD, now=now))

        await asyncio.gather(tick(), ack())
        clock.advance(minutes=5)
        await service.execute(lambda s, now: paging.run_due(s, plan=PLAN, now=now))  # later ticks change nothing

        async def facts(session):
            events = (await session.execute(select(TimelineEvent).where(TimelineEvent.incident_id == view.id)
                                            .order_by(TimelineEvent.id))).scalars().all()
            pages = await store.pages_of(session, escalation.id)
            keys = [f"page:{p.id}:" for p in pages]
            rows = (await session.execute(select(OutboxMessage))).scalars().all()
            return events, pages, [r for r in rows if any(r.key.startswith(k) for k in keys)]

        events, pages, contact_rows = await service.read(facts)
        kinds = [e.kind for e in events]
        assert kinds.count("page_ack") == 1
        ack_at = kinds.index("page_ack")
        level_two = [p for p in pages if p.level == 1]
        if level_two:
            outcomes["level 2 first"] += 1
            assert kinds.count("page") == 2 and kinds.index("page", kinds.index("page") + 1) < ack_at
        else:
            outcomes["ack first"] += 1
            assert kinds.count("page") == 1
        assert all(e.kind != "page" for e in events[ack_at:]), "a page was computed after the ack"
        # nothing is left to go out after the ack: every contact attempt not sent is cancelled
        assert [r.status for r in contact_rows if r.status not in ("cancelled",)] == [], contact_rows
        assert all(p.status == "acknowledged" for p in pages)
    # the race really went both ways
    assert outcomes["ack first"] > 0 and outcomes["level 2 first"] > 0, outcomes
