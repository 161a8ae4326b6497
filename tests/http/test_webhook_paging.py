"""Paging by webhook through the real app, with a local aiohttp server standing in for an SMS
gateway (http to 127.0.0.1 is allowed; anywhere else the address must be https).

Checks the body and its signature, and how the gateway's answers map to outbox outcomes:
5xx is retried (honouring Retry-After), 4xx moves on to the person's next contact method,
a refused connection is retried, and a timeout after sending is "delivery unknown".
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
from dataclasses import dataclass, field

import aiohttp
import pytest
import yaml
from aiohttp import web

from bot.domain import conversations
from bot.plan import parse_plan
from bot.senders.webhook import WebhookSender, allowed_address
from storage import paging as paging_store
from tests.fakes import serve_on_loopback
from tests.http.harness import GROUP, Harness, start_harness
from tests.support import EXAMPLE_PLAN

PRIYA = ("aad-priya", "Priya Raman", "priya.raman@contoso.com")
WEBHOOK_SECRET = "webhook-secret-for-tests"
ACK_SECRET = "test-ack-secret-0123456789abcdef"
PUBLIC_URL = "https://firebreak.contoso.com"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Gateway:
    """An SMS gateway on loopback: records every POST; answers from `answers` (status,
    headers, delay) in order, then 200."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    answers: list[tuple[int, dict, float]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(Received(request.path, dict(request.headers), await request.read()))
        status, headers, delay = self.answers.pop(0) if self.answers else (200, {}, 0.0)
        if delay:
            await asyncio.sleep(delay)
        return web.json_response({"queued": status < 300}, status=status, headers=headers)


@pytest.fixture
async def gateway():
    gw = Gateway()
    app = web.Application()
    app.router.add_post("/{tail:.*}", gw.handle)
    runner, gw.url = await serve_on_loopback(app)
    yield gw
    await runner.cleanup()


def _plan(contacts: list[dict]):
    """The example plan, plus a Payments API whose policy pages Priya with these contacts."""
    data = yaml.safe_load(EXAMPLE_PLAN.read_text())
    for person in data["people"]:
        if person["email"] == PRIYA[2]:
            person["contact"] = contacts
    data["escalation_policies"].append({"id": "payments", "levels": [{"targets": [f"person:{PRIYA[2]}"], "after": "30m"}]})
    data["services"].append({"id": "payments-api", "name": "Payments API", "owner_group": "platform",
                             "escalation_policy": "payments"})
    return parse_plan(yaml.safe_dump(data, sort_keys=False))


async def _start(tmp_path, connector, clock, contacts: list[dict], **settings) -> Harness:
    h = await start_harness(tmp_path / "fb.db", connector, clock, plan=_plan(contacts), **settings)
    aad, name, mail = PRIYA
    await h.service.execute(lambda s, now: conversations.remember_person(
        s, aad_object_id=aad, display_name=name, email=mail, now=now))
    return h


async def _declare(h: Harness) -> None:
    status, _ = await h.say("declare Payments API down sev1 service:payments-api", GROUP)
    assert status in (200, 201)


async def _row(h: Harness, key: str, ready=lambda r: True, timeout: float = 8.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        row = next((m for m in await h.outbox() if m.key == key), None)
        if row is not None and ready(row):
            return row
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"outbox row {key}: {row and (row.status, row.attempts, row.last_error)}")
        await asyncio.sleep(0.05)


async def _deliveries(h: Harness) -> list[str]:
    return [e.text for e in await h.timeline(1) if e.kind == "page_delivery"]


