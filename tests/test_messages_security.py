"""POST /api/messages against the real aiohttp app: who gets in, who is refused, and how.

Production mode validates real RS256 tokens against a local fake OpenID/JWKS server (no
network here). Every refusal must be a 401 with the bot's handler never run.
"""
from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from botbuilder.core import ActivityHandler, TurnContext

from bot.config import Settings
from bot.errors import ConfigError
from bot.teams.adapter import build_adapter
from bot.teams.messages_endpoint import messages_handler
from bot.teams.security import activity_tenant_id, gate_activity, is_allowed_service_url
from tests.fakes.openid import FakeOpenIdServer

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "teams"
APP_ID = "5f1b2c3d-0000-4000-8000-00000000b07a"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"  # the tenant of the fixture below
OTHER_TENANT = "11111111-2222-3333-4444-555555555555"
TEAMS_URL = "https://smba.trafficmanager.net/amer/"
LOOPBACK_URL = "http://127.0.0.1:9/"  # nothing is sent there by the recording bot
AAD_ISSUER = "https://sts.windows.net/d6d49420-f39b-4df7-a1dc-d59a935871db/"  # emulator tokens
MAX_BODY = 64 * 1024


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


class RecordingBot(ActivityHandler):
    """Records every turn it is given; raises `fail_with` if set."""

    def __init__(self) -> None:
        self.turns: list[Any] = []
        self.fail_with: BaseException | None = None

    async def on_turn(self, turn_context: TurnContext) -> None:
        self.turns.append(turn_context.activity)
        if self.fail_with is not None:
            raise self.fail_with
        await super().on_turn(turn_context)


def prod_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        app_id=APP_ID, app_password="not-a-real-secret", app_tenant_id=TENANT,
        app_type="SingleTenant", allowed_tenants_raw="", dev=False, max_body=MAX_BODY,
    )
    values.update(overrides)
    return Settings(**values)


def dev_settings() -> Settings:
    return Settings(app_id="", app_password="", app_tenant_id="", allowed_tenants_raw="",
                    dev=True, max_body=MAX_BODY)


def make_app(settings: Settings, bot: Any, metadata_url: str | None = None) -> web.Application:
    adapter = build_adapter(settings, openid_metadata_url=metadata_url)
    handler = messages_handler(adapter=adapter, bot=bot, settings=settings)
    app = web.Application()
    app.router.add_post("/api/messages", handler)
    return app


def client_for(settings: Settings, bot: Any, metadata_url: str | None = None) -> TestClient:
    """An aiohttp test client for the app (use with `async with`)."""
    return TestClient(TestServer(make_app(settings, bot, metadata_url)))


@pytest.fixture
async def idp():
    async with FakeOpenIdServer() as server:
        yield server


@pytest.fixture
async def prod(idp):
    bot = RecordingBot()
    async with client_for(prod_settings(), bot, idp.metadata_url) as client:
        yield client, bot, idp


@pytest.fixture
async def dev():
    bot = RecordingBot()
    async with client_for(dev_settings(), bot) as client:
        yield client, bot


def message(**changes: Any) -> dict[str, Any]:
    activity = copy.deepcopy(load("docs-message-personal-full-inbound.json"))
    activity.update(changes)
    return activity


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- production: tokens -----------------------------------------------------------------------


async def test_valid_token_reaches_the_bot(prod):
    client, bot, idp = prod
    token = idp.mint(app_id=APP_ID, service_url=TEAMS_URL)
    response = await client.post("/api/messages", json=message(), headers=bearer(token))
    assert response.status in (200, 201)
    assert len(bot.turns) == 1
    assert bot.turns[0].id == message()["id"]


