"""Pages by e-mail: an outbox sender that speaks SMTP (aiosmtplib), for when Teams cannot reach
someone (the app is not installed for them, Teams is down) or as a later contact method.

A page e-mail is rendered at delivery time from the current state, like the Teams page card,
and is not sent at all (cancelled) when the page was acknowledged or paging stopped meanwhile.
With FIREBREAK_PUBLIC_URL and FIREBREAK_ACK_SECRET set it carries a signed acknowledge link
(`bot/ack_links.py`, served by `bot/web_ack.py`); without them it asks to acknowledge in Teams.

How failures map to outbox outcomes (`OutboundSender`: an exception means "delivery unknown",
and the row is not resent):

- cannot connect (refused, DNS, connect timeout), or a timeout or dropped connection before the
  message's DATA is sent: retryable. Nothing was handed over, so trying again cannot duplicate.
- a timeout or dropped connection while DATA is sent or acknowledged: raised, so the outbox
  records "delivery unknown" and moves on to the person's next contact method. The server may
  have queued the mail already (RFC 1047), and a page is better reached another way than sent
  twice; the Message-ID is stable per contact attempt for the same reason.
- an SMTP 4xx reply (greylisting, mailbox busy, 454 temporary auth failure): retryable.
- an SMTP 5xx reply (550 mailbox unavailable, 535 bad credentials), a server without STARTTLS
  or AUTH when they are configured, an untrusted certificate, a malformed address: permanent,
  with an error that says what to fix.
"""
from __future__ import annotations

import asyncio
import html
import logging
import ssl
from dataclasses import dataclass, field
from datetime import datetime
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime

import aiosmtplib

from bot.clock import Clock
from bot.config import Settings
from bot.domain.formatting import format_time
from bot.domain.outbox import DeliveryOutcome, about_to_send
from bot.domain.service import IncidentService
from bot.senders.common import PageFacts, page_facts
from storage.outbox import OutboxMessage

log = logging.getLogger(__name__)

