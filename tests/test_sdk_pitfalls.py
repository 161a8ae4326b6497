"""Regression tests for the botbuilder 4.17.1 work-arounds in `bot/teams/sdk_patches.py` and
`bot/teams/adapter.py`. Each test would fail on the unpatched SDK; where cheap, the test
shows that directly by running the unpatched code path too."""
from __future__ import annotations

import asyncio
import copy
import json
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from botbuilder.core import ActivityHandler, MessageFactory, TurnContext
from botbuilder.core.serializer_helper import serializer_helper as sdk_serializer_helper
from botbuilder.integration.aiohttp import cloud_adapter as cloud_adapter_module
from botbuilder.schema import Activity, AdaptiveCardInvokeResponse, ConversationReference
from botframework.connector.auth import PasswordServiceClientCredentialFactory
from botframework.connector.auth.jwt_token_extractor import JwtTokenExtractor
from msrest.universal_http.requests import ClientRetryPolicy

from bot.teams import sdk_patches
from bot.teams.adapter import CachingCredentialsFactory
from bot.teams.sdk_patches import apply_sdk_patches, configure_reply_executor
from tests.fakes.connector import FakeConnector
from tests.fakes.openid import FakeOpenIdServer
from tests.support import FIXTURES
from tests.test_messages_security import (
    APP_ID,
    LOOPBACK_URL,
    TEAMS_URL,
    RecordingBot,
    bearer,
    client_for,
    dev_settings,
    load,
    message,
    prod_settings,
)

CARD_RESPONSE = load("connector-responses/docs-adaptiveCard-action-invoke-response-card.json")


class CardBot(ActivityHandler):
    """Answers Action.Execute with the documented card response."""

    def __init__(self) -> None:
        self.verbs: list[str] = []

    async def on_adaptive_card_invoke(
        self, turn_context: TurnContext, invoke_value: Any
    ) -> AdaptiveCardInvokeResponse:
        self.verbs.append(invoke_value.action["verb"])  # a plain dict in 4.17 (DESIGN.md 6)
        return AdaptiveCardInvokeResponse(
            status_code=200, type=CARD_RESPONSE["type"], value=copy.deepcopy(CARD_RESPONSE["value"])
        )


def invoke_activity(service_url: str) -> dict[str, Any]:
    activity = load("composed-invoke-adaptiveCard-action-channel.json")
    activity["serviceUrl"] = service_url
    return activity


@pytest.fixture(autouse=True)
def patched():
    apply_sdk_patches()


# (c) invoke responses with a body -----------------------------------------------------------


async def test_action_execute_invoke_returns_the_card_with_200():
    bot = CardBot()
    async with FakeConnector() as fc, client_for(dev_settings(), bot) as client:
        response = await client.post("/api/messages", json=invoke_activity(fc.url))
        assert response.status == 200, await response.text()
        assert response.content_type == "application/json"
        assert await response.json() == CARD_RESPONSE
        assert bot.verbs == ["resolve"]
        assert fc.requests == []  # the answer travels in the HTTP response, not via the connector


async def test_without_the_patch_the_same_invoke_is_a_500(monkeypatch, caplog):
    original = sdk_serializer_helper
    # The unpatched SDK really does serialize twice: the second call gets a dict and dies.
    body = original(AdaptiveCardInvokeResponse(status_code=200, type="t", value={}))
    with pytest.raises(AttributeError, match="is_xml_model"):
        original(body)

    monkeypatch.setattr(cloud_adapter_module, "serializer_helper", original)
    bot = CardBot()
    async with FakeConnector() as fc, client_for(dev_settings(), bot) as client:
        response = await client.post("/api/messages", json=invoke_activity(fc.url))
    assert response.status == 500
    assert bot.verbs == ["resolve"]  # the handler ran; only the response writing crashed
    errors = [r for r in caplog.records if r.exc_info]
    assert any("is_xml_model" in str(r.exc_info[1]) for r in errors)


async def test_handler_returning_a_plain_dict_body_also_works():
    class DictBot(ActivityHandler):
        async def on_adaptive_card_invoke(self, turn_context, invoke_value):
            return copy.deepcopy(CARD_RESPONSE)

    async with FakeConnector() as fc, client_for(dev_settings(), DictBot()) as client:
        response = await client.post("/api/messages", json=invoke_activity(fc.url))
        assert response.status == 200
        assert await response.json() == CARD_RESPONSE


# (a) retry policy cost ----------------------------------------------------------------------

MSREST_SAFE_CODES = [i for i in range(500) if i != 408] + [501, 505]  # msrest 0.7.1 verbatim