async def test_the_page_is_posted_signed_with_its_facts_and_an_ack_link(tmp_path, connector, clock, gateway):
    h = await _start(tmp_path, connector, clock, [{"method": "webhook", "after": "0s",
                                                   "address": f"{gateway.url}/sms/priya"}],
                     FIREBREAK_WEBHOOK_SECRET=WEBHOOK_SECRET, FIREBREAK_ACK_SECRET=ACK_SECRET,
                     FIREBREAK_PUBLIC_URL=PUBLIC_URL)
    try:
        await _declare(h)
        [got] = await h.until(lambda: gateway.received)
        assert got.path == "/sms/priya"
        assert got.headers["Content-Type"] == "application/json; charset=utf-8"
        assert got.headers["X-Firebreak-Delivery"] == "page:1:0"
        timestamp = got.headers["X-Firebreak-Timestamp"]
        assert timestamp == str(int(clock.now().timestamp()))
        expected = hmac.new(WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + got.body, hashlib.sha256).hexdigest()
        assert got.headers["X-Firebreak-Signature"] == f"sha256={expected}"
        body = got.json
        ack_url = body.pop("ack_url")
        assert ack_url.startswith(f"{PUBLIC_URL}/ack/")
        assert body == {
            "type": "firebreak.page",
            "incident": {"id": 1, "ref": "INC-1", "title": "Payments API down", "severity": "sev1",
                         "status": "declared", "url": None},
            "page": {"id": 1, "email": PRIYA[2], "name": "Priya Raman", "level": 1},
            "text": f"Firebreak page: INC-1 Payments API down (SEV1). Acknowledge: {ack_url}",
        }
        await _row(h, "page:1:0", lambda r: r.status == "sent")
        assert await _deliveries(h) == ["page to Priya Raman delivered via webhook"]

        # the link in the text message acknowledges (with a POST, from the page it opens)
        pressed = await h.client.post(ack_url.removeprefix(PUBLIC_URL))
        assert pressed.status == 200
        escalation = await h.service.read(lambda s: paging_store.get_escalation(s, 1))
        assert (escalation.status, escalation.acknowledged_by) == ("acknowledged", "Priya Raman")
        assert len(gateway.received) == 1
    finally:
        await h.client.close()


async def test_a_5xx_is_retried_after_its_retry_after_and_then_delivered(tmp_path, connector, clock, gateway):
    h = await _start(tmp_path, connector, clock, [
        {"method": "webhook", "after": "0s", "address": f"{gateway.url}/sms/priya"},
        {"method": "teams", "after": "15m"}])
    gateway.answers.append((500, {"Retry-After": "30"}, 0.0))
    try:
        await _declare(h)
        row = await _row(h, "page:1:0", lambda r: r.attempts == 1 and r.status == "pending")
        assert "answered HTTP 500" in row.last_error
        assert (row.next_at - clock.now()).total_seconds() == 30  # Retry-After, exactly
        assert (await _row(h, "page:1:1")).status == "pending"  # Teams keeps its own turn: not a failure yet
        clock.advance(seconds=30)
        row = await _row(h, "page:1:0", lambda r: r.status == "sent")
        assert row.attempts == 2
        first, second = gateway.received
        assert first.body == second.body and first.headers["X-Firebreak-Delivery"] == second.headers["X-Firebreak-Delivery"]
        assert "X-Firebreak-Signature" not in first.headers  # no FIREBREAK_WEBHOOK_SECRET: unsigned
        assert "ack_url" not in first.json  # no acknowledge links configured
        assert await _deliveries(h) == ["page to Priya Raman delivered via webhook"]
        assert not any("You are paged" in t for t in h.texts())  # Teams not tried: its turn is in 15m
    finally:
        await h.client.close()


async def test_a_4xx_is_permanent_and_the_next_contact_method_goes_at_once(tmp_path, connector, clock, gateway):
    h = await _start(tmp_path, connector, clock, [
        {"method": "webhook", "after": "0s", "address": f"{gateway.url}/sms/priya"},
        {"method": "teams", "after": "15m"}])
    gateway.answers.append((400, {}, 0.0))
    try:
        await _declare(h)
        row = await _row(h, "page:1:0", lambda r: r.status == "failed")
        assert row.attempts == 1 and "answered HTTP 400" in row.last_error
        await h.until(lambda: any("You are paged for INC-1" in t for t in h.texts()))
        assert clock.now().strftime("%H:%M") == "14:05"  # not 15 minutes later
        deliveries = await _deliveries(h)
        assert deliveries[0].startswith("page to Priya Raman via webhook: failed (webhook 127.0.0.1 answered HTTP 400")
        assert deliveries[0].endswith("; trying teams now")
        await _row(h, "page:1:1", lambda r: r.status == "sent")
        assert len(gateway.received) == 1
    finally:
        await h.client.close()


