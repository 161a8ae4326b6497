"""`POST /api/messages`: the only door from Teams to the bot.

Order matters, cheapest and most certain first, so that nothing untrusted reaches the SDK:
size (413) -> JSON object with a `type` (400) -> `security.gate_activity` (401, no turn) ->
`CloudAdapter.process` (token validation, then the turn). Every authentication failure is a
401: botbuilder 4.17 answers many of them with 500 (DESIGN.md section 6), which would make
Teams retry and hide attacks in error logs. Anything else unexpected is a 500 without details,
logged with the activity id. The Authorization header is never logged.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Awaitable, Callable

from aiohttp import web
from msrest.exceptions import DeserializationError

from bot.config import Settings
from bot.teams.adapter import AuthenticationFailed
from bot.teams.security import activity_tenant_id, gate_activity

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _safe(value: Any, limit: int = 80) -> str:
    """Untrusted ids go into logs repr()-quoted and truncated (no log injection)."""
    return repr(value)[:limit] if value is not None else "-"


def _plain(status: int, text: str = "") -> web.Response:
    return web.Response(status=status, text=text) if text else web.Response(status=status)


async def _read_bounded(request: web.Request, max_body: int) -> tuple[web.Request, bytes]:
    """Read the body, refusing more than `max_body` bytes *while* reading (chunked bodies have
    no Content-Length). aiohttp's `read()` enforces `client_max_size` per chunk; the clone
    carries our limit and keeps the bytes, so `CloudAdapter.process` reads them from memory."""
    limited = request.clone(client_max_size=max_body)
    return limited, await limited.read()


class _TurnProbe:
    """Stands in for the bot so the endpoint knows whether the turn began: an exception
    before it is about the request (authentication, a malformed activity), one after it is
    a bug of ours, whatever its type."""

    __slots__ = ("bot", "started")

    def __init__(self, bot: Any) -> None:
        self.bot = bot
        self.started = False

    async def on_turn(self, turn_context: Any) -> None:
        self.started = True
        await self.bot.on_turn(turn_context)


def _answer_failure(exc: Exception, *, turn_started: bool, activity_id: str) -> web.Response:
    """Map an exception out of `CloudAdapter.process` to a status code."""
    if not turn_started:
        if isinstance(exc, AuthenticationFailed) or isinstance(exc, web.HTTPUnauthorized):
            # CloudAdapter turns PermissionError into HTTPUnauthorized; the reason rides on
            # the exception context.
            cause = exc if isinstance(exc, AuthenticationFailed) else exc.__context__
            log.warning("refused activity %s: authentication failed: %s", activity_id, cause)
            return _plain(401)
        if isinstance(exc, DeserializationError):
            log.warning("activity %s: body does not deserialize as an Activity", activity_id)
            return _plain(400, "body is not a valid activity")
        if isinstance(exc, web.HTTPException) and exc.status < 500:
            return _plain(exc.status)
    # Inside the turn even a PermissionError (say, the bot's own outbound token request
    # failing, which CloudAdapter would answer 401) is our fault, not the caller's.
    shown = exc.__context__ if isinstance(exc, web.HTTPUnauthorized) else exc
    log.error(
        "activity %s: unexpected error while processing (turn started: %s)",
        activity_id, turn_started, exc_info=shown,
    )
    return _plain(500, "internal error")


def messages_handler(*, adapter: Any, bot: Any, settings: Settings) -> Handler:
    """The aiohttp handler for `POST /api/messages` (`adapter` from `build_adapter`)."""
    max_body = settings.max_body

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.content_length is not None and request.content_length > max_body:
            return _plain(413, "request body too large")
        if "application/json" not in request.headers.get("Content-Type", "").lower():
            return _plain(400, "expected a JSON activity (Content-Type: application/json)")
        try:
            limited, raw = await _read_bounded(request, max_body)
        except web.HTTPRequestEntityTooLarge:
            return _plain(413, "request body too large")
        try:
            # Decode exactly as aiohttp's `request.json()` will inside the SDK, so the gate
            # and the bot can never see two different parses of one body.
            body = json.loads(raw.decode(limited.charset or "utf-8"))
        except (ValueError, LookupError, RecursionError):
            return _plain(400, "body is not valid JSON")
        if not isinstance(body, dict) or not isinstance(body.get("type"), str) or not body["type"]:
            return _plain(400, "body is not an activity (a JSON object with a type)")

        activity_id = _safe(body.get("id"))
        reason = gate_activity(body, settings)
        if reason is not None:
            log.warning(
                "refused activity %s (type %s, tenant %s): %s",
                activity_id, _safe(body.get("type")), _safe(activity_tenant_id(body)), reason,
            )
            return _plain(401)

        probe = _TurnProbe(bot)
        try:
            response = await adapter.process(limited, probe)
        except Exception as exc:  # noqa: BLE001 - classified below, never swallowed silently
            return _answer_failure(exc, turn_started=probe.started, activity_id=activity_id)
        return response if response is not None else _plain(201)

    return handle
