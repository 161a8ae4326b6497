"""Build the e-mail and webhook page senders from the settings (called by app.py only)."""
from __future__ import annotations

import logging
from collections.abc import Callable

import aiohttp

from bot.clock import Clock
from bot.config import Settings
from bot.domain.service import IncidentService
from bot.errors import ConfigError
from bot.senders.webhook import WebhookSender

log = logging.getLogger(__name__)


def page_senders(settings: Settings, *, service: IncidentService, clock: Clock,
                 session_provider: Callable[[], aiohttp.ClientSession]) -> tuple[object | None, WebhookSender]:
    """(e-mail sender or None when FIREBREAK_SMTP_HOST is empty, webhook sender). Webhook
    addresses come from the plan, so that sender always exists. ConfigError names every
    problem in the e-mail and acknowledge-link settings."""
    problems = settings.paging_problems()
    if problems:
        raise ConfigError("Paging settings are not valid:\n  - " + "\n  - ".join(problems))
    ack_secret = settings.ack_secret.get_secret_value()
    if ack_secret and not settings.public_url:
        log.warning("FIREBREAK_ACK_SECRET is set but FIREBREAK_PUBLIC_URL is not: pages carry no acknowledge link")
    email = None
    if settings.smtp_host:  # aiosmtplib and the e-mail modules only in deployments that send e-mail
        from bot.senders.email import SmtpConfig, SmtpSender

        smtp = SmtpConfig.from_settings(settings)
        email = SmtpSender(smtp, service=service, public_url=settings.public_url, ack_secret=ack_secret, clock=clock)
    webhook = WebhookSender(service=service, secret=settings.webhook_secret.get_secret_value(),
                            session_provider=session_provider, public_url=settings.public_url,
                            ack_secret=ack_secret, clock=clock)
    return email, webhook
