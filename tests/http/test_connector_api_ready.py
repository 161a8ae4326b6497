"""The outbox's `sending` mark comes only when nothing but writing the request is left (new
posts through `ConnectorApi`), one request at a time; card updates through the SDK take none.

`ConnectorApi` awaits `ready` (the outbox's `about_to_send`) after the bot's token, the URL
and the body are made and the connection is open: a token endpoint or a connection that
fails leaves the row unmarked (so it is retried, not lost as "delivery unknown"), and a row
that is no longer ours is never sent at all.
"""
from types import SimpleNamespace

import aiohttp
import pytest
import requests

from bot.teams import connector_api
from bot.teams.bot_token import TokenUnavailable
from bot.teams.connector_api import ConnectorApi
from bot.teams.transport import ConnectorTransport

REFERENCE_CONVERSATION = {"id": "a:1:personal-chat", "conversationType": "personal", "tenantId": "tenant-1"}


class _EntraDown:
    """Credentials with an app id whose token endpoint cannot be reached."""

    microsoft_app_id = "00000000-0000-0000-0000-00000000b07"

    def signed_session(self, session):
        raise requests.exceptions.ConnectionError("login.microsoftonline.com: connection refused")


class _Factory:
    def __init__(self, *, fail: bool) -> None:
        self.fail = fail
        self.created = 0

    async def create(self, service_url, audience):
        self.created += 1
        return SimpleNamespace(config=SimpleNamespace(credentials=_EntraDown() if self.fail else None))


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

    with pytest.raises(TokenUnavailable, match="cannot reach Microsoft Entra ID"):
        await _api(_Factory(fail=True), transport).post_message(_reference(connector.url),
                                                                connector_api.message("paged"), ready=ready)
    assert calls == []  # never marked `sending`
    assert connector.find(method="POST") == []


async def test_the_teams_sender_retries_when_there_is_no_token():
    """Entra ID down is a retry, like a connection that fails: nothing went out (it used to
    be a permanent failure, which dropped announcements for good)."""
    from bot.teams.outbound import TeamsSender

    class NoToken(TeamsSender):
        async def _deliver(self, message):
            raise TokenUnavailable("no token from Microsoft Entra ID within 10 s")

    sender = NoToken(adapter=None, app_id="", service=None, dev=True, api=None, spaces=None)
    outcome = await sender.deliver(SimpleNamespace(id=1, incident_id=1))
    assert (outcome.kind, outcome.error) == ("retryable", "the bot's token: no token from Microsoft Entra ID within 10 s")


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


async def test_a_card_update_takes_no_sending_mark():
    """A PUT of the card as it is now is safe to repeat: no mark, so a failed or crashed
    update is done again instead of ending "delivery unknown" (the worker's side is
    `test_a_sender_that_fails_without_marking_the_row_is_retried_not_unknown`)."""
    from bot.domain.outbox import reset_start, set_start
    from bot.teams.outbound import TeamsSender

    record: list[str] = []

    async def mark() -> bool:
        record.append("marked")
        return True

    sender = TeamsSender(adapter=_Adapter(record), app_id="", service=None, dev=True, api=None, spaces=None)
    token = set_start(mark)
    try:
        await sender._update(_reference("https://smba.trafficmanager.net/emea/"), "1:card", {"type": "AdaptiveCard"})
    finally:
        reset_start(token)
    assert record == ["PUT 1:card"]

