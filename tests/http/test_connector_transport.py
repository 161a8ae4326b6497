"""Bot Connector calls through the aiohttp transport: real SDK operations against the fake
connector, with its errors (429 + Retry-After, 5xx, 403, timeouts)."""
import asyncio
import os
import time
from unittest import mock

import aiohttp
import pytest
from botbuilder.schema import Activity
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import MicrosoftAppCredentials
from botframework.connector.models import ErrorResponseException

from bot.teams.transport import MAX_RETRY_AFTER_S, ConnectorTransport


@pytest.fixture
async def client(connector):
    transport = ConnectorTransport(timeout=aiohttp.ClientTimeout(total=2))
    connector_client = ConnectorClient(MicrosoftAppCredentials("", ""), base_url=connector.url)
    transport.install(connector_client, connector.url)
    yield connector_client
    await transport.close()


def _message(text: str) -> Activity:
    return Activity(type="message", text=text)


async def test_reply_and_update_go_through_and_deserialize(client, connector):
    sent = await client.conversations.send_to_conversation("conv-1", _message("hello"))
    assert sent.id
    updated = await client.conversations.update_activity("conv-1", sent.id, _message("edited"))
    assert updated.id == sent.id
    assert [r.method for r in connector.requests] == ["POST", "PUT"]
    assert connector.requests[0].json["text"] == "hello"
    assert "Authorization" not in connector.requests[0].headers  # dev credentials sign nothing


async def test_update_retries_a_429_after_its_retry_after(client, connector):
    connector.fail_next(r"/activities/", 429, headers={"Retry-After": "1"}, method="PUT")
    started = time.monotonic()
    await client.conversations.update_activity("conv-1", "a-1", _message("edited"))
    assert time.monotonic() - started >= 0.9
    assert [r.status for r in connector.find(method="PUT")] == [429, 200]


async def test_update_retries_5xx_then_gives_up_with_the_sdk_error(client, connector):
    connector.fail_next(r"/activities/", 503, method="PUT", times=3)
    with pytest.raises(ErrorResponseException):
        await client.conversations.update_activity("conv-1", "a-1", _message("edited"))
    assert [r.status for r in connector.find(method="PUT")] == [503, 503, 503]


async def test_a_new_message_is_never_resent_blindly(client, connector):
    connector.fail_next(r"/activities$", 503, method="POST")
    with pytest.raises(ErrorResponseException):
        await client.conversations.send_to_conversation("conv-1", _message("once"))
    assert len(connector.find(method="POST")) == 1


async def test_a_long_retry_after_is_left_to_the_caller(client, connector):
    connector.fail_next(r"/activities/", 429, headers={"Retry-After": str(int(MAX_RETRY_AFTER_S) + 60)}, method="PUT")
    started = time.monotonic()
    with pytest.raises(ErrorResponseException):
        await client.conversations.update_activity("conv-1", "a-1", _message("edited"))
    assert time.monotonic() - started < 2
    assert len(connector.find(method="PUT")) == 1


async def test_403_is_not_retried(client, connector):
    connector.fail_next(r"/activities/", 403, method="PUT")
    with pytest.raises(ErrorResponseException):
        await client.conversations.update_activity("conv-1", "a-1", _message("edited"))
    assert len(connector.find(method="PUT")) == 1


async def test_a_hung_connector_times_out(client, connector):
    connector.delay_next(r"/activities$", 10.0, method="POST")
    started = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        await client.conversations.send_to_conversation("conv-1", _message("slow"))
    assert time.monotonic() - started < 5


def test_proxy_comes_from_the_environment_once_with_no_proxy_honoured():
    env = {"HTTPS_PROXY": "http://proxy.corp:3128", "NO_PROXY": "internal.corp"}
    with mock.patch.dict(os.environ, env):
        transport = ConnectorTransport()
        direct = ConnectorClient(MicrosoftAppCredentials("", ""), base_url="https://bot.internal.corp/")
        proxied = ConnectorClient(MicrosoftAppCredentials("", ""), base_url="https://smba.trafficmanager.net/amer/")
        transport.install(direct, "https://bot.internal.corp/")
        transport.install(proxied, "https://smba.trafficmanager.net/amer/")
    assert proxied.config.pipeline._sender._proxy == "http://proxy.corp:3128"
    assert direct.config.pipeline._sender._proxy is None


class _EntraAnswering:
    """Stands in for the MSAL app behind MicrosoftAppCredentials: nothing cached, then a token."""

    def __init__(self, token: str) -> None:
        self._token = token

    def acquire_token_silent(self, scopes, account=None):
        return None

    def acquire_token_for_client(self, scopes):
        return {"access_token": self._token}


async def test_production_credentials_sign_every_request(connector):
    transport = ConnectorTransport()
    credentials = MicrosoftAppCredentials("5f1b2c3d-0000-4000-8000-00000000b07a", "secret")
    credentials.app = _EntraAnswering("token-123")  # the MSAL app, as if built already
    signed = ConnectorClient(credentials, base_url=connector.url)
    transport.install(signed, connector.url)
    await signed.conversations.send_to_conversation("conv-1", _message("signed"))
    await transport.close()
    assert connector.requests[-1].headers["Authorization"] == "Bearer token-123"
