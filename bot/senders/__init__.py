"""Outbox senders for pages that do not go through Teams: e-mail (SMTP) and webhooks.

`bot.senders.wiring.page_senders` builds them from the settings; `bot/outbox_routing.py`
hands each page's e-mail or webhook contact attempt to them.
"""
from __future__ import annotations

import ipaddress


def is_loopback_host(host: str | None) -> bool:
    """True for `localhost` and loopback addresses (127.0.0.0/8, ::1): traffic that stays on this machine."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