class _WireServer:
    """A Bot Connector stand-in on a real socket in its own thread, so a test can look at what
    reached the wire while the event loop is blocked: connections accepted, requests whose
    bytes fully arrived. It answers each request only once `answer` is set."""

    def __init__(self) -> None:
        import socketserver
        import threading

        self.accepted = 0
        self.requests: list[bytes] = []
        self.answer = threading.Event()
        self._changed = threading.Condition()
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                with outer._changed:
                    outer.accepted += 1
                    outer._changed.notify_all()
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = self.request.recv(65536)
                    if not chunk:
                        return  # closed before a request: nothing was sent
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                while len(body) < length:
                    body += self.request.recv(65536)
                with outer._changed:
                    outer.requests.append(body)
                    number = len(outer.requests)
                    outer._changed.notify_all()
                outer.answer.wait(5)
                reply = b'{"id":"1:%d"}' % number
                self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                                     b"Content-Length: %d\r\n\r\n%s" % (len(reply), reply))

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def wait_for(self, what: str, count: int, timeout: float) -> bool:
        """Block (the calling thread, event loop included) until `count` connections were
        accepted or `count` requests arrived whole; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: (self.accepted if what == "accepted" else len(self.requests))
                                          >= count, timeout)

    def close(self) -> None:
        self.answer.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def wire():
    server = _WireServer()
    yield server
    server.close()


async def test_ready_runs_once_connected_and_before_the_first_byte(wire, transport):
    seen: list[tuple[bool, int]] = []

    async def ready() -> bool:
        # blocking waits: while ready runs nothing else of this process can write
        seen.append((wire.wait_for("accepted", 1, timeout=2), len(wire.requests)))
        wire.wait_for("requests", 1, timeout=0.2)
        seen.append((True, len(wire.requests)))
        wire.answer.set()
        return True

    activity_id = await _api(_Factory(fail=False), transport).post_message(
        _reference(wire.url), connector_api.message("paged"), ready=ready)
    assert seen == [(True, 0), (True, 0)]  # connected, yet no request on the wire until ready said yes
    assert activity_id == "1:1"
    [body] = wire.requests
    assert b'"text":"paged"' in body


async def test_a_connection_that_fails_is_never_marked(transport):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/"
    calls: list[str] = []

    async def ready() -> bool:
        calls.append("marked")
        return True

    with pytest.raises(aiohttp.ClientConnectorError):
        await _api(_Factory(fail=False), transport).post_message(_reference(url), connector_api.message("x"),
                                                                 ready=ready)
    assert calls == []  # the Teams sender maps this to "retryable": nothing was sent, nothing is lost


async def test_the_next_request_is_marked_only_once_the_previous_one_is_written(wire, transport):
    """Two posts side by side: while the first is being marked (its mark takes a while), the
    second is not marked; when the second is marked, the first's bytes are already on the
    wire. A crash at any moment thus leaves at most one request marked and never written."""
    import asyncio

    api = _api(_Factory(fail=False), transport)
    marks: list[str] = []
    first_written_when_second_marked: list[bool] = []

    async def first() -> bool:
        marks.append("first")
        await asyncio.sleep(0.2)  # a slow commit: the other request must not be marked meanwhile
        return True

    async def second() -> bool:
        marks.append("second")
        first_written_when_second_marked.append(wire.wait_for("requests", 1, timeout=1))  # blocks the loop
        wire.answer.set()
        return True

    one = asyncio.ensure_future(api.post_message(_reference(wire.url), connector_api.message("one"), ready=first))
    await asyncio.sleep(0.05)
    two = asyncio.ensure_future(api.post_message(_reference(wire.url), connector_api.message("two"), ready=second))
    ids = await asyncio.wait_for(asyncio.gather(one, two), 5)
    assert marks == ["first", "second"]
    assert first_written_when_second_marked == [True]
    assert sorted(ids) == ["1:1", "1:2"]


async def test_the_lane_is_given_back_when_a_mark_fails_or_declines(wire, transport):
    import asyncio

    api = _api(_Factory(fail=False), transport)

    async def broken() -> bool:
        raise RuntimeError("database is locked")

    async def not_ours() -> bool:
        return False

    async def fine() -> bool:
        wire.answer.set()
        return True

    with pytest.raises(aiohttp.ClientConnectionError):
        await api.post_message(_reference(wire.url), connector_api.message("x"), ready=broken)
    assert await api.post_message(_reference(wire.url), connector_api.message("x"), ready=not_ours) is None
    assert wire.requests == []
    activity_id = await asyncio.wait_for(
        api.post_message(_reference(wire.url), connector_api.message("y"), ready=fine), 3)
    assert activity_id == "1:1"
