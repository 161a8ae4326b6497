"""Pure checks on an inbound activity, run before the Bot Framework SDK sees it.

botbuilder 4.17 sends its reply, with the bot's token, to whatever `serviceUrl` the activity
names, and with an empty app id it accepts unauthenticated activities (DESIGN.md section 6).
A valid Bot Framework token also says nothing about the tenant. So Firebreak fails closed on
its own: only Teams, only allowed tenants, only Microsoft's Teams connector hosts (or loopback
in dev mode). The same `is_allowed_service_url` is meant to be re-checked whenever a stored
conversation reference is used for a proactive send.

Nothing here imports botbuilder or does I/O; every function is safe on untrusted input.
"""
from __future__ import annotations

import ipaddress
from typing import Any, Protocol
from urllib.parse import urlsplit

#: Hosts of the Bot Connector service that Teams names as `serviceUrl`, per cloud. From
#: Microsoft's Teams SDK service-URL allow-list ("Service URL Validation") and the
#: Agents SDK `TeamsServiceEndpoints` constants.
TEAMS_SERVICE_URL_HOSTS: frozenset[str] = frozenset(
    {
        "smba.trafficmanager.net",  # public (commercial) cloud
        "smba.onyx.prod.teams.trafficmanager.net",  # public cloud, newer routing
        "smba.infra.gcc.teams.microsoft.com",  # GCC
        "smba.infra.gov.teams.microsoft.us",  # GCC High
        "smba.infra.dod.teams.microsoft.us",  # DoD
    }
)

TEAMS_CHANNEL_ID = "msteams"

# Characters that no legitimate serviceUrl contains but that URL parsers treat differently
# (a backslash is a path separator for browsers and some HTTP clients, not for urlsplit).
_SUSPICIOUS_CHARS = frozenset("\\ \t\r\n@")


class GateSettings(Protocol):
    """The part of `bot.config.Settings` the gate reads."""

    dev: bool

    @property
    def allowed_tenants(self) -> frozenset[str]: ...


def _is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_allowed_service_url(url: object, *, dev: bool) -> bool:
    """May the bot send to this `serviceUrl`?

    Production: `https` to a Teams connector host on the default port. Dev mode: `http` or
    `https` to loopback only (Agents Playground, the fake connector). Anything odd (user info,
    backslashes, whitespace, bad ports) is refused rather than interpreted.
    """
    if not isinstance(url, str) or not url or len(url) > 2048:
        return False
    if not url.isprintable() or any(ch in _SUSPICIOUS_CHARS for ch in url):
        return False
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return False
    if dev:
        return parts.scheme in ("http", "https") and _is_loopback_host(host)
    return (
        parts.scheme == "https"
        and host in TEAMS_SERVICE_URL_HOSTS
        and port in (None, 443)
    )


def _dig(obj: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def activity_tenant_id(activity: Any) -> str | None:
    """The Entra ID tenant an activity comes from: `conversation.tenantId`, else
    `channelData.tenant.id`; None when neither is a non-empty string."""
    candidates = (
        _dig(activity, "conversation", "tenantId"),
        _dig(activity, "channelData", "tenant", "id"),
    )
    for value in candidates:
        if isinstance(value, str) and value:
            return value
    return None


def gate_activity(activity: Any, settings: GateSettings) -> str | None:
    """None if the activity may reach the bot, else a short reason (safe to log: it never
    echoes values from the request).

    Production: `channelId` must be `msteams`, the tenant must be allowed (and both places
    that carry a tenant id must agree), and `serviceUrl` must be a Teams connector host.
    Dev mode: `serviceUrl` must be loopback, so a dev instance can never be made to send
    anywhere else.
    """
    if not isinstance(activity, dict):
        return "body is not a JSON object"
    service_url = activity.get("serviceUrl")
    if settings.dev:
        if not is_allowed_service_url(service_url, dev=True):
            return "serviceUrl is not a loopback URL (dev mode)"
        return None
    if activity.get("channelId") != TEAMS_CHANNEL_ID:
        return "channelId is not msteams"
    tenant = activity_tenant_id(activity)
    if tenant is None:
        return "activity carries no tenant id"
    other = _dig(activity, "channelData", "tenant", "id")
    if isinstance(other, str) and other and other != tenant:
        return "conversation.tenantId and channelData.tenant.id disagree"
    if tenant not in settings.allowed_tenants:
        return "tenant is not allowed"
    if not is_allowed_service_url(service_url, dev=False):
        return "serviceUrl is not a Teams connector host"
    return None
