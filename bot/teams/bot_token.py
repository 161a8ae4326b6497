"""The bot's bearer token for its outbound Bot Connector calls, fetched off the event loop.

botframework's `AppCredentials.signed_session` is synchronous: MSAL answers from its cache,
and on a miss (about once an hour, and on every attempt while Microsoft Entra ID is down) it
does OIDC discovery and a token request with `requests`, with no timeout. Called on the event
loop, as the SDK does, one slow or hanging token endpoint would freeze the whole bot (the
escalation tick, alert webhooks, and the e-mail and webhook fallbacks meant for exactly that
outage). So:

- the fetch runs on a thread of its own (one: a hung fetch must not starve the default
  executor, which aiohttp also uses for DNS), and the caller waits at most TOKEN_TIMEOUT_S;
- the MSAL app behind `MicrosoftAppCredentials` is created with that timeout on its HTTP
  calls, so a fetch that hangs also ends, and the thread is free for the next one;
- every way it can fail (timeout, connection error, discovery failing, Entra ID refusing:
  the SDK's PermissionError) is one `TokenUnavailable`: nothing was sent, so the outbox
  retries it (the Graph token does the same in `bot/teams/graph_auth.py`).

In dev mode (no app id) there is no token and no thread: `signed_session` only removes the
header.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any

from botframework.connector.auth import MicrosoftAppCredentials
from msal import ConfidentialClientApplication

TOKEN_TIMEOUT_S = 10.0

_FETCHER = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="bot-token")


class TokenUnavailable(Exception):
    """The bot's token could not be had (Entra ID unreachable, slow or refusing); nothing was sent."""


class HeaderSink:
    """What `AppCredentials.signed_session` writes its Authorization header into."""

    def __init__(self) -> None:
        self.headers: dict[str, str] = {}


async def authorization(credentials: Any, *, timeout_s: float | None = None) -> dict[str, str]:
    """The Authorization header `credentials` give (none in dev mode), without blocking the loop."""
    sink = HeaderSink()
    if credentials is None:
        return sink.headers
    if not getattr(credentials, "microsoft_app_id", None):  # dev mode: no token, nothing to fetch
        credentials.signed_session(sink)
        return sink.headers
    limit = TOKEN_TIMEOUT_S if timeout_s is None else timeout_s
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.run_in_executor(_FETCHER, _sign, credentials, sink, limit), limit)
    except asyncio.TimeoutError as exc:
        raise TokenUnavailable(f"no token from Microsoft Entra ID within {limit:g} s") from exc
    except PermissionError as exc:  # MSAL's answer was an error (AADSTS...): the SDK's wording
        raise TokenUnavailable(" ".join(str(exc).split())[:300]) from exc
    except (OSError, ValueError) as exc:  # requests' connection errors; MSAL's failed authority discovery
        raise TokenUnavailable(f"cannot reach Microsoft Entra ID: {type(exc).__name__}") from exc
    return sink.headers


def _sign(credentials: Any, sink: HeaderSink, timeout_s: float) -> None:
    """On the token thread: give MSAL a timeout before its first call, then sign."""
    if isinstance(credentials, MicrosoftAppCredentials) and credentials.app is None:
        # what the SDK's own (private) factory builds, plus a timeout on every HTTP call
        credentials.app = ConfidentialClientApplication(
            client_id=credentials.microsoft_app_id, client_credential=credentials.microsoft_app_password,
            authority=credentials.oauth_endpoint, timeout=timeout_s)
    credentials.signed_session(sink)
