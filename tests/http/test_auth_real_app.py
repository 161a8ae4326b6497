"""The full Firebreak app in production mode: every refused request is a 401, runs no handler
and writes nothing (no incident, no timeline, no bot state, no outbound call)."""
import pytest
from sqlalchemy import select
from aiohttp.test_utils import TestClient, TestServer

from app import SERVICE_KEY, create_app
from bot.config import Settings
from storage import queries
from storage.models import BotState, Person, ProcessedKey
from tests.fakes.openid import FakeOpenIdServer
from tests.http.harness import CHANNEL, GROUP, PERSONAL, Harness

APP_ID = "5f1b2c3d-0000-4000-8000-00000000b07a"
TENANT = "00000000-0000-0000-0000-0000000000001"  # the tenant of the Playground fixtures
TEAMS_URL = "https://smba.trafficmanager.net/amer/"


@pytest.fixture
async def idp():
    async with FakeOpenIdServer() as server:
        yield server


@pytest.fixture
async def prod(tmp_path, idp, connector, clock):
    settings = Settings(MICROSOFT_APP_ID=APP_ID, MICROSOFT_APP_PASSWORD="not-a-real-secret",
                        MICROSOFT_APP_TENANT_ID=TENANT, DATABASE_URL=f"sqlite:///{tmp_path}/fb.db")
    app = create_app(settings, clock=clock, openid_metadata_url=idp.metadata_url)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    yield Harness(client, connector, clock)
    await client.close()


async def _nothing_written(h: Harness) -> None:
    async def counts(session):
        tables = [BotState, Person, ProcessedKey]
        found = {t.__tablename__: len((await session.execute(select(t))).all()) for t in tables}
        found["incidents"] = await queries.count_open(session)
        return found

    assert await h.client.server.app[SERVICE_KEY].read(counts) == {
        "bot_state": 0, "person": 0, "processed_key": 0, "incidents": 0}
    assert h.connector.requests == []


def _activity(h: Harness, fixture: str, **patch) -> dict:
    body = h.activity(fixture, text="declare Should not exist sev1")
    body["serviceUrl"] = TEAMS_URL
    body.update(patch)
    return body


async def _post(h: Harness, body: dict, token: str | None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    resp = await h.client.post("/api/messages", json=body, headers=headers)
    return resp.status


@pytest.mark.parametrize("fixture", [PERSONAL, GROUP, CHANNEL])
async def test_no_token_is_401(prod, fixture):
    assert await _post(prod, _activity(prod, fixture), None) == 401
    await _nothing_written(prod)


@pytest.mark.parametrize("case", ["wrong_key", "wrong_audience", "expired", "garbage", "empty"])
async def test_bad_token_is_401(prod, idp, case):
    body = _activity(prod, PERSONAL)
    token = {
        "wrong_key": lambda: idp.mint(app_id=APP_ID, service_url=TEAMS_URL, wrong_key=True),
        "wrong_audience": lambda: idp.mint(app_id="someone-else", service_url=TEAMS_URL),
        "expired": lambda: idp.mint(app_id=APP_ID, service_url=TEAMS_URL, expires_in=-3600),
        "garbage": lambda: "not.a.jwt",
        "empty": lambda: "",
    }[case]()
    assert await _post(prod, body, token) == 401
    await _nothing_written(prod)


async def test_wrong_tenant_is_401_even_with_a_valid_token(prod, idp):
    body = _activity(prod, GROUP)
    body["conversation"]["tenantId"] = "99999999-9999-9999-9999-999999999999"
    body["channelData"]["tenant"]["id"] = "99999999-9999-9999-9999-999999999999"
    assert await _post(prod, body, idp.mint(app_id=APP_ID, service_url=TEAMS_URL)) == 401
    await _nothing_written(prod)


async def test_wrong_channel_is_401_even_with_a_valid_token(prod, idp):
    body = _activity(prod, PERSONAL, channelId="webchat")
    assert await _post(prod, body, idp.mint(app_id=APP_ID, service_url=TEAMS_URL)) == 401
    await _nothing_written(prod)


async def test_non_teams_service_url_is_401_even_with_a_valid_token(prod, idp):
    body = _activity(prod, PERSONAL, serviceUrl="https://attacker.example.com/")
    assert await _post(prod, body, idp.mint(app_id=APP_ID, service_url="https://attacker.example.com/")) == 401
    await _nothing_written(prod)
