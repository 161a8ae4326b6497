"""An alert storm: 10,000 alerts from one outage as 200 Alertmanager webhooks, 20 at a time,
into the real app. One incident per routing key (Alertmanager group), one escalation per
incident, and its first step pages each person once; every alert is on record."""
import asyncio
import json

import pytest
from sqlalchemy import func, select

from app import ENGINE_TICK_KEY
from storage.alerts import AlertGroup, AlertRecord
from storage.models import Incident
from storage.paging import Escalation, PageRecord
from tests.http.test_alerts_http import bearer

GROUPS, WEBHOOKS_PER_GROUP, ALERTS_PER_WEBHOOK, AT_ONCE = 20, 10, 50, 20


@pytest.fixture(autouse=True)
def token(monkeypatch):
    monkeypatch.setenv("FIREBREAK_ALERTMANAGER_TOKEN", "am-token-0123456789")


def webhook(group: int, part: int) -> bytes:
    name = f"PodCrashLooping{group:02d}"
    alerts = [{"status": "firing", "labels": {"alertname": name, "service": "field-service-app", "severity": "critical",
                                              "pod": f"pod-{part * ALERTS_PER_WEBHOOK + i:04d}"},
               "annotations": {"summary": f"{name} on pod {part * ALERTS_PER_WEBHOOK + i}"},
               "startsAt": "2026-11-29T14:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
               "generatorURL": "http://prometheus.example/graph", "fingerprint": f"{group:02d}{part:03d}{i:03d}"}
              for i in range(ALERTS_PER_WEBHOOK)]
    return json.dumps({"version": "4", "groupKey": f"{{}}:{{alertname=\"{name}\"}}", "status": "firing",
                       "receiver": "firebreak", "groupLabels": {"alertname": name}, "commonLabels": {"alertname": name},
                       "commonAnnotations": {}, "externalURL": "http://alertmanager.example", "truncatedAlerts": 0,
                       "alerts": alerts}).encode()


async def test_a_storm_of_10000_alerts_opens_one_incident_per_group_and_pages_once(harness):
    bodies = [webhook(g, p) for p in range(WEBHOOKS_PER_GROUP) for g in range(GROUPS)]
    slots = asyncio.Semaphore(AT_ONCE)

    async def send(body: bytes) -> int:
        async with slots:
            response = await harness.client.post("/api/alerts/alertmanager", data=body, headers=bearer())
            return response.status

    statuses = await asyncio.gather(*(send(b) for b in bodies))
    assert statuses == [200] * len(bodies)  # each answered only once committed

    async def counts(session):
        return tuple([(await session.execute(select(func.count()).select_from(m))).scalar_one()
                      for m in (AlertRecord, AlertGroup, Incident, Escalation)])

    assert await harness.service.read(counts) == (GROUPS * WEBHOOKS_PER_GROUP * ALERTS_PER_WEBHOOK, GROUPS, GROUPS,
                                                  GROUPS)
    await harness.client.server.app[ENGINE_TICK_KEY].tick()
    await harness.client.server.app[ENGINE_TICK_KEY].tick()  # a second tick steps nothing more

    async def pages(session):
        rows = await session.execute(select(PageRecord.incident_id, PageRecord.level, PageRecord.email,
                                            func.count()).group_by(PageRecord.incident_id, PageRecord.level,
                                                                   PageRecord.email))
        return list(rows)

    paged = await harness.service.read(pages)
    assert {row[0] for row in paged} == set(range(1, GROUPS + 1))  # every incident's first step ran
    assert all(row[1] == 0 and row[3] == 1 for row in paged)  # level 1 only, each person once per incident
