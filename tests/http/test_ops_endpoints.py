"""Operational endpoints and the HTTP contract around /api/messages."""
import sqlite3

import pytest
from aiohttp.test_utils import TestClient, TestServer

from app import ENGINE_KEY, create_app
from bot.errors import ConfigError
from tests.http.harness import PERSONAL, dev_settings


async def test_health_ready_and_metrics(harness):
    client = harness.client
    assert (await (await client.get("/healthz")).json()) == {"status": "alive"}
    ready = await client.get("/readyz")
    assert ready.status == 200 and (await ready.json())["database"] == "ok"
    await harness.say("help")
    metrics = await (await client.get("/metrics")).text()
    assert 'firebreak_http_requests_total{route="/api/messages",status="201"}' in metrics or \
        'firebreak_http_requests_total{route="/api/messages",status="200"}' in metrics


async def test_readyz_fails_when_the_database_is_gone(tmp_path, clock):
    db = tmp_path / "sub" / "fb.db"
    app = create_app(dev_settings(db), clock=clock)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        assert (await client.get("/readyz")).status == 200
        await app[ENGINE_KEY].dispose()  # drop pooled connections, then take the database away
        for f in db.parent.iterdir():
            f.unlink()
        db.parent.rmdir()
        resp = await client.get("/readyz")
        assert resp.status == 503 and (await resp.json())["database"] == "unreachable"
    finally:
        await client.close()


async def test_oversized_body_is_413_and_nothing_is_written(harness):
    body = harness.activity(PERSONAL, text="declare " + "x" * (1024 * 1024) + " sev1")
    status, _ = await harness.post(body)
    assert status == 413
    assert await harness.open_count() == 0


async def test_start_up_refuses_a_database_from_a_newer_version(tmp_path, clock):
    db_path = tmp_path / "fb.db"
    first = create_app(dev_settings(db_path), clock=clock)
    client = TestClient(TestServer(first, host="127.0.0.1"))
    await client.start_server()
    await client.close()
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'fffffffff'")
    app = create_app(dev_settings(db_path), clock=clock)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    with pytest.raises(ConfigError, match="fffffffff.*newer version"):
        await client.start_server()
    await client.close()
