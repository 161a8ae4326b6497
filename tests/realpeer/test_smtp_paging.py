"""Paging by e-mail against a real SMTP server (aiosmtpd on loopback), through the real app.

The paged person's plan contacts are [teams 0s, email 10m]. When Teams cannot reach them (the
app is not installed for them: 403; Teams keeps failing: 503) the e-mail goes at once, not
after 10 minutes, and its signed link acknowledges the page. Acknowledged in Teams first, the
e-mail is never sent. Every scenario ends by listing what went out to Teams and by mail.
"""
from __future__ import annotations

import asyncio
import email
import re
import socket
from datetime import timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from urllib.parse import urlsplit

import pytest
import yaml

from app import ENGINE_TICK_KEY
from bot.domain import conversations
from bot.plan import parse_plan
from bot.senders.email import SmtpConfig, SmtpSender
from storage import paging as paging_store
from tests.http.harness import GROUP, Harness, start_harness
from tests.support import EXAMPLE_PLAN

aiosmtpd_controller = pytest.importorskip(
    "aiosmtpd.controller", reason="aiosmtpd is not installed: run `make setup` (pip install -r requirements-dev.txt)")

pytestmark = pytest.mark.realpeer

PRIYA = ("aad-priya", "Priya Raman", "priya.raman@contoso.com")
PUBLIC_URL = "https://firebreak.contoso.com"
ACK_SECRET = "test-ack-secret-0123456789abcdef"
NOT_INSTALLED = {"error": {"code": "BotNotInConversationRoster", "message": "The bot is not part of the conversation roster."}}


# ----------------------------------------------------------------------------- the SMTP server


class Mailbox:
    """An aiosmtpd handler that keeps every message it accepts; it can be told to refuse a
    recipient or to stall, like a real server that is busy or broken."""

    def __init__(self) -> None:
        self.messages: list = []  # aiosmtpd Envelopes
        self.rcpt_reply: str | None = None
        self.stall_rcpt_s = 0.0
        self.stall_data_s = 0.0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.stall_rcpt_s:
            await asyncio.sleep(self.stall_rcpt_s)
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.stall_data_s:
            await asyncio.sleep(self.stall_data_s)
        self.messages.append(envelope)
        return "250 Message accepted for delivery"

    def parsed(self) -> list[EmailMessage]:
        return [email.message_from_bytes(m.original_content or m.content, policy=default_policy)
                for m in self.messages]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Server:
    def __init__(self, mailbox: Mailbox, port: int) -> None:
        self.mailbox, self.port = mailbox, port


@pytest.fixture
def smtp_server():
    """A real SMTP server (aiosmtpd) on 127.0.0.1, in its own thread and event loop."""
    mailbox = Mailbox()
    port = _free_port()
    controller = aiosmtpd_controller.Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield _Server(mailbox, port)
    finally:
        controller.stop()


