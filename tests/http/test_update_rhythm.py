"""Status updates on a rhythm: an overdue update is reminded once in the space and recorded."""
import asyncio

from sqlalchemy import select

from app import ENGINE_TICK_KEY
from bot.domain import update_rhythm
from storage.outbox import OutboxMessage
from tests.http.harness import GROUP


async def _reminders(harness):
    async def rows(session):
        return (await session.execute(select(OutboxMessage).where(OutboxMessage.key.like("update-due:%")))).scalars().all()
    return await harness.service.read(rows)


async def test_an_overdue_update_is_reminded_once_and_recorded(harness, clock, connector):
    tick = harness.client.server.app[ENGINE_TICK_KEY].tick
    await harness.say("declare Checkout slow sev1", GROUP)  # sev1: an update every 30m
    await harness.say("assign comms me", GROUP, user=("aad-emma", "Emma Dubois"))
    clock.advance(minutes=29)
    await tick()
    assert await _reminders(harness) == []
    clock.advance(minutes=2)
    await tick()
    await tick()  # a second tick (or a second process) reminds nothing more
    [reminder] = await _reminders(harness)
    # and while the update stays missing, later ticks only read: nothing left to remind
    plan = harness.service.plan
    assert not await harness.service.read(lambda s: update_rhythm.any_overdue(s, plan=plan, now=clock.now()))
    assert "Emma Dubois: a status update for INC-1 was due at 2026-11-29 14:35 UTC" in reminder.payload["text"]
    missed = [e for e in await harness.timeline(1) if e.kind == "update_due"]
    assert len(missed) == 1 and "14:35 UTC" in missed[0].text
    # it is delivered into the incident's chat
    for _ in range(100):
        if any("status update for INC-1" in (r.json or {}).get("text", "") for r in connector.find(method="POST")):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the reminder was not delivered")

    # posting an update moves the next due time: no reminder until 30 minutes after it
    await harness.say("update Cache warmed, latency recovering", GROUP)
    clock.advance(minutes=20)
    await tick()
    assert len(await _reminders(harness)) == 1
    clock.advance(minutes=11)
    await tick()
    assert len(await _reminders(harness)) == 2


async def test_severities_without_a_rhythm_and_resolved_incidents_are_not_reminded(harness, clock):
    tick = harness.client.server.app[ENGINE_TICK_KEY].tick
    await harness.say("declare Minor glitch sev4", GROUP)  # sev4 sets no update_every
    await harness.say("declare Big one sev1", conversation_id="other-chat")
    await harness.say("resolve done", conversation_id="other-chat")
    clock.advance(hours=5)
    await tick()
    assert await _reminders(harness) == []


async def test_readyz_reports_the_tick(harness):
    ready = await harness.client.get("/readyz")
    assert ready.status == 200 and (await ready.json())["tick"] == "ok"


async def test_an_overdue_update_is_found_however_many_incidents_are_open(harness, clock):
    """The oldest open incident is the likeliest to be overdue: it must not fall outside a page
    of newest incidents (the check once looked at the newest 500 only)."""
    from storage.models import Incident

    tick = harness.client.server.app[ENGINE_TICK_KEY].tick
    await harness.say("declare Checkout slow sev1", GROUP)  # INC-1, sev1: an update every 30m
    now = clock.now()

    async def many(session, _now):
        session.add_all(Incident(title=f"Minor {i}", severity="sev4", status="declared", declared_at=now,
                                 updated_at=now, home_conversation_id=f"chat-{i}") for i in range(600))

    await harness.service.execute(many)
    clock.advance(minutes=31)
    await tick()
    [reminder] = await _reminders(harness)
    assert reminder.key.startswith("update-due:1:") and reminder.incident_id == 1