@pytest.mark.parametrize(
    "case",
    ["no token", "bad signature", "wrong audience", "expired", "unknown kid", "foreign issuer",
     "serviceurl claim mismatch", "not a jwt", "basic scheme"],
)
async def test_bad_tokens_are_401_and_never_run_the_bot(prod, case, caplog):
    client, bot, idp = prod
    caplog.set_level(logging.DEBUG)
    mint = idp.mint
    headers = {
        "no token": {},
        "bad signature": bearer(mint(app_id=APP_ID, service_url=TEAMS_URL, wrong_key=True)),
        "wrong audience": bearer(mint(app_id="someone-elses-bot", service_url=TEAMS_URL)),
        "expired": bearer(mint(app_id=APP_ID, service_url=TEAMS_URL, expires_in=-3600)),
        "unknown kid": bearer(
            mint(app_id=APP_ID, service_url=TEAMS_URL, wrong_key=True, kid="rotated")
        ),
        "foreign issuer": bearer(mint(app_id=APP_ID, service_url=TEAMS_URL, issuer=AAD_ISSUER)),
        "serviceurl claim mismatch": bearer(
            mint(app_id=APP_ID, service_url="https://smba.trafficmanager.net/emea/")
        ),
        "not a jwt": {"Authorization": "Bearer not.a.jwt"},
        "basic scheme": {"Authorization": "Basic dXNlcjpwYXNz"},
    }[case]
    response = await client.post("/api/messages", json=message(), headers=headers)
    assert response.status == 401, await response.text()
    assert bot.turns == []
    secret = headers.get("Authorization", "").partition(" ")[2]
    if secret:
        for record in caplog.records:
            assert secret not in record.getMessage()
            assert secret not in (record.exc_text or "")


@pytest.mark.parametrize(
    "case, changes",
    [
        ("wrong tenant", {"channelData": {"tenant": {"id": OTHER_TENANT}}}),
        ("no tenant", {"channelData": {}}),
        ("not msteams", {"channelId": "webchat"}),
        ("serviceUrl not Teams", {"serviceUrl": "https://evil.example.com/"}),
        ("serviceUrl plain http", {"serviceUrl": "http://smba.trafficmanager.net/amer/"}),
    ],
)
async def test_valid_token_but_refused_activity_is_401(prod, case, changes, caplog):
    client, bot, idp = prod
    caplog.set_level(logging.WARNING, logger="bot.teams.messages_endpoint")
    activity = message(**changes)
    # The token itself is fine (and names the activity's serviceUrl): only the gate refuses.
    token = idp.mint(app_id=APP_ID, service_url=activity["serviceUrl"])
    response = await client.post("/api/messages", json=activity, headers=bearer(token))
    assert response.status == 401
    assert await response.read() == b""
    assert bot.turns == []
    assert any("refused activity" in r.getMessage() for r in caplog.records)
    assert idp.keys_requests == 0  # refused before any token work


async def test_allowed_extra_tenant_is_served(idp):
    bot = RecordingBot()
    settings = prod_settings(allowed_tenants_raw=OTHER_TENANT)
    async with client_for(settings, bot, idp.metadata_url) as client:
        activity = message(channelData={"tenant": {"id": OTHER_TENANT}})
        token = idp.mint(app_id=APP_ID, service_url=TEAMS_URL)
        response = await client.post("/api/messages", json=activity, headers=bearer(token))
    assert response.status in (200, 201)
    assert len(bot.turns) == 1


def test_production_without_credentials_refuses_to_build():
    with pytest.raises(ConfigError, match="MICROSOFT_APP_ID"):
        build_adapter(prod_settings(app_id=""))


# -- size and shape ---------------------------------------------------------------------------


