"""Each non-Alertmanager source end to end through the real app: PagerDuty Events v2 (routing
key, trigger / acknowledge / resolve, PagerDuty's own answer), generic JSON with Firebreak's HMAC
signature, and Grafana with Grafana's own HMAC signing."""
import hashlib
import hmac
import json
import time

import pytest
from sqlalchemy import select

from storage.alerts import AlertGroup
from storage.paging import Escalation

ROUTING_KEY = "R0UT1NGKEY0123456789abcdef012345"
GENERIC_SECRET = "generic-secret-0123456789"
GRAFANA_SECRET = "grafana-secret-0123456789"


@pytest.fixture(autouse=True)
def secrets(monkeypatch, tmp_path):
    monkeypatch.setenv("FIREBREAK_PAGERDUTY_ROUTING_KEY", ROUTING_KEY)
    monkeypatch.setenv("FIREBREAK_GENERIC_ALERT_SECRET", GENERIC_SECRET)


async def post(harness, integration, body: bytes, headers=None):
    response = await harness.client.post(f"/api/alerts/{integration}", data=body,
                                         headers={"Content-Type": "application/json", **(headers or {})})
    return response.status, await response.json()


def pagerduty(action: str, **payload) -> bytes:
    event = {"routing_key": ROUTING_KEY, "event_action": action, "dedup_key": "srv-gw-01-down"}
    if action == "trigger":
        event["payload"] = {"summary": "Gateway gw-01 unreachable", "source": "gw-01", "severity": "critical",
                            "component": "api", **payload}
    return json.dumps(event).encode()


async def test_pagerduty_trigger_acknowledge_resolve(harness):
    status, answer = await post(harness, "pagerduty", pagerduty("trigger"))
    assert (status, answer) == (202, {"status": "success", "message": "Event processed", "dedup_key": "srv-gw-01-down"})
    assert (await post(harness, "pagerduty", pagerduty("trigger")))[0] == 202  # a resend: nothing new

    async def state(session):
        groups = list((await session.execute(select(AlertGroup))).scalars())
        escalations = list((await session.execute(select(Escalation))).scalars())
        return groups, escalations

    [group], [escalation] = await harness.service.read(state)
    view = await harness.service.view(group.incident_id)
    assert (view.incident.service_id, view.incident.severity) == ("azure-api", "sev2")  # the default route
    assert escalation.status == "active"
    # acknowledge: paging stops and the incident is acknowledged, as if someone had pressed the button
    assert (await post(harness, "pagerduty", pagerduty("acknowledge")))[0] == 202
    [group], [escalation] = await harness.service.read(state)
    assert escalation.status == "acknowledged"
    assert (await harness.service.view(group.incident_id)).incident.status == "acknowledged"
    assert (await post(harness, "pagerduty", pagerduty("resolve")))[0] == 202
    [group], _ = await harness.service.read(state)
    assert group.status == "resolved"


async def test_pagerduty_with_a_wrong_routing_key_is_refused(harness):
    body = json.loads(pagerduty("trigger"))
    body["routing_key"] = "not-the-key"
    status, answer = await post(harness, "pagerduty", json.dumps(body).encode())
    assert status == 401 and "not-the-key" not in answer["error"]


def signed(secret: str, body: bytes, *, separator: str = ".", prefix: str = "sha256=", at: int | None = None):
    stamp = str(at if at is not None else int(time.time()))
    digest = hmac.new(secret.encode(), stamp.encode() + separator.encode() + body, hashlib.sha256).hexdigest()
    return stamp, prefix + digest


async def test_generic_json_with_firebreak_signature(harness, clock):
    body = json.dumps({"id": "backup-nightly", "title": "Nightly backup failed", "severity": "error",
                       "labels": {"job": "backup"}}).encode()
    stamp, signature = signed(GENERIC_SECRET, body, at=int(clock.now().timestamp()))
    status, answer = await post(harness, "generic", body, {"X-Firebreak-Timestamp": stamp,
                                                            "X-Firebreak-Signature": signature})
    assert status == 200 and answer["groups"][0]["opened"]
    view = await harness.service.view(answer["groups"][0]["incident"])
    assert (view.incident.title, view.incident.severity) == ("Nightly backup failed", "sev4")
    # a replay ten minutes later is refused: outside the 5 minute window
    stamp, signature = signed(GENERIC_SECRET, body, at=int(clock.now().timestamp()) - 600)
    status, answer = await post(harness, "generic", body, {"X-Firebreak-Timestamp": stamp,
                                                            "X-Firebreak-Signature": signature})
    assert status == 401 and "window" in answer["error"]


async def test_grafana_with_its_own_signing(harness, clock, tmp_path, monkeypatch):
    secret_file = tmp_path / "grafana-hmac"
    secret_file.write_text(GRAFANA_SECRET + "\n")
    plan = harness.service.plan
    grafana = plan.integration("grafana")
    patched = grafana.model_copy(update={"auth": grafana.auth.model_copy(update={"secret_file": (str(secret_file),)})})
    monkeypatch.setattr(type(plan), "integration", lambda self, i: patched if i == "grafana" else None)
    body = json.dumps({
        "receiver": "firebreak", "status": "firing", "orgId": 1, "title": "[FIRING:1] Dataverse latency",
        "state": "alerting", "message": "Dataverse latency high", "groupKey": "{}:{alertname=\"DataverseLatency\"}",
        "truncatedAlerts": 0, "version": "1", "groupLabels": {"alertname": "DataverseLatency"},
        "commonLabels": {"alertname": "DataverseLatency", "service": "dataverse"}, "externalURL": "https://grafana.example",
        "alerts": [{"status": "firing", "labels": {"alertname": "DataverseLatency", "service": "dataverse"},
                    "annotations": {"summary": "p95 above 2s"}, "startsAt": "2026-11-29T14:00:00Z",
                    "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "abc123", "dashboardURL":
                    "https://grafana.example/d/dv", "panelURL": "https://grafana.example/d/dv?viewPanel=2",
                    "silenceURL": "https://grafana.example/alerting/silence/new", "values": {"B": 2.4}}]}).encode()
    stamp, signature = signed(GRAFANA_SECRET, body, separator=":", prefix="", at=int(clock.now().timestamp()))
    status, answer = await post(harness, "grafana", body, {"X-Grafana-Alerting-Signature-Timestamp": stamp,
                                                            "X-Grafana-Alerting-Signature": signature})
    assert status == 200, answer
    view = await harness.service.view(answer["groups"][0]["incident"])
    assert (view.incident.title, view.incident.service_id) == ("⁅FIRING:1⁆ Dataverse latency", "dataverse")  # inert brackets
    assert {link.title for link in view.alerts.links} >= {"Dashboard"}
