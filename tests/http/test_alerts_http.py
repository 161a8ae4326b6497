"""POST /api/alerts/{integration} against the real app: authentication before parsing, the
status codes senders rely on, nothing written on refusal, and 503 when the database is locked."""
import json
import sqlite3

import pytest
from sqlalchemy import func, select

import storage.db
from storage.alerts import AlertGroup, AlertPayload
from storage.models import Incident
from tests.http.harness import start_harness
from tests.support import FIXTURES

ALERTS = FIXTURES / "alerts"
TOKEN = "am-token-0123456789"


@pytest.fixture(autouse=True)
def secrets(monkeypatch):
    monkeypatch.setenv("FIREBREAK_ALERTMANAGER_TOKEN", TOKEN)
    monkeypatch.setenv("FIREBREAK_AZURE_ALERT_TOKEN", "azure-new")
    monkeypatch.setenv("FIREBREAK_AZURE_ALERT_TOKEN_OLD", "azure-old")


def alertmanager_body(service: str = "field-service-app") -> bytes:
    doc = json.loads((ALERTS / "alertmanager-firing-group-3alerts.json").read_text())
    for alert in doc["alerts"]:
        alert["labels"]["service"] = service
    doc["commonLabels"]["service"] = service
    return json.dumps(doc).encode()


async def counts(harness) -> tuple[int, int, int]:
    async def q(session):
        return tuple([(await session.execute(select(func.count()).select_from(m))).scalar_one()
                      for m in (AlertPayload, AlertGroup, Incident)])
    return await harness.service.read(q)


async def post(harness, integration: str, body: bytes, *, headers=None, params=None):
    response = await harness.client.post(f"/api/alerts/{integration}", data=body, params=params or {},
                                         headers={"Content-Type": "application/json", **(headers or {})})
    return response.status, await response.json()


def bearer(token=TOKEN):
    return {"Authorization": f"Bearer {token}"}


async def test_an_alertmanager_group_opens_one_incident_and_resends_attach(harness):
    status, answer = await post(harness, "alertmanager", alertmanager_body(), headers=bearer())
    assert status == 200 and answer["groups"][0]["opened"] and answer["groups"][0]["new"] == 3
    status, again = await post(harness, "alertmanager", alertmanager_body(), headers=bearer())
    assert status == 200 and again["groups"][0]["repeated"] == 3 and not again["groups"][0]["opened"]
    assert again["groups"][0]["incident"] == answer["groups"][0]["incident"]
    assert await counts(harness) == (2, 1, 1)  # both bodies kept, one group, one incident
    incident = await harness.service.view(answer["groups"][0]["incident"])
    assert incident.incident.severity == "sev1" and incident.incident.service_id == "field-service-app"


@pytest.mark.parametrize(("headers", "reason"), [
    ({}, "Authorization"),
    (bearer("wrong"), ""),
    ({"Authorization": f"Basic {TOKEN}"}, "Bearer"),
])
async def test_refused_senders_write_nothing(harness, headers, reason):
    status, answer = await post(harness, "alertmanager", alertmanager_body(), headers=headers)
    assert status == 401 and reason in answer["error"] and TOKEN not in answer["error"]
    assert await counts(harness) == (0, 0, 0)


async def test_authentication_comes_before_parsing(harness):
    status, _ = await post(harness, "alertmanager", b"{not json", headers=bearer("wrong"))
    assert status == 401  # a stranger learns nothing about what we would have parsed
    status, answer = await post(harness, "alertmanager", b"{not json", headers=bearer())
    assert status == 400 and "JSON" in answer["error"]
    assert await counts(harness) == (0, 0, 0)


async def test_azure_token_in_the_query_with_two_active_secrets(harness):
    body = (ALERTS / "azure-commonschema-metric-testaction-fired.json").read_bytes()
    assert (await post(harness, "azure", body, params={"token": "azure-new"}))[0] == 200
    assert (await post(harness, "azure", body, params={"token": "azure-old"}))[0] == 200  # rotation
    assert (await post(harness, "azure", body, params={"token": "azure-older"}))[0] == 401
    assert (await counts(harness))[0] == 2