async def test_body_over_limit_by_content_length_is_413(prod):
    client, bot, _ = prod
    body = json.dumps(message(text="x" * (MAX_BODY + 10))).encode()
    response = await client.post(
        "/api/messages", data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status == 413
    assert bot.turns == []


async def test_chunked_body_over_limit_is_413(prod):
    client, bot, _ = prod
    chunk = b" " * 8192
    sent = 0

    async def chunks():
        nonlocal sent
        yield b'{"type": "message", "text": "'
        for _ in range(4 * MAX_BODY // len(chunk)):
            sent += len(chunk)
            yield chunk
        yield b'"}'

    response = await client.post(
        "/api/messages", data=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.request_info.headers.get("Transfer-Encoding") == "chunked"
    assert response.status == 413
    assert bot.turns == []


@pytest.mark.parametrize(
    "body, content_type",
    [
        (b'{"type": "message", "text": ', "application/json"),
        (b"\xff\xfe not utf-8", "application/json"),
        (b"[1, 2, 3]", "application/json"),
        (b'{"text": "no type"}', "application/json"),
        (b"type=message", "application/x-www-form-urlencoded"),
    ],
)
async def test_malformed_bodies_are_400(prod, body, content_type):
    client, bot, _ = prod
    response = await client.post("/api/messages", data=body, headers={"Content-Type": content_type})
    assert response.status == 400
    text = await response.text()
    assert 0 < len(text) < 120
    assert bot.turns == []


async def test_activity_that_does_not_deserialize_is_400_not_500(dev):
    client, bot = dev
    activity = message(serviceUrl=LOOPBACK_URL, timestamp="not a date")
    response = await client.post("/api/messages", json=activity)
    assert response.status == 400
    assert bot.turns == []


# -- errors inside the turn -------------------------------------------------------------------


async def test_unexpected_error_is_500_without_details_and_logged_with_activity_id(dev, caplog):
    client, bot = dev
    bot.fail_with = RuntimeError("database password is hunter2")
    activity = message(serviceUrl=LOOPBACK_URL)
    response = await client.post("/api/messages", json=activity)
    assert response.status == 500
    assert "hunter2" not in await response.text()
    assert any(activity["id"] in r.getMessage() and r.exc_info for r in caplog.records)


async def test_permission_error_inside_the_turn_is_500_not_401(dev):
    client, bot = dev
    bot.fail_with = PermissionError("Failed to get access token")  # the SDK would answer 401
    response = await client.post("/api/messages", json=message(serviceUrl=LOOPBACK_URL))
    assert response.status == 500
    assert len(bot.turns) == 1


# -- dev mode ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:56150/_connector", "http://localhost:3979/", "http://[::1]:8080/"]
)
async def test_dev_mode_accepts_loopback_service_url_without_token(dev, url):
    client, bot = dev
    response = await client.post("/api/messages", json=message(serviceUrl=url))
    assert response.status in (200, 201)
    assert len(bot.turns) == 1


@pytest.mark.parametrize(
    "url",
    [
        TEAMS_URL,
        "http://10.0.0.5/",
        "http://127.0.0.1.evil.example/",
        "http://localhost@evil.example/",
        None,
    ],
)
async def test_dev_mode_refuses_non_loopback_service_url(dev, url):
    client, bot = dev
    response = await client.post("/api/messages", json=message(serviceUrl=url))
    assert response.status == 401
    assert bot.turns == []


# -- the pure helpers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, dev, allowed",
    [
        ("https://smba.trafficmanager.net/amer/", False, True),
        ("https://smba.infra.gcc.teams.microsoft.com/teams/", False, True),
        ("https://smba.infra.gov.teams.microsoft.us/teams/", False, True),
        ("https://smba.infra.dod.teams.microsoft.us/teams/", False, True),
        ("https://SMBA.trafficmanager.net/amer/", False, True),
        ("https://smba.trafficmanager.net:443/amer/", False, True),
        ("https://smba.trafficmanager.net:8443/amer/", False, False),
        ("http://smba.trafficmanager.net/amer/", False, False),
        ("https://smba.trafficmanager.net.evil.example/", False, False),
        ("https://evil.example/smba.trafficmanager.net/", False, False),
        ("https://smba.trafficmanager.net@evil.example/", False, False),
        ("https://smba.trafficmanager.net\\@evil.example/", False, False),
        ("https://smba.trafficmanager.net\n.evil.example/", False, False),
        ("https://127.0.0.1/", False, False),
        ("http://127.0.0.1:3978/", True, True),
        ("https://smba.trafficmanager.net/amer/", True, False),
        ("ftp://127.0.0.1/", True, False),
        ("", False, False),
        (12, False, False),
    ],
)
def test_is_allowed_service_url(url, dev, allowed):
    assert is_allowed_service_url(url, dev=dev) is allowed


def test_activity_tenant_id_reads_both_places():
    both = {"conversation": {"tenantId": "a"}, "channelData": {"tenant": {"id": "a"}}}
    assert activity_tenant_id(both) == "a"
    assert activity_tenant_id({"channelData": {"tenant": {"id": "b"}}}) == "b"
    assert activity_tenant_id({"conversation": "weird", "channelData": {"tenant": "x"}}) is None
    assert activity_tenant_id([]) is None


def test_gate_refuses_disagreeing_tenant_ids():
    activity = message(conversation={"id": "c", "tenantId": OTHER_TENANT})
    assert activity["channelData"]["tenant"]["id"] == TENANT
    reason = gate_activity(activity, prod_settings())
    assert reason == "conversation.tenantId and channelData.tenant.id disagree"
    assert gate_activity(message(), prod_settings()) is None