@pytest.fixture
def smtp_auth_server():
    """The same server, demanding a login (user `firebreak`, password `right`) over plain text."""

    def authenticator(server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult

        ok = getattr(auth_data, "login", b"") == b"firebreak" and getattr(auth_data, "password", b"") == b"right"
        return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535 itself

    mailbox = Mailbox()
    port = _free_port()
    controller = aiosmtpd_controller.Controller(mailbox, hostname="127.0.0.1", port=port, authenticator=authenticator,
                                                auth_require_tls=False, auth_required=True,
                                                auth_exclude_mechanism=["LOGIN"])
    controller.start()
    try:
        yield _Server(mailbox, port)
    finally:
        controller.stop()


# ----------------------------------------------------------------------------- the app


def _plan():
    """The example plan, plus a Payments API whose policy pages Priya (Teams now, e-mail after 10m)."""
    data = yaml.safe_load(EXAMPLE_PLAN.read_text())
    for person in data["people"]:
        if person["email"] == PRIYA[2]:
            person["contact"] = [{"method": "teams", "after": "0s"}, {"method": "email", "after": "10m"}]
    data["escalation_policies"].append({"id": "payments", "name": "Payments",
                                        "levels": [{"targets": [f"person:{PRIYA[2]}"], "after": "30m"}]})
    data["services"].append({"id": "payments-api", "name": "Payments API", "owner_group": "platform",
                             "escalation_policy": "payments"})
    return parse_plan(yaml.safe_dump(data, sort_keys=False))


async def _start_app(tmp_path, connector, clock, smtp_port: int, **links) -> Harness:
    """The real app, e-mail paging pointed at the real SMTP server, Priya known in Teams."""
    h = await start_harness(
        tmp_path / "fb.db", connector, clock, plan=_plan(), FIREBREAK_SMTP_HOST="127.0.0.1",
        FIREBREAK_SMTP_PORT=smtp_port, FIREBREAK_SMTP_TLS="none", FIREBREAK_SMTP_FROM="firebreak@contoso.com", **links)
    aad, name, mail = PRIYA
    await h.service.execute(lambda s, now: conversations.remember_person(
        s, aad_object_id=aad, display_name=name, email=mail, now=now))
    return h


@pytest.fixture
async def app(tmp_path, connector, clock, smtp_server):
    """With acknowledge links (FIREBREAK_ACK_SECRET and FIREBREAK_PUBLIC_URL)."""
    h = await _start_app(tmp_path, connector, clock, smtp_server.port, FIREBREAK_ACK_SECRET=ACK_SECRET,
                         FIREBREAK_PUBLIC_URL=PUBLIC_URL)
    yield h
    await h.client.close()


async def _declare(h: Harness) -> None:
    status, _ = await h.say("declare Payments API down sev1 service:payments-api", GROUP)
    assert status in (200, 201)


async def _row(h: Harness, key: str):
    return next((m for m in await h.outbox() if m.key == key), None)


async def _wait_row(h: Harness, key: str, ready, timeout: float = 8.0):
    """Wait until the outbox row `key` satisfies `ready` (the worker runs in the background)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        row = await _row(h, key)
        if row is not None and ready(row):
            return row
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"outbox row {key} never got there: {row and (row.status, row.attempts, row.last_error)}")
        await asyncio.sleep(0.05)


def _outbound_to_teams(h: Harness) -> list[tuple[str, str]]:
    """Every write the bot made to the Bot Connector, as (what, text or "card")."""
    found = []
    for r in h.connector.requests:
        if r.method == "GET":
            continue  # member lookups (who is acting) change nothing
        if r.path == "/v3/conversations":
            what = "create 1:1 chat"
        elif r.method == "PUT":
            what = "update"
        else:
            what = "reply" if re.search(r"/activities/[^/]+$", r.path) else "send"
        body = r.json if isinstance(r.json, dict) else {}
        found.append((what, body.get("text") or ("card" if body.get("attachments") else "")))
    return found


def _body(mail: EmailMessage) -> str:
    return mail.get_body(("plain",)).get_content()


def _ack_path(mail: EmailMessage) -> str:
    [link] = re.findall(rf"{re.escape(PUBLIC_URL)}/ack/[A-Za-z0-9_-]+", _body(mail))
    return urlsplit(link).path


async def _events(h: Harness, kind: str) -> list:
    return [e for e in await h.timeline(1) if e.kind == kind]


# ----------------------------------------------------------------------------- scenarios


async def test_app_not_installed_sends_the_email_at_once_and_its_link_acknowledges(app, connector, clock, smtp_server):
    h, box = app, smtp_server.mailbox
    start = clock.now()
    connector.fail_next(r"^/v3/conversations$", 403, method="POST", body=NOT_INSTALLED)
    await _declare(h)

    # the e-mail goes at once (the failure pulls it forward): the clock never moves
    [mail] = await h.until(box.parsed, timeout=8)
    assert clock.now() == start
    envelope = box.messages[0]
    assert (envelope.mail_from, envelope.rcpt_tos) == ("firebreak@contoso.com", [PRIYA[2]])
    assert mail["Subject"] == "[Firebreak] Page: INC-1 Payments API down (SEV1)"
    assert mail["To"] == "Priya Raman <priya.raman@contoso.com>"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert re.fullmatch(r"<firebreak\.page\.1\.1\.\d+@contoso\.com>", mail["Message-ID"])
    text = _body(mail)
    for fact in ("You are paged for INC-1: Payments API down", "SEV1 (Critical)", "Service:", "Payments API",
                 "Priya Raman, level 1, at 2026-11-29 14:05 UTC", "The link works until 2026-11-30 14:05 UTC"):
        assert fact in text
    assert f'href="{PUBLIC_URL}/ack/' in mail.get_body(("html",)).get_content()
    delivered = await _wait_row(h, "page:1:1", lambda r: r.status == "sent")
    assert delivered.attempts == 1

    # the link: GET only shows the button (mail scanners open links); POST acknowledges
    path = _ack_path(mail)
    shown = await h.client.get(path)
    page = await shown.text()
    assert shown.status == 200 and '<form method="post">' in page and "INC-1: Payments API down" in page
    assert (await h.service.read(lambda s: paging_store.get_escalation(s, 1))).status == "active"
    pressed = await h.client.post(path)
    assert pressed.status == 200 and "You acknowledged the page for INC-1" in await pressed.text()
    escalation = await h.service.read(lambda s: paging_store.get_escalation(s, 1))
    assert (escalation.status, escalation.acknowledged_by) == ("acknowledged", "Priya Raman")
    again = await h.client.post(path)
    assert "Already acknowledged by Priya Raman" in await again.text()

    deliveries = [e.text for e in await _events(h, "page_delivery")]
    assert deliveries[0].startswith("page to Priya Raman via teams: failed (") and "403" in deliveries[0]
    assert deliveries[0].endswith("; trying email now")
    assert deliveries[1] == "page to Priya Raman delivered via email"
    [ack] = await _events(h, "page_ack")
    assert (ack.source, ack.actor_name) == ("ack_link", "Priya Raman")

    await h.until(lambda: any("acknowledged the page" in t for *_, t in _outbound_to_teams(h)))
    assert _outbound_to_teams(h) == [
        ("reply", "card"),                 # the incident card, in the chat it was declared in
        ("create 1:1 chat", ""),           # refused: 403
        ("send", "✅ Priya Raman acknowledged the page for INC-1; paging stopped."),
    ]
    assert len(box.messages) == 1


async def test_teams_failing_with_503_sends_the_email_once_retries_are_spent(app, connector, clock, smtp_server):
    h, box = app, smtp_server.mailbox
    start = clock.now()
    connector.fail_next(r"^/v3/conversations$", 503, method="POST", times=100)
    await _declare(h)
    # the worker retries Teams with backoff on the (fake) clock: move it to each retry's time
    for attempt in range(1, 8):
        row = await _wait_row(h, "page:1:0", lambda r, n=attempt: r.attempts == n and r.status == "pending")
        assert box.messages == []  # still trying Teams: no e-mail yet
        clock.advance(seconds=(row.next_at - clock.now()).total_seconds())
    row = await _wait_row(h, "page:1:0", lambda r: r.status == "failed")
    assert (row.status, row.attempts) == ("failed", 8)
    assert row.last_error.startswith("gave up after 8 attempts")

    [mail] = await h.until(box.parsed, timeout=8)
    assert clock.now() - start < timedelta(minutes=10)  # well before the e-mail's own turn
    assert mail["Subject"] == "[Firebreak] Page: INC-1 Payments API down (SEV1)"
    await _wait_row(h, "page:1:1", lambda r: r.status == "sent")
    deliveries = [e.text for e in await _events(h, "page_delivery")]
    assert "gave up after 8 attempts" in deliveries[0] and deliveries[0].endswith("; trying email now")
    assert deliveries[1] == "page to Priya Raman delivered via email"

    assert _outbound_to_teams(h) == [("reply", "card")] + [("create 1:1 chat", "")] * 8
    assert len(box.messages) == 1


async def test_acknowledged_in_teams_first_the_email_is_cancelled_and_never_sent(app, connector, clock, smtp_server):
    h, box = app, smtp_server.mailbox
    await _declare(h)
    await _wait_row(h, "page:1:0", lambda r: r.status == "sent")
    page_card = h.sent()[-1]
    assert page_card["text"] == "🚨 You are paged for INC-1: Payments API down"
    assert (await _row(h, "page:1:1")).status == "pending"

    clock.advance(minutes=4)
    status, _ = await h.press("page.ack", {"escalation_id": 1, "page_id": 1}, user=PRIYA[:2])
    assert status == 200
    assert (await _row(h, "page:1:1")).status == "cancelled"

    clock.advance(minutes=7)  # past the e-mail's turn
    await h.client.server.app[ENGINE_TICK_KEY].tick()
    await asyncio.sleep(1.5)  # more than the worker's poll interval: it had its chance to send
    row = await _row(h, "page:1:1")
    assert (row.status, row.attempts) == ("cancelled", 0)
    assert box.messages == []
    [ack] = await _events(h, "page_ack")
    assert ack.source == "card" and "1 contact attempts not needed" in ack.text
    assert [e.text for e in await _events(h, "page_delivery")] == ["page to Priya Raman delivered via teams"]
    await h.until(lambda: len(_outbound_to_teams(h)) >= 4)
    assert _outbound_to_teams(h) == [
        ("reply", "card"),
        ("create 1:1 chat", ""),
        ("send", "🚨 You are paged for INC-1: Payments API down"),
        ("send", "✅ Priya Raman acknowledged the page for INC-1; paging stopped."),
    ]


async def test_without_acknowledge_links_the_email_still_goes_and_says_to_use_teams(tmp_path, connector, clock,
                                                                                     smtp_server):
    h = await _start_app(tmp_path, connector, clock, smtp_server.port, FIREBREAK_PUBLIC_URL=PUBLIC_URL)
    try:
        connector.fail_next(r"^/v3/conversations$", 403, method="POST", body=NOT_INSTALLED)
        await _declare(h)
        [mail] = await h.until(smtp_server.mailbox.parsed, timeout=8)
        text = _body(mail)
        assert "Acknowledge in Teams: the page card in your chat with Firebreak" in text
        assert "/ack/" not in mail.as_string()
        await _wait_row(h, "page:1:1", lambda r: r.status == "sent")
        assert (await h.client.get("/ack/anything")).status == 404  # links are off
        assert len(smtp_server.mailbox.messages) == 1
        assert _outbound_to_teams(h) == [("reply", "card"), ("create 1:1 chat", "")]
    finally:
        await h.client.close()


# ----------------------------------------------------------------------------- SMTP answers -> outcomes


def _sender(port: int, **config) -> SmtpSender:
    smtp = SmtpConfig(host="127.0.0.1", port=port, sender="firebreak@contoso.com", tls=config.pop("tls", "none"),
                      **config)
    return SmtpSender(smtp, service=None, public_url="", ack_secret="", clock=None)  # send() needs neither


def _mail() -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"], mail["From"], mail["To"] = "test", "firebreak@contoso.com", PRIYA[2]
    mail["Message-ID"] = "<test@contoso.com>"
    mail.set_content("hello")
    return mail


async def test_a_mailbox_that_does_not_exist_is_permanent(smtp_server):
    smtp_server.mailbox.rcpt_reply = "550 5.1.1 Mailbox unavailable"
    outcome = await _sender(smtp_server.port).send(_mail(), PRIYA[2])
    assert (outcome.kind, outcome.status_code) == ("permanent", 550)
    assert "refused the recipient priya.raman@contoso.com (550 5.1.1 Mailbox unavailable)" in outcome.error
    assert smtp_server.mailbox.messages == []


async def test_a_temporary_refusal_is_retried(smtp_server):
    smtp_server.mailbox.rcpt_reply = "451 4.7.1 Greylisted, try again later"
    outcome = await _sender(smtp_server.port).send(_mail(), PRIYA[2])
    assert (outcome.kind, outcome.status_code) == ("retryable", 451)


async def test_nobody_listening_is_retried():
    outcome = await _sender(_free_port()).send(_mail(), PRIYA[2])
    assert outcome.kind == "retryable" and "cannot connect" in outcome.error


@pytest.mark.parametrize("bound", [{"timeout_s": 0.5}, {"total_s": 0.5}], ids=["per-step", "whole-exchange"])
async def test_a_server_that_stalls_before_the_message_is_retried(smtp_server, bound):
    smtp_server.mailbox.stall_rcpt_s = 2.0
    outcome = await _sender(smtp_server.port, **bound).send(_mail(), PRIYA[2])
    assert outcome.kind == "retryable" and "during envelope" in outcome.error


async def test_a_server_that_stalls_after_the_message_is_delivery_unknown(smtp_server):
    """The server may have queued it (RFC 1047): the outbox must not send it again."""
    smtp_server.mailbox.stall_data_s = 2.0
    with pytest.raises(TimeoutError):
        await _sender(smtp_server.port, timeout_s=0.5).send(_mail(), PRIYA[2])


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
async def test_wrong_credentials_are_permanent_and_say_what_to_check(smtp_auth_server):
    outcome = await _sender(smtp_auth_server.port, username="firebreak", password="wrong").send(_mail(), PRIYA[2])
    assert (outcome.kind, outcome.status_code) == ("permanent", 535)
    assert "refused the login" in outcome.error and "FIREBREAK_SMTP_PASSWORD" in outcome.error
    assert "wrong" not in outcome.error
    good = await _sender(smtp_auth_server.port, username="firebreak", password="right").send(_mail(), PRIYA[2])
    assert good.kind == "ok" and len(smtp_auth_server.mailbox.messages) == 1


async def test_starttls_required_but_not_offered_is_permanent(smtp_server):
    outcome = await _sender(smtp_server.port, tls="starttls").send(_mail(), PRIYA[2])
    assert outcome.kind == "permanent" and "FIREBREAK_SMTP_TLS" in outcome.error
    assert smtp_server.mailbox.messages == []