def _construct(n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        ClientRetryPolicy()
    return time.perf_counter() - start


def test_retry_policy_is_cheap_and_unchanged(monkeypatch):
    assert isinstance(ClientRetryPolicy.safe_codes, frozenset)
    policy = ClientRetryPolicy()
    expected = {i for i in range(999) if i not in MSREST_SAFE_CODES}
    assert set(policy.policy.status_forcelist) == expected
    assert {408, 500, 503}.issubset(policy.policy.status_forcelist)
    assert 429 not in policy.policy.status_forcelist  # urllib3 retries it only with Retry-After
    assert policy.retries == 3 and policy.backoff_factor == 0.8

    patched_s = min(_construct(50) for _ in range(3))
    monkeypatch.setattr(ClientRetryPolicy, "safe_codes", list(MSREST_SAFE_CODES))
    unpatched_s = min(_construct(50) for _ in range(3))
    assert unpatched_s / patched_s > 5, (unpatched_s, patched_s)


async def test_every_turn_builds_retry_policies(monkeypatch):
    """Why the cost matters: CloudAdapter builds new msrest clients, so new retry policies,
    on every turn, even one that sends nothing."""
    built = []
    original_init = ClientRetryPolicy.__init__

    def counting_init(self):
        built.append(1)
        original_init(self)

    monkeypatch.setattr(ClientRetryPolicy, "__init__", counting_init)
    bot = RecordingBot()
    async with client_for(dev_settings(), bot) as client:
        for _ in range(2):
            response = await client.post("/api/messages", json=message(serviceUrl=LOOPBACK_URL))
            assert response.status in (200, 201)
    assert len(bot.turns) == 2
    assert len(built) >= 2


# thread pool for replies --------------------------------------------------------------------


async def test_configure_reply_executor_sizes_the_default_pool():
    loop = asyncio.get_running_loop()
    executor = configure_reply_executor(loop, 17)
    assert executor._max_workers == 17
    names = await loop.run_in_executor(None, lambda: threading.current_thread().name)
    assert names.startswith("firebreak-reply")
    # 17 calls can block at once: a 17-party barrier only opens if all run concurrently.
    barrier = threading.Barrier(17, timeout=5)
    await asyncio.gather(*(loop.run_in_executor(None, barrier.wait) for _ in range(17)))


async def test_replies_go_out_on_the_event_loop_not_through_a_thread_pool():
    """msrest would send each reply with `requests` in the default executor (threads fighting
    the event loop for the GIL); Firebreak's connector transport sends with aiohttp instead."""
    loop = asyncio.get_running_loop()
    executor = configure_reply_executor(loop, 8)
    submitted: list[str] = []
    original_submit = executor.submit

    def spying_submit(fn, *args, **kwargs):
        target = getattr(fn, "func", fn)  # msrest submits functools.partial(session.request, ...)
        submitted.append(getattr(target, "__qualname__", repr(target)))
        return original_submit(fn, *args, **kwargs)

    executor.submit = spying_submit

    class EchoBot(ActivityHandler):
        async def on_message_activity(self, turn_context):
            await turn_context.send_activity("ack")

    async with FakeConnector() as fc, client_for(dev_settings(), EchoBot()) as client:
        response = await client.post("/api/messages", json=message(serviceUrl=fc.url))
        assert response.status in (200, 201)
        replies = fc.find(method="POST", path=r"/activities")
        assert len(replies) == 1 and replies[0].json["text"] == "ack"
    assert "Session.request" not in submitted


async def test_updates_retry_a_short_429_but_new_messages_are_never_resent():
    """Pinned down for the outbox: the connector transport retries PUT (update) and GET
    (TeamsInfo) on 429/5xx, awaiting a short Retry-After on the event loop; a POST (send,
    reply) is never resent blindly."""
    outcomes: list[str] = []
    fc = FakeConnector()

    class SendThenUpdate(ActivityHandler):
        async def on_message_activity(self, turn_context):
            sent = await turn_context.send_activity("first")
            update = MessageFactory.text("edited")
            update.id = sent.id
            await turn_context.update_activity(update)
            outcomes.append("updated")
            fc.fail_next(r"/activities", 503, method="POST", times=2)  # 2nd used only on retry
            try:
                await turn_context.send_activity("second")
            except Exception as exc:  # noqa: BLE001 - the failure is what we look at
                outcomes.append(type(exc).__name__)

    async with fc, client_for(dev_settings(), SendThenUpdate()) as client:
        fc.fail_next(r"/activities/", 429, headers={"Retry-After": "1"}, method="PUT")
        activity = message(serviceUrl=fc.url)
        started = time.monotonic()
        response = await client.post("/api/messages", json=activity)
        elapsed = time.monotonic() - started
        assert response.status in (200, 201)
        puts = fc.find(method="PUT")
        posts = fc.find(method="POST", path=r"/activities")
    assert [p.status for p in puts] == [429, 200]
    assert elapsed >= 0.9  # the Retry-After was honoured
    assert [p.status for p in posts] == [200, 503]  # the failed POST was not retried
    assert outcomes[0] == "updated" and outcomes[1] == "ErrorResponseException"


# (b) signing-key fetch ----------------------------------------------------------------------


async def _ticking(stop: asyncio.Event, gaps: list[float]) -> None:
    last = time.monotonic()
    while not stop.is_set():
        await asyncio.sleep(0.02)
        now = time.monotonic()
        gaps.append(now - last)
        last = now


async def test_slow_key_server_does_not_stall_the_event_loop():
    bot = RecordingBot()
    async with FakeOpenIdServer(keys_delay_s=2.0) as idp:
        async with client_for(prod_settings(), bot, idp.metadata_url) as client:
            stop, gaps = asyncio.Event(), []
            ticker = asyncio.create_task(_ticking(stop, gaps))
            token = idp.mint(app_id=APP_ID, service_url=TEAMS_URL)
            started = time.monotonic()
            body, headers = message(), bearer(token)
            posts = [client.post("/api/messages", json=body, headers=headers) for _ in range(3)]
            responses = await asyncio.gather(*posts)
            elapsed = time.monotonic() - started
            stop.set()
            await ticker
    assert [r.status for r in responses] == [201, 201, 201]
    assert elapsed >= 1.9  # the keys really were slow
    assert max(gaps) < 0.5, f"event loop stalled for {max(gaps):.2f} s"
    assert len(bot.turns) == 3
    assert idp.keys_requests == 1  # concurrent refreshes share one fetch


async def test_hung_key_server_times_out_with_401():
    apply_sdk_patches(key_fetch_timeout_s=1.0)
    bot = RecordingBot()
    try:
        async with FakeOpenIdServer(hang=True) as idp:
            async with client_for(prod_settings(), bot, idp.metadata_url) as client:
                stop, gaps = asyncio.Event(), []
                ticker = asyncio.create_task(_ticking(stop, gaps))
                token = idp.mint(app_id=APP_ID, service_url=TEAMS_URL)
                started = time.monotonic()
                response = await client.post("/api/messages", json=message(), headers=bearer(token))
                elapsed = time.monotonic() - started
                stop.set()
                await ticker
    finally:
        apply_sdk_patches(key_fetch_timeout_s=10.0)
    assert response.status == 401
    assert 0.9 <= elapsed < 5
    assert max(gaps) < 0.5
    assert bot.turns == []


async def test_key_endpoint_outage_falls_back_to_cached_keys():
    apply_sdk_patches(key_fetch_timeout_s=1.0)
    bot = RecordingBot()
    try:
        async with FakeOpenIdServer() as idp:
            async with client_for(prod_settings(), bot, idp.metadata_url) as client:
                headers = bearer(idp.mint(app_id=APP_ID, service_url=TEAMS_URL))
                first = await client.post("/api/messages", json=message(), headers=headers)
                assert first.status == 201
                # A day later the key endpoint hangs.
                cached = JwtTokenExtractor.metadataCache[idp.metadata_url]
                cached.last_updated -= timedelta(days=2)
                idp.hang = True
                second = await client.post("/api/messages", json=message(), headers=headers)
                fetches = idp.metadata_requests
                third = await client.post("/api/messages", json=message(), headers=headers)
    finally:
        apply_sdk_patches(key_fetch_timeout_s=10.0)
    assert (second.status, third.status) == (201, 201)
    assert fetches == 2 and idp.metadata_requests == 2  # no refetch for the next 5 minutes
    assert len(bot.turns) == 3


# outbound credentials -----------------------------------------------------------------------


async def test_outbound_credentials_are_reused_across_turns():
    sdk = PasswordServiceClientCredentialFactory(APP_ID, "secret", "tenant")
    args = (APP_ID, "https://api.botframework.com", "https://login.microsoftonline.com/", True)
    # The SDK builds a new MSAL-backed credentials object (empty token cache) per turn ...
    assert await sdk.create_credentials(*args) is not await sdk.create_credentials(*args)
    # ... the caching factory keeps one per (app id, scope, endpoint).
    caching = CachingCredentialsFactory(sdk)
    first = await caching.create_credentials(*args)
    assert await caching.create_credentials(*args) is first
    other = await caching.create_credentials(APP_ID, "https://graph.microsoft.com", args[2], True)
    assert other is not first


def test_patches_are_idempotent():
    init = ClientRetryPolicy.__init__
    apply_sdk_patches()
    apply_sdk_patches()
    assert ClientRetryPolicy.__init__ is init
    assert cloud_adapter_module.serializer_helper is sdk_patches._serialize_once
    with pytest.raises(ValueError):
        apply_sdk_patches(key_fetch_timeout_s=0)


def test_the_conversation_tenant_teams_sends_is_read_and_kept():
    """Teams sends `conversation.tenantId`; the stock 4.17 schema only knows `tenantID`."""
    apply_sdk_patches()
    body = json.loads((FIXTURES / "teams" / "playground-captured" / "playground-message-channel-mention.json").read_text())
    tenant = body["conversation"]["tenantId"]
    activity = Activity().deserialize(body)
    assert activity.conversation.tenant_id == tenant
    reference = TurnContext.get_conversation_reference(activity)
    stored = json.loads(json.dumps(reference.serialize()))
    assert stored["conversation"]["tenantId"] == tenant
    assert ConversationReference().deserialize(stored).conversation.tenant_id == tenant