SMTP_TIMEOUT_S = 10.0
"""Per SMTP step (connect, each command)."""
SMTP_TOTAL_S = 20.0
"""The whole exchange, so it ends inside the outbox worker's own 30 s bound (past which the
worker would record "delivery unknown" even before DATA)."""


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to send mail (from FIREBREAK_SMTP_*)."""

    host: str
    sender: str
    port: int = 587
    tls: str = "starttls"  # "starttls" | "tls" | "none"
    username: str = ""
    password: str = field(default="", repr=False)
    timeout_s: float = SMTP_TIMEOUT_S
    total_s: float = SMTP_TOTAL_S

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpConfig | None:
        """The configuration, or None when FIREBREAK_SMTP_HOST is empty (e-mail paging off)."""
        if not settings.smtp_host:
            return None
        return cls(host=settings.smtp_host, port=settings.smtp_port, sender=settings.smtp_from,
                   tls=settings.smtp_tls, username=settings.smtp_username,
                   password=settings.smtp_password.get_secret_value())

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


class SmtpSender:
    """Delivers page rows whose contact method is `email` (see the module docstring)."""

    def __init__(self, config: SmtpConfig, *, service: IncidentService, public_url: str, ack_secret: str,
                 clock: Clock) -> None:
        self._config = config
        self._service = service
        self._public_url = public_url
        self._ack_secret = ack_secret
        self._clock = clock

    starts_itself = True  # calls about_to_send() right before DATA

    async def deliver(self, message: OutboxMessage) -> DeliveryOutcome:
        now = self._clock.now()
        facts = await page_facts(self._service, message.payload, public_url=self._public_url,
                                 ack_secret=self._ack_secret, now=now)
        if isinstance(facts, DeliveryOutcome):
            return facts
        to = message.payload.get("address") or facts.page.email
        try:
            mail = render_page_email(facts, sender=self._config.sender, to=to, now=now,
                                     message_id=message_id(message, facts, self._config.sender))
        except (ValueError, MessageError) as exc:  # an address the e-mail format cannot carry
            return DeliveryOutcome.permanent(f"cannot write an e-mail to {to!r}: {exc}; fix the address in the plan")
        return await self.send(mail, to, message=message)

    async def send(self, mail: EmailMessage, to: str, *, message: OutboxMessage | None = None) -> DeliveryOutcome:
        """Hand one e-mail to the SMTP server; the outcome as the module docstring maps it."""
        config = self._config
        client = aiosmtplib.SMTP(hostname=config.host, port=config.port, timeout=config.timeout_s,
                                 use_tls=config.tls == "tls", start_tls=config.tls == "starttls")
        stage = "connect"
        try:
            async with asyncio.timeout(config.total_s):
                await client.connect()  # STARTTLS, when configured, is part of connecting
                if config.username:
                    stage = "login"
                    await client.login(config.username, config.password)
                stage = "envelope"
                await client.mail(config.sender)
                await client.rcpt(to)
                stage = "data"
                if not await about_to_send():  # marked `sending` only now: nothing was delivered before
                    return DeliveryOutcome.cancelled("another worker has this row now")
                await client.data(mail.as_bytes(policy=SMTP_POLICY))
        except aiosmtplib.SMTPResponseException as exc:
            return _refused(exc, stage=stage, config=config, to=to)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            return _refused(exc.recipients[0], stage=stage, config=config, to=to)
        except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPTimeoutError, aiosmtplib.SMTPServerDisconnected,
                OSError) as exc:
            if _untrusted_certificate(exc):
                return DeliveryOutcome.permanent(
                    f"the SMTP server {config.where} presented a certificate this machine does not trust "
                    "(check FIREBREAK_SMTP_HOST matches the certificate, or the CA bundle)")
            if stage == "data":
                log.warning("e-mail page: delivery unknown (%s during DATA)", type(exc).__name__,
                            extra={"outbox_id": message.id if message else None,
                                   "incident": message.incident_id if message else None})
                raise
            return DeliveryOutcome.retryable(status_code=None, error=f"SMTP {config.where}: {_describe(exc, stage)}")
        except aiosmtplib.SMTPException as exc:  # no STARTTLS / no AUTH on the server, SMTPUTF8 needed
            return DeliveryOutcome.permanent(f"SMTP {config.where}: {exc.message} (check FIREBREAK_SMTP_TLS and "
                                             "FIREBREAK_SMTP_USERNAME)")
        except ValueError as exc:  # an address aiosmtplib will not put on the wire
            return DeliveryOutcome.permanent(f"cannot send to {to!r}: {exc}")
        finally:
            await _quit(client)
        return DeliveryOutcome.ok(str(mail["Message-ID"])[:200])


def _refused(exc: aiosmtplib.SMTPResponseException, *, stage: str, config: SmtpConfig, to: str) -> DeliveryOutcome:
    """An SMTP reply code: 4xx is worth retrying, 5xx is not."""
    reply = f"{exc.code} {' '.join(str(exc.message).split())}"[:300]
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        what = (f"the SMTP server {config.where} refused the login ({reply}); check FIREBREAK_SMTP_USERNAME "
                "and FIREBREAK_SMTP_PASSWORD")
    elif isinstance(exc, aiosmtplib.SMTPRecipientRefused):
        what = f"the SMTP server refused the recipient {to} ({reply})"
    elif isinstance(exc, aiosmtplib.SMTPSenderRefused):
        what = f"the SMTP server refused the sender {config.sender} ({reply}); check FIREBREAK_SMTP_FROM"
    else:
        what = f"SMTP {config.where} answered {reply} during {stage}"
    if 400 <= exc.code < 500:
        return DeliveryOutcome.retryable(status_code=exc.code, error=what)
    return DeliveryOutcome.permanent(what, status_code=exc.code)


def _untrusted_certificate(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _describe(exc: BaseException, stage: str) -> str:
    if isinstance(exc, aiosmtplib.SMTPConnectError) or stage == "connect":
        return f"cannot connect ({type(exc).__name__}: {exc})"[:300]
    return f"{type(exc).__name__} during {stage}"


async def _quit(client: aiosmtplib.SMTP) -> None:
    """Say goodbye politely when still connected; a failure here changes nothing."""
    if not client.is_connected:
        return
    try:
        await client.quit(timeout=2)
    except (aiosmtplib.SMTPException, OSError):  # the mail is already accepted or refused; only the socket is left
        client.close()


def message_id(message: OutboxMessage, facts: PageFacts, sender: str) -> str:
    """A stable Message-ID per contact attempt: if an attempt is ever repeated, mail systems
    that drop duplicate Message-IDs show it once. Includes the page's creation time so ids
    never repeat across databases."""
    domain = sender.rpartition("@")[2] or "firebreak.invalid"
    stamp = int(facts.page.created_at.timestamp() * 1000)
    slug = "".join(c if c.isalnum() else "." for c in message.key)
    return f"<firebreak.{slug}.{stamp}@{domain}>"


def render_page_email(facts: PageFacts, *, sender: str, to: str, now: datetime, message_id: str) -> EmailMessage:
    """The page as a plain-text e-mail with an HTML alternative (pure; no I/O)."""
    inc = facts.view.incident
    title = " ".join(inc.title.split())
    mail = EmailMessage()
    mail["Subject"] = f"[Firebreak] Page: {facts.ref} {title} ({facts.severity_label})"
    mail["From"] = Address("Firebreak", addr_spec=sender) if "@" in sender else sender
    mail["To"] = Address(facts.person_name, addr_spec=to) if _plain_address(to) else to
    mail["Date"] = format_datetime(now)
    mail["Message-ID"] = message_id
    # An automatic message: no out-of-office replies, no auto-forward loops (RFC 3834; Exchange).
    mail["Auto-Submitted"] = "auto-generated"
    mail["X-Auto-Response-Suppress"] = "All"
    mail["Importance"] = "high"
    mail["X-Priority"] = "1"
    facts_rows = _fact_rows(facts)
    mail.set_content(_plain(facts, title, facts_rows))
    mail.add_alternative(_html(facts, title, facts_rows), subtype="html")
    return mail


def _plain_address(address: str) -> bool:
    local, at, domain = address.rpartition("@")
    return bool(at and local and domain) and all(ord(c) < 128 for c in address)


def _fact_rows(facts: PageFacts) -> list[tuple[str, str]]:
    inc = facts.view.incident
    rows = [("Severity", f"{facts.severity_label} ({facts.severity_name})"), ("Status", inc.status.capitalize())]
    if facts.service_name:
        rows.append(("Service", facts.service_name))
    rows.append(("Declared", f"{format_time(inc.declared_at)} by {inc.declared_by_name or 'someone'}"))
    if facts.manager:
        rows.append(("Incident manager", facts.manager))
    rows.append(("Paged", f"{facts.person_name}, level {facts.page.level + 1}, at {format_time(facts.page.created_at)}"))
    return rows


def _plain(facts: PageFacts, title: str, rows: list[tuple[str, str]]) -> str:
    inc = facts.view.incident
    lines = [f"You are paged for {facts.ref}: {title}", ""]
    width = max(len(label) for label, _ in rows) + 1
    lines += [f"{label + ':':<{width}} {value}" for label, value in rows]
    if inc.last_update_text:
        lines += ["", f"Latest update: {inc.last_update_text}"]
    lines.append("")
    if facts.ack_url and facts.ack_expires:
        lines += ["Acknowledge the page (opens a page with an Acknowledge button):", facts.ack_url,
                  f"The link works until {format_time(facts.ack_expires)}.", "",
                  "Or acknowledge in Teams: the page card in your chat with Firebreak."]
    else:
        lines.append("Acknowledge in Teams: the page card in your chat with Firebreak, or in the incident's space.")
    if inc.space_url:
        lines += ["", f"The incident's space in Teams: {inc.space_url}"]
    lines += ["", "-- ", "Sent by Firebreak because you are on the escalation path for this incident.",
              "Until someone acknowledges, paging continues to the next contact method or level."]
    return "\n".join(lines) + "\n"


def _html(facts: PageFacts, title: str, rows: list[tuple[str, str]]) -> str:
    esc = html.escape
    inc = facts.view.incident
    table = "".join(f"<tr><th align=\"left\" style=\"padding:2px 12px 2px 0\">{esc(label)}</th>"
                    f"<td>{esc(value)}</td></tr>" for label, value in rows)
    parts = [f"<h2 style=\"color:#c50f1f\">🚨 Page: {esc(facts.ref)}</h2>", f"<p><strong>{esc(title)}</strong></p>",
             f"<table>{table}</table>"]
    if inc.last_update_text:
        parts.append(f"<p>Latest update: {esc(inc.last_update_text)}</p>")
    if facts.ack_url and facts.ack_expires:
        parts.append(f"<p><a href=\"{esc(facts.ack_url, quote=True)}\" style=\"display:inline-block;"
                     "padding:10px 18px;background:#107c10;color:#fff;text-decoration:none;border-radius:4px\">"
                     "Acknowledge the page</a></p>"
                     f"<p style=\"color:#616161\">The link opens a page with an Acknowledge button and works until "
                     f"{esc(format_time(facts.ack_expires))}. Or acknowledge in Teams: the page card in your chat "
                     "with Firebreak.</p>")
    else:
        parts.append("<p>Acknowledge in Teams: the page card in your chat with Firebreak, or in the incident's "
                     "space.</p>")
    if inc.space_url:
        parts.append(f"<p><a href=\"{esc(inc.space_url, quote=True)}\">Open the incident's space in Teams</a></p>")
    parts.append("<p style=\"color:#616161;font-size:small\">Sent by Firebreak because you are on the escalation "
                 "path for this incident. Until someone acknowledges, paging continues to the next contact method "
                 "or level.</p>")
    return "<!doctype html><html><body style=\"font-family:Segoe UI,Arial,sans-serif\">" + "".join(parts) + \
        "</body></html>"

