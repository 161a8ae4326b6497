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
from bot.domain.outbox import DeliveryOutcome
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
        return AuthResult(success=ok)

    mailbox = Mailbox()
    port = _free_port()
    controller = aiosmtpd_controller.Controller(mailbox, hostname="127.0.0.1", port=port, authenticator=authenticator,
                                                auth_require_tls=False, auth_required=True)
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


@pytest.fixture
async def app(tmp_path, connector, clock, smtp_server):
    """The real app, e-mail paging pointed at the real SMTP server, Priya known in Teams."""
    h = await start_harness(
        tmp_path / "fb.db", connector, clock, plan=_plan(),
        FIREBREAK_SMTP_HOST="127.0.0.1", FIREBREAK_SMTP_PORT=smtp_server.port, FIREBREAK_SMTP_TLS="none",
        FIREBREAK_SMTP_FROM="firebreak@contoso.com", FIREBREAK_ACK_SECRET=ACK_SECRET, FIREBREAK_PUBLIC_URL=PUBLIC_URL)
    aad, name, mail = PRIYA
    await h.service.execute(lambda s, now: conversations.remember_person(
        s, aad_object_id=aad, display_name=name, email=mail, now=now))
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


def _outbound_to_teams(h: Harness) -> list[tuple[str, str, str]]:
    """Every write the bot made to the Bot Connector: (method, path kind, text)."""
    found = []
    for r in h.connector.requests:
        if r.method == "GET":
            continue  # member lookups (who is acting) change nothing
        kind = "create-conversation" if r.path == "/v3/conversations" else re.sub(r"^/v3/conversations/[^/]+", "", r.path)
        text = (r.json or {}).get("text") or "" if isinstance(r.json, dict) else ""
        found.append((r.method, kind, text))
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

    # the e-mail goes in the same outbox run that learnt Teams refused: the clock never moves
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
    print(_outbound_to_teams(h))
    assert len(box.messages) == 1
