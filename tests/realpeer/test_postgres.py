"""The same flows on a real PostgreSQL: migrations, incidents, idempotency, dialog state."""
from datetime import timedelta

import pytest

from app import create_app
from bot.config import Settings
from storage import outbox
from aiohttp.test_utils import TestClient, TestServer

from tests.http.harness import GROUP, PERSONAL, Harness
from tests.realpeers import fresh_database

pytestmark = pytest.mark.realpeer


@pytest.fixture
async def pg_harness(postgres_url, connector, clock):
    url = await fresh_database(postgres_url)
    app = create_app(Settings(DATABASE_URL=url, FIREBREAK_DEV=True), clock=clock)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    yield Harness(client, connector, clock)
    await client.close()


async def test_incident_lifecycle_on_postgres(pg_harness):
    h = pg_harness
    await h.say("declare Dataverse API errors sev2 service:dataverse", GROUP)
    await h.say("ack", GROUP)
    await h.say("note investigating throttling", GROUP)
    await h.say("resolve plugin rolled back", GROUP)
    inc = await h.incident(1)
    assert (inc.status, inc.service_id, inc.resolution_summary) == ("resolved", "dataverse", "plugin rolled back")
    assert inc.declared_at.tzinfo is not None
    kinds = [e.kind for e in await h.timeline(1)]
    paging = {"escalation", "page", "page_delivery"}  # sev2 for dataverse pages its policy; the tick runs alongside
    assert [k for k in kinds if k not in paging] == ["declared", "role_assigned", "status_changed", "note", "status_changed"]
    assert kinds[2] == "escalation" and kinds[-1] == "escalation"  # started on declare, stopped on resolve


async def test_duplicate_delivery_and_card_window_on_postgres(pg_harness):
    h = pg_harness
    body = h.activity(PERSONAL, text="declare Once only sev3", activity_id="dup-1")
    await h.post(body)
    await h.post(body)
    assert await h.open_count() == 1
    await h.press("incident.set_severity", {"incident_id": 1, "severity": "sev1"})
    await h.press("incident.set_severity", {"incident_id": 1, "severity": "sev1"})
    assert [e.kind for e in await h.timeline(1)].count("severity_changed") == 1


async def test_dialog_state_on_postgres(pg_harness):
    h = pg_harness
    await h.say("declare")
    await h.say("Gateway offline")
    await h.say("sev2")
    await h.say("on-prem-data-gateway")
    inc = await h.incident(1)
    assert (inc.title, inc.severity, inc.service_id) == ("Gateway offline", "sev2", "on-prem-data-gateway")


async def test_outbox_claims_skip_held_conversations_on_postgres(pg_harness):
    """The claim query (FOR UPDATE OF ... SKIP LOCKED with the hold subquery) on PostgreSQL."""
    h = pg_harness
    later = h.clock.now() + timedelta(hours=1)  # beyond the running worker's clock: it leaves them alone

    async def enqueue(session, _now):
        for key, conversation in (("a", "c1"), ("b", "c2"), ("c", "c1")):
            await outbox.enqueue(session, key=key, conversation_id=conversation, payload={"text": key},
                                 now=later, not_before=later)
        await outbox.defer_conversation(session, conversation_id="c1", until=later + timedelta(seconds=5))

    async def claim(at):
        async def op(session, _now):
            return [m.key for m in await outbox.claim_due(session, now=at, limit=10, sending_for=timedelta(seconds=60))]
        return await h.service.execute(op)

    await h.service.execute(enqueue)
    assert await claim(later) == ["b"]
    assert await claim(later + timedelta(seconds=6)) == ["a", "c"]