async def test_a_gateway_that_is_down_is_retried(tmp_path, connector, clock):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        nobody = f"http://127.0.0.1:{s.getsockname()[1]}"
    h = await _start(tmp_path, connector, clock, [{"method": "webhook", "after": "0s", "address": f"{nobody}/sms/priya"}])
    try:
        await _declare(h)
        row = await _row(h, "page:1:0", lambda r: r.attempts == 1 and r.status == "pending")
        assert "cannot connect to 127.0.0.1" in row.last_error
        assert await _deliveries(h) == []
    finally:
        await h.client.close()


async def test_a_timeout_after_sending_is_delivery_unknown_not_a_retry(tmp_path, connector, clock, gateway):
    """The gateway may already have texted the person: the sender raises, so the outbox marks the
    attempt unknown and never sends it again (OutboundSender contract)."""
    h = await _start(tmp_path, connector, clock, [{"method": "webhook", "after": "5m",
                                                   "address": f"{gateway.url}/sms/priya"}])
    try:
        await _declare(h)
        row = await _row(h, "page:1:0")
        gateway.answers.append((200, {}, 2.0))
        async with aiohttp.ClientSession() as session:
            sender = WebhookSender(service=h.service, secret="", session_provider=lambda: session, timeout_s=0.3)
            with pytest.raises(TimeoutError):
                await sender.deliver(row)
        assert len(gateway.received) == 1  # it did go out
    finally:
        await h.client.close()


async def test_the_row_is_marked_sending_only_once_connected(tmp_path, connector, clock, gateway):
    """The `sending` mark (after which a crash means "delivery unknown") comes once the
    connection is open and before the gateway gets a byte; a gateway that cannot be reached
    never sees the row marked, so it is retried rather than given up as unknown."""
    from bot.domain.outbox import reset_start, set_start

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        nobody = f"http://127.0.0.1:{s.getsockname()[1]}/sms/priya"
    h = await _start(tmp_path, connector, clock, [{"method": "webhook", "after": "5m",
                                                   "address": f"{gateway.url}/sms/priya"}])
    marks: list[int] = []  # POSTs the gateway had received when the row was marked

    async def mark() -> bool:
        marks.append(len(gateway.received))
        return True

    try:
        await _declare(h)
        row = await _row(h, "page:1:0")
        async with aiohttp.ClientSession() as session:
            sender = WebhookSender(service=h.service, secret="", session_provider=lambda: session, timeout_s=2)
            token = set_start(mark)
            try:
                unreachable = row.model_copy(update={"payload_json": json.dumps({**row.payload, "address": nobody})})
                outcome = await sender.deliver(unreachable)
                assert (outcome.kind, marks) == ("retryable", [])
                outcome = await sender.deliver(row)
            finally:
                reset_start(token)
        assert (outcome.kind, marks, len(gateway.received)) == ("ok", [0], 1)
    finally:
        await h.client.close()


@pytest.mark.parametrize(("url", "allowed"), [
    ("https://sms.contoso.com/x", True), ("http://127.0.0.1:8080/x", True), ("http://localhost/x", True),
    ("http://[::1]:9/x", True), ("http://sms.contoso.com/x", False), ("http://localhost.evil.com/x", False),
    ("http://127.0.0.1.evil.com/x", False), ("ftp://127.0.0.1/x", False), ("https:///x", False), ("", False),
])
def test_only_https_or_this_machine_is_called(url, allowed):
    assert allowed_address(url) is allowed
