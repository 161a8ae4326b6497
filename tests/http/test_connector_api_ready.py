"""The outbox's `sending` mark comes only when nothing but the request is left (new posts
through `ConnectorApi`, card updates through the SDK).

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


class _Turn:
    def __init__(self, record: list[str]) -> None:
        self._record = record

    async def update_activity(self, activity):
        self._record.append(f"PUT {activity.id}")


class _Adapter:
    """Runs a proactive callback like `continue_conversation`, with a turn that records the PUT."""

    def __init__(self, record: list[str]) -> None:
        self._record = record

    async def continue_conversation(self, reference, callback, bot_id=None, **_kwargs):
        await callback(_Turn(self._record))


class _TokenApi:
    def __init__(self, record: list[str], *, fail: bool) -> None:
        self._record = record
        self._fail = fail

    async def auth_headers(self, service_url: str) -> dict[str, str]:
        self._record.append("token")
        if self._fail:
            raise OSError("token endpoint unreachable")
        return {"Authorization": "Bearer t"}


async def _update_card(record: list[str], *, fail: bool) -> None:
    """Run `TeamsSender`'s card update as the outbox worker would, recording in `record` the
    order of the token, the `sending` mark and the PUT."""
    from bot.domain.outbox import reset_start, set_start
    from bot.teams.outbound import TeamsSender

    async def mark() -> bool:
        record.append("marked")
        return True

    sender = TeamsSender(adapter=_Adapter(record), app_id="", service=None, dev=True,
                         api=_TokenApi(record, fail=fail), spaces=None)
    token = set_start(mark)
    try:
        await sender._update(_reference("https://smba.trafficmanager.net/emea/"), "1:card", {"type": "AdaptiveCard"})
    finally:
        reset_start(token)


async def test_a_card_update_fetches_its_token_before_the_mark():
    record: list[str] = []
    await _update_card(record, fail=False)
    assert record == ["token", "marked", "PUT 1:card"]


async def test_a_card_update_whose_token_fails_is_never_marked():
    record: list[str] = []
    with pytest.raises(OSError, match="token endpoint"):
        await _update_card(record, fail=True)
    assert record == ["token"]  # not marked, not sent: the worker retries it ("failed before sending")
