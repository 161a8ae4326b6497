"""Pages by webhook: an outbox sender that POSTs JSON to the `address` a person's plan contact
names (an SMS or voice gateway, a phone-call service, a home-made relay).

The body, rendered at delivery time from the current state:

    {"type": "firebreak.page",
     "incident": {"id": 7, "ref": "INC-7", "title": ..., "severity": "sev1", "status": ..., "url": ...},
     "page": {"id": 12, "email": ..., "name": ..., "level": 1},
     "text": "one line fit for an SMS",
     "ack_url": "https://.../ack/..."}          # only when acknowledge links are on

`page.level` counts from 1; `incident.url` is the incident's Teams space when it has one.
With FIREBREAK_WEBHOOK_SECRET set, each request is signed the way Firebreak checks signed
alerts (DESIGN.md section 4): `X-Firebreak-Timestamp: <unix seconds>` and
`X-Firebreak-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`; receivers should
reject timestamps more than 5 minutes off. `X-Firebreak-Delivery` is the same for every retry
of one contact attempt, so a receiver can drop a repeat.

The address must be https (or http to this machine: a local relay, a test), as the plan
checks; redirects are not followed, since a redirect could lead the page (and its ack link)
somewhere the plan never named.

How answers map to outbox outcomes (`OutboundSender`: an exception means "delivery unknown",
and the row is not resent):

- 2xx: delivered. 408, 429 and 5xx: retryable, honouring Retry-After. Other 3xx/4xx: permanent
  (the person's next contact method is tried at once).
- no connection made (refused, DNS failure, connect timeout): retryable; nothing was sent,
  and the row was never marked `sending` (the mark comes once connected, just before the
  first byte, one request at a time: `bot/marked_body.py`).
- an untrusted certificate: permanent (retrying cannot fix it).
- a timeout or dropped connection after the request went out: raised. The gateway may already
  have texted the person; the outbox records "delivery unknown" and moves on to the next
  contact method instead of texting twice.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import urllib.request
from collections.abc import Callable
from urllib.parse import urlsplit

import aiohttp

from bot.clock import Clock
from bot.retry_after import parse_retry_after
from bot.domain.formatting import incident_ref
from bot.domain.outbox import DeliveryOutcome, about_to_send
from bot.marked_body import MarkedBody
from bot.domain.service import IncidentService
from bot.senders import is_loopback_host
from bot.senders.common import PageFacts, page_facts
from storage.outbox import OutboxMessage

log = logging.getLogger(__name__)

EVENT_TYPE = "firebreak.page"
RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})
USER_AGENT = "Firebreak-Webhook/1"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256 over `<timestamp>.<body>`, as in X-Firebreak-Signature."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body,
                                hashlib.sha256).hexdigest()


def allowed_address(url: str) -> bool:
    """https anywhere, or http to this machine only (the plan's rule, checked on the parsed host)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if not parts.hostname:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(parts.hostname))


class WebhookSender:
    """Delivers page rows whose contact method is `webhook` (see the module docstring)."""

    def __init__(self, *, service: IncidentService, secret: str, session_provider: Callable[[], aiohttp.ClientSession],
                 public_url: str = "", ack_secret: str = "", clock: Clock | None = None, timeout_s: float = 10.0) -> None:
        self._service = service
        self._secret = secret
        self._session = session_provider
        self._public_url = public_url
        self._ack_secret = ack_secret
        self._clock = clock or service.clock
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, connect=min(timeout_s, 5.0))

    starts_itself = True  # calls about_to_send() once connected, right before the POST's first byte

    async def deliver(self, message: OutboxMessage) -> DeliveryOutcome:
        address = message.payload.get("address") or ""
        if not allowed_address(address):
            return DeliveryOutcome.permanent(f"webhook address {address or '(none)'} is not https; fix the person's "
                                             "contact in the plan")
        now = self._clock.now()
        facts = await page_facts(self._service, message.payload, public_url=self._public_url,
                                 ack_secret=self._ack_secret, now=now)
        if isinstance(facts, DeliveryOutcome):
            return facts
        body = json.dumps(page_body(facts), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT,
                   "X-Firebreak-Delivery": message.key}
        if self._secret:
            timestamp = str(int(now.timestamp()))
            headers["X-Firebreak-Timestamp"] = timestamp
            headers["X-Firebreak-Signature"] = signature(self._secret, timestamp, body)
        return await self._post(address, body, headers, message)

    async def _post(self, address: str, body: bytes, headers: dict[str, str], message: OutboxMessage) -> DeliveryOutcome:
        host = urlsplit(address).hostname or "?"
        # marked `sending` once connected, right before the first byte (bot/marked_body.py): a
        # gateway that cannot be reached leaves the row unmarked, and so retryable
        marked = MarkedBody(body, about_to_send)
        try:
            async with self._session().post(address, data=marked.chunks(), headers={**headers, **marked.headers},
                                            timeout=self._timeout, allow_redirects=False,
                                            proxy=_proxy_for(address)) as response:
                status = response.status
                detail = " ".join((await response.text(errors="replace"))[:200].split())
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
        except aiohttp.ClientConnectorCertificateError:
            return DeliveryOutcome.permanent(f"the webhook host {host} presented a certificate this machine does not "
                                             "trust")
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:  # nothing was sent
            return DeliveryOutcome.retryable(status_code=None, error=f"cannot connect to {host}: {type(exc).__name__}")
        except (TimeoutError, aiohttp.ClientError) as exc:
            if marked.declined:  # nothing was written
                return DeliveryOutcome.cancelled("another worker has this row now")
            log.warning("webhook page: delivery unknown (%s after sending)", type(exc).__name__,
                        extra={"outbox_id": message.id, "incident": message.incident_id})
            raise
        finally:
            marked.give_back()
        if 200 <= status < 300:
            return DeliveryOutcome.ok()
        said = f"webhook {host} answered HTTP {status}" + (f": {detail}" if detail else "")
        if status in RETRYABLE:
            return DeliveryOutcome.retryable(status_code=status, retry_after=retry_after, error=said)
        if 300 <= status < 400:
            said += " (a redirect; put the final https URL in the plan)"
        return DeliveryOutcome.permanent(said, status_code=status)


def page_body(facts: PageFacts) -> dict:
    """The JSON a webhook receives (see the module docstring)."""
    inc = facts.view.incident
    title = " ".join(inc.title.split())
    text = f"Firebreak page: {incident_ref(facts.view.id)} {title} ({facts.severity_label})"
    if facts.ack_url:
        text += f". Acknowledge: {facts.ack_url}"
    body: dict = {
        "type": EVENT_TYPE,
        "incident": {"id": facts.view.id, "ref": facts.ref, "title": title, "severity": inc.severity,
                     "status": inc.status, "url": inc.space_url},
        "page": {"id": facts.page.id, "email": facts.page.email, "name": facts.person_name,
                 "level": facts.page.level + 1},
        "text": text,
    }
    if facts.ack_url:
        body["ack_url"] = facts.ack_url
    return body


def _proxy_for(url: str) -> str | None:
    """HTTPS_PROXY / HTTP_PROXY unless NO_PROXY exempts the host (the shared session ignores the
    environment, so a corporate proxy is applied here, per request)."""
    parts = urlsplit(url)
    if not parts.hostname or is_loopback_host(parts.hostname):
        return None
    if urllib.request.proxy_bypass_environment(parts.hostname):
        return None
    return urllib.request.getproxies_environment().get(parts.scheme)
