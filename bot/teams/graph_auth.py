"""Tokens for Microsoft Graph: client credentials for the bot's own app, through MSAL.

MSAL is blocking, so every call runs in a thread; one MSAL app is kept so its token cache is
reused. Errors come back as the Graph client's typed errors, never with the secret in them.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import msal

from bot.teams.graph import GRAPH_SCOPE, GraphError, GraphForbidden, GraphNotConfigured, GraphUnavailable

_CONSENT_ERRORS = frozenset({"access_denied", "consent_required", "interaction_required"})
_TRANSIENT_ERRORS = frozenset({"temporarily_unavailable", "server_error"})


def msal_token_provider(
    *,
    tenant_id: str,
    client_id: str,
    client_secret: str,
    authority_host: str = "https://login.microsoftonline.com",
    timeout_s: float = 10,
    app_factory: Callable[..., Any] | None = None,
) -> Callable[[], Awaitable[str]]:
    """An async source of app-only Graph tokens (client credentials flow) for `GraphClient`.

    MSAL is blocking, so each call runs in a worker thread. One `ConfidentialClientApplication`
    is built on first use (building it fetches the tenant's OpenID configuration) and kept, so
    MSAL's own token cache answers until the token nears expiry. Missing or refused credentials
    raise GraphNotConfigured / GraphForbidden on each call rather than here, so the app can wire
    Graph unconditionally and fall back to threads. Messages never contain the secret or a token.
    `app_factory` replaces `msal.ConfidentialClientApplication` in tests.
    """
    missing = [
        label
        for label, value in (
            ("tenant id (MICROSOFT_APP_TENANT_ID)", tenant_id),
            ("client id (MICROSOFT_APP_ID)", client_id),
            ("client secret (MICROSOFT_APP_PASSWORD)", client_secret),
        )
        if not value
    ]
    authority = f"{authority_host.rstrip('/')}/{tenant_id}"
    lock = asyncio.Lock()
    apps: list[Any] = []  # at most one: the application whose token cache we reuse

    def scrub(text: str) -> str:
        return text.replace(client_secret, "***") if client_secret else text

    def acquire() -> dict[str, Any]:  # in a worker thread
        if not apps:
            factory = app_factory or msal.ConfidentialClientApplication
            apps.append(factory(client_id, client_credential=client_secret, authority=authority,
                                timeout=timeout_s))
        return apps[0].acquire_token_for_client(scopes=[GRAPH_SCOPE])

    async def provider() -> str:
        if missing:
            raise GraphNotConfigured("Graph is not configured: missing " + ", ".join(missing) + ".")
        async with lock:  # one token request at a time; the cache answers the others
            try:
                result = await asyncio.to_thread(acquire)
            except ValueError as exc:  # MSAL could not discover the authority
                raise GraphNotConfigured(
                    f"Could not use the Entra ID tenant {tenant_id!r} at {authority_host}: "
                    f"{scrub(str(exc)).splitlines()[0] if str(exc) else 'unknown tenant'}"
                ) from None
            except Exception as exc:  # noqa: BLE001 - whatever MSAL raises, paging must go on
                raise GraphUnavailable(
                    f"Could not reach Entra ID at {authority_host} for a Graph token: "
                    f"{type(exc).__name__}."
                ) from None
        token = result.get("access_token") if isinstance(result, dict) else None
        if token:
            return str(token)
        raise _token_error(result if isinstance(result, dict) else {}, client_id, scrub)

    return provider


def _token_error(result: dict[str, Any], client_id: str, scrub: Callable[[str], str]) -> GraphError:
    """The typed error for an MSAL error dict (`error`, `error_description`, `error_codes`)."""
    error = str(result.get("error") or "no_token")
    description = scrub(str(result.get("error_description") or "")).splitlines()
    said = f"{error}: {description[0]}" if description else error
    codes = result.get("error_codes") or []
    if error in _CONSENT_ERRORS or 65001 in codes:
        return GraphForbidden(
            f"Entra ID refused a Graph token for app {client_id} ({said}). An admin must grant "
            "consent to the app's Graph permissions.", code=error,
        )
    if error in _TRANSIENT_ERRORS:
        return GraphUnavailable(f"Entra ID could not issue a Graph token now ({said}).", code=error)
    # invalid_client, unauthorized_client, invalid_request...: AADSTS7000215 wrong secret,
    # AADSTS7000222 expired secret, AADSTS700016 unknown app, AADSTS90002 unknown tenant.
    return GraphNotConfigured(
        f"Entra ID refused the app's credentials for a Graph token ({said}). Check the app id, "
        "client secret (and its expiry) and tenant id.", code=error,
    )
