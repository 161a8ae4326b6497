"""A real Prometheus Alertmanager (Debian's package, on 127.0.0.1, cluster listening off)
posts its webhooks to the real app: alerts given to Alertmanager's API open one incident,
page the on-call person on the fake Bot Connector, and resolving them closes the alert group."""
from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

import aiohttp
import pytest
from sqlalchemy import select

from app import ENGINE_TICK_KEY
from bot.domain import conversations
from storage.alerts import AlertGroup, AlertRecord
from tests.http.harness import start_harness
from tests.http.test_paging import _page_cards, _paged
from tests.realpeers import ALERTMANAGER, alertmanager_server
from tests.support import FIXTURES

pytestmark = pytest.mark.realpeer
TOKEN = "am-real-peer-token-0123456789"


@pytest.fixture
async def harness(tmp_path, connector, clock):
    h = await start_harness(tmp_path / "fb.db", connector, clock)
    yield h
    await h.client.close()


@pytest.fixture(autouse=True)
def needs_alertmanager(monkeypatch):
    if not ALERTMANAGER.exists():
        pytest.skip("prometheus-alertmanager is not installed: run `make tools` (apt-get install prometheus-alertmanager)")
    monkeypatch.setenv("FIREBREAK_ALERTMANAGER_TOKEN", TOKEN)


def _alerts(*, resolved: bool) -> list[dict]:
    """The fixture's alerts for Alertmanager's API, for a service the example plan routes."""
    alerts = json.loads((FIXTURES / "alerts" / "alertmanager-api-v2-post-request.json").read_text())
    now = datetime.now(timezone.utc)
    for alert in alerts:
        alert["labels"]["service"] = "field-service-app"
        alert["startsAt"] = (now - timedelta(minutes=5)).isoformat()
        if resolved:
            alert["endsAt"] = (now - timedelta(seconds=1)).isoformat()
    return alerts


async def _groups(harness):
    async def rows(session):
        groups = list((await session.execute(select(AlertGroup))).scalars())
        alerts = list((await session.execute(select(AlertRecord))).scalars())
        return groups, alerts
    return await harness.service.read(rows)


async def _eventually(probe, timeout=20.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await probe()
        if found:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("Alertmanager's webhook did not arrive in time")
        await asyncio.sleep(0.1)


async def test_alertmanager_opens_one_incident_pages_and_resolves_the_group(harness, connector):
    await harness.bind_incidents_channel()
    await harness.service.execute(lambda s, now: conversations.remember_person(
        s, aad_object_id="aad-sofia", display_name="Sofia Martins", email="sofia.martins@contoso.com", now=now))
    port = harness.client.server.port
    webhook = f"http://127.0.0.1:{port}/api/alerts/alertmanager"
    with alertmanager_server(webhook_url=webhook, bearer_token=TOKEN, group_by=["alertname", "service"]) as am:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{am}/api/v2/alerts", json=_alerts(resolved=False)) as posted:
                assert posted.status == 200, await posted.text()

            async def opened():
                groups, alerts = await _groups(harness)
                return (groups, alerts) if len(groups) == 2 and all(g.incident_id for g in groups) and len(alerts) == 5 \
                    else None

            groups, alerts = await _eventually(opened)
            # grouped by alertname and service: HighLatency (web-1..3 and pay-1) and DiskFull (db-1)
            by_name = {g.title.split(":")[0]: g for g in groups}
            latency = by_name["HighLatency"]
            assert latency.status == "open" and latency.route == "routes[1] (Field Service app)"
            incidents = {g.incident_id for g in groups}
            assert len(incidents) == len(groups)  # one incident per group, never two for one group
            view = await harness.service.view(latency.incident_id)
            assert (view.incident.severity, view.incident.service_id) == ("sev1", "field-service-app")

            # the service's policy pages the on-call person (Sofia) in Teams
            await harness.client.server.app[ENGINE_TICK_KEY].tick()
            await harness.until(lambda: _page_cards(connector), timeout=10)
            assert "sofia.martins@contoso.com" in await _paged(harness, connector)

            # Alertmanager re-sends nothing new while firing; then the alerts resolve
            async with http.post(f"{am}/api/v2/alerts", json=_alerts(resolved=True)) as posted:
                assert posted.status == 200

            async def resolved():
                groups, _alerts = await _groups(harness)
                return groups if all(g.status == "resolved" for g in groups) else None

            groups = await _eventually(resolved)
            _groups_now, alerts = await _groups(harness)
            assert {a.status for a in alerts} == {"resolved"}
            assert len({g.incident_id for g in groups}) == len(incidents)  # no new incident on resolve
            events = [e.text for e in await harness.timeline(latency.incident_id)]
            assert any(t and t.startswith("all 4 alerts of the group resolved") for t in events)