async def test_a_non_common_azure_payload_is_refused_with_what_to_enable(harness):
    body = json.dumps({"schemaId": "AIP Budget Notification", "data": {"BudgetName": "x"}}).encode()
    status, answer = await post(harness, "azure", body, params={"token": "azure-new"})
    assert status == 422 and "common alert schema" in answer["error"]
    assert await counts(harness) == (0, 0, 0)


async def test_unknown_integration_and_metrics(harness):
    status, _ = await post(harness, "nagios", b"{}")
    assert status == 404
    await post(harness, "alertmanager", b"{}", headers=bearer("nope"))
    metrics = await (await harness.client.get("/metrics")).text()
    assert 'firebreak_alert_requests_total{integration="(unknown)",outcome="unknown_integration"} 1.0' in metrics
    assert 'firebreak_alert_requests_total{integration="alertmanager",outcome="unauthorized"} 1.0' in metrics


async def test_a_secret_missing_on_the_server_is_a_500_not_an_open_door(harness, monkeypatch):
    monkeypatch.delenv("FIREBREAK_ALERTMANAGER_TOKEN")
    status, answer = await post(harness, "alertmanager", alertmanager_body(), headers=bearer())
    assert status == 500 and "not configured" in answer["error"]
    assert await counts(harness) == (0, 0, 0)


async def test_a_body_over_the_limit_is_413_and_writes_nothing(tmp_path, connector, clock):
    h = await start_harness(tmp_path / "fb.db", connector, clock, FIREBREAK_MAX_BODY=2048)
    try:
        status, answer = await post(h, "alertmanager", alertmanager_body() + b" " * 4096, headers=bearer())
        assert status == 413 and "2048" in answer["error"]
        assert await counts(h) == (0, 0, 0)
    finally:
        await h.client.close()


async def test_a_locked_database_answers_503_with_retry_after_and_the_retry_lands(tmp_path, connector, clock,
                                                                                monkeypatch):
    monkeypatch.setattr(storage.db, "SQLITE_BUSY_TIMEOUT_MS", 300)
    path = tmp_path / "fb.db"
    h = await start_harness(path, connector, clock)
    blocker = sqlite3.connect(path, timeout=5)
    try:
        blocker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
        status, answer = await post(h, "alertmanager", alertmanager_body(), headers=bearer())
        response_headers = None
        assert status == 503 and "retry" in answer["error"].lower()
        response = await h.client.post("/api/alerts/alertmanager", data=alertmanager_body(), headers=bearer())
        response_headers = response.headers
        assert response.status == 503 and response_headers["Retry-After"] == "5"
        blocker.rollback()
        assert (await post(h, "alertmanager", alertmanager_body(), headers=bearer()))[0] == 200
        assert await counts(h) == (1, 1, 1)
    finally:
        blocker.close()
        await h.client.close()


@pytest.mark.parametrize(("raised", "status", "outcome"), [
    ("data", 422, "unprocessable"),  # the database refuses a value: a retry cannot help
    ("pool", 503, "unavailable"),  # no connection free in time: the sender retries
    ("bug", 500, "error"),  # anything else: answered, logged and counted, never silent
])
async def test_failures_while_recording_map_to_a_counted_answer(harness, monkeypatch, raised, status, outcome):
    from sqlalchemy.exc import DataError, TimeoutError as PoolTimeout

    from bot.domain import alert_ingest

    errors = {"data": DataError("INSERT", {}, ValueError("value too long")), "pool": PoolTimeout("pool exhausted"),
              "bug": RuntimeError("a bug")}

    async def failing(*args, **kwargs):
        raise errors[raised]

    monkeypatch.setattr(alert_ingest, "ingest", failing)
    code, answer = await post(harness, "alertmanager", alertmanager_body(), headers=bearer())
    assert code == status and "error" in answer
    metrics = await (await harness.client.get("/metrics")).text()
    assert f'firebreak_alert_requests_total{{integration="alertmanager",outcome="{outcome}"}} 1.0' in metrics
    assert await counts(harness) == (0, 0, 0)
