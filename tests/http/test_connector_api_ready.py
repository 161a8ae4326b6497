"""The outbox's `sending` mark comes only when nothing but the request is left.

`ConnectorApi` awaits `ready` (the outbox's `about_to_send`) after the bot's token, the URL
and the body are made: a token endpoint that fails leaves the row unmarked (so it is retried,
not lost as "delivery unknown"), and a row that is no longer ours is never sent at all.
"""
from types import SimpleNamespace

import aiohttp
import pytest

from bot.teams import connector_api
from bot.teams.connector_api import ConnectorApi
from bot.teams.transport import ConnectorTransport

REFERENCE_CONVERSATION = {"id": "a:1:personal-chat", "conversationType": "personal", "tenantId": "tenant-1"}


class _Factory:
    def __init__(self, *, fail: bool) -> None:
        self.fail = fail
        self.created = 0

    async def create(self, service_url, audience):
        self.created += 1
        if self.fail:
            raise OSError("token endpoint unreachable (login.microsoftonline.com)")
        return SimpleNamespace(config=SimpleNamespace(credentials=None))


def _api(factory: _Factory, transport: ConnectorTransport) -> ConnectorApi:
    adapter = SimpleNamespace(
        bot_framework_authentication=SimpleNamespace(create_connector_factory=lambda identity: factory),
        create_claims_identity=lambda app_id: object(),
    )
    return ConnectorApi(adapter=adapter, app_id="", transport=transport)


@pytest.fixture
async def transport():
    made = ConnectorTransport(timeout=aiohttp.ClientTimeout(total=2))
    yield made
    await made.close()


def _reference(url: str) -> dict:
    return {"serviceUrl": url, "conversation": dict(REFERENCE_CONVERSATION), "bot": {"id": "28:bot"},
            "user": {"id": "29:user"}, "channelId": "msteams"}


async def test_ready_is_awaited_after_the_token_and_before_the_request(connector, transport):
    factory = _Factory(fail=False)
    seen: list[tuple[int, int]] = []  # (tokens made, requests at the connector) when ready ran

    async def ready() -> bool:
        seen.append((factory.created, len(connector.find(method="POST"))))
        return True

    activity_id = await _api(factory, transport).post_message(_reference(connector.url),
                                                              connector_api.message("paged"), ready=ready)
    assert seen == [(1, 0)]
    assert activity_id
    [post] = connector.find(method="POST")
    assert post.json["text"] == "paged"


async def test_a_failing_token_endpoint_never_marks_the_row(connector, transport):
    calls: list[str] = []

    async def ready() -> bool:
        calls.append("marked")
        return True

    with pytest.raises(OSError, match="token endpoint"):
        await _api(_Factory(fail=True), transport).post_message(_reference(connector.url),
                                                                connector_api.message("paged"), ready=ready)
    assert calls == []  # the outbox worker then retries it ("the sender failed before sending")
    assert connector.find(method="POST") == []


async def test_a_row_no_longer_ours_is_never_sent(connector, transport):
    async def not_ours() -> bool:
        return False

    api = _api(_Factory(fail=False), transport)
    assert await api.post_message(_reference(connector.url), connector_api.message("x"), ready=not_ours) is None
    assert await api.create_conversation(_reference(connector.url), channel_id="19:c@thread.tacv2",
                                         activity=connector_api.message("x"), ready=not_ours) is None
    assert connector.requests == []
