"""Bot Connector REST calls for the outbox: new messages and new 1:1 chats, as plain JSON.

The outbox delivers outside any turn. Doing that through botbuilder's
`continue_conversation` builds a turn context, runs the middleware pipeline and has msrest
deserialise the stored reference and serialise every activity, card included, field by
field: about 3.3 ms of CPU per message, against 0.6 ms for the same POST made here
(`bench/escalation.py` delivers dozens of pages a second on one event-loop thread, so this
decides how late a page is). The calls, URLs and bodies are the Bot Connector API's own
(`POST /v3/conversations`, `POST /v3/conversations/{id}/activities`); the bot's token comes
from the same cached `ConnectorClient` credentials the SDK uses, and the request goes over
the adapter's shared aiohttp session (`bot/teams/transport.py`).

A POST is never retried here: a new message sent twice is a duplicate page. Every non-2xx
answer raises `ConnectorHttpError` with its status and Retry-After; the sender maps it.

`ready` (the outbox's `about_to_send`) is awaited once the token and body are made and the
connection is open, just before the first byte goes out, one request at a time
(`bot/marked_body.py`): a failing token endpoint or connection leaves the row retryable, and
a crash strands at most one request that was marked but never written.
"""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp

from bot.marked_body import MarkedBody, Ready
from bot.teams.bot_token import authorization
from bot.teams.transport import ConnectorTransport, retry_delay

CARD_TYPE = "application/vnd.microsoft.card.adaptive"


class ConnectorHttpError(Exception):
    """A Bot Connector call answered with an error status."""

    def __init__(self, status: int, retry_after: float | None, body: str) -> None:
        super().__init__(f"Bot Connector answered {status}: {body[:200]}")
        self.status = status
        self.retry_after = retry_after


def message(text: str | None = None, *, cards: tuple[dict, ...] | list[dict] = (),
            mentions: tuple[tuple[str, str], ...] | list[tuple[str, str]] = ()) -> dict:
    """A message activity as the Bot Connector takes it: text (with `<at>` mentions of the
    (AAD id, name) pairs prepended) and Adaptive Card attachments."""
    activity: dict[str, Any] = {"type": "message", "inputHint": "acceptingInput"}
    if mentions:
        text = " ".join(f"<at>{name}</at>" for _aad, name in mentions) + " " + (text or "")
        activity["entities"] = [{"type": "mention", "text": f"<at>{name}</at>", "mentioned": {"id": aad, "name": name}}
                                for aad, name in mentions]
    if text is not None:
        activity["text"] = text
    if cards:
        activity["attachments"] = [{"contentType": CARD_TYPE, "content": card} for card in cards]
    return activity


class ConnectorApi:
    """The two calls the outbox makes without a turn, with the SDK's credentials."""

    def __init__(self, *, adapter: Any, app_id: str, transport: ConnectorTransport) -> None:
        self._adapter = adapter
        self._app_id = app_id
        self._transport = transport

    async def post_message(self, reference: dict, activity: dict, *, ready: Ready | None = None) -> str | None:
        """Post `activity` as a new message in the reference's conversation; its activity id
        (None when `ready` said not to send)."""
        conversation = reference["conversation"]
        body = {**activity, "channelId": reference.get("channelId") or "msteams",
                "serviceUrl": reference["serviceUrl"], "conversation": conversation, "from": reference.get("bot"),
                "recipient": reference.get("user"), "locale": reference.get("locale")}
        path = f"v3/conversations/{quote(conversation['id'], safe='')}/activities"
        answer = await self._call(reference["serviceUrl"], path, {k: v for k, v in body.items() if v is not None},
                                  ready=ready)
        return None if answer is None else str(answer.get("id") or "")

    async def create_conversation(self, reference: dict, *, members: list[str] | None = None,
                                  channel_id: str | None = None, activity: dict | None = None,
                                  ready: Ready | None = None) -> dict | None:
        """`POST /v3/conversations` through the reference's bot and tenant: a 1:1 chat with
        `members` (AAD ids), or a new thread in `channel_id` starting with `activity`. The
        answer: {"id", "activityId", ...} (None when `ready` said not to send)."""
        conversation = reference.get("conversation") or {}
        tenant = conversation.get("tenantId")
        params: dict[str, Any] = {"isGroup": channel_id is not None, "bot": reference.get("bot")}
        if tenant:
            params["tenantId"] = tenant
        if members:
            params["members"] = [{"id": member} for member in members]
        if channel_id is not None:
            params["channelData"] = {"channel": {"id": channel_id}}
        if activity is not None:
            params["activity"] = activity
        return await self._call(reference["serviceUrl"], "v3/conversations", params, ready=ready)

    async def _call(self, service_url: str, path: str, body: dict, *, ready: Ready | None = None) -> dict | None:
        url = service_url.rstrip("/") + "/" + path
        headers = {"Content-Type": "application/json; charset=utf-8", **await self._auth_headers(service_url)}
        raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        marked = MarkedBody(raw, ready) if ready is not None else None
        data: bytes | AsyncIterator[bytes] = raw
        if marked is not None:
            headers.update(marked.headers)
            data = marked.chunks()
        try:
            async with self._transport.session().post(url, data=data, headers=headers,
                                                      proxy=self._transport.proxy_for(url),
                                                      ssl=self._transport.ssl) as response:
                text = await response.text()
                if response.status >= 300:
                    retry_after = retry_delay(response, 1) if "Retry-After" in response.headers else None
                    raise ConnectorHttpError(response.status, retry_after, text)
        except aiohttp.ClientError:
            if marked is not None and marked.declined:  # nothing written: the server saw a connection close
                return None
            raise
        finally:
            if marked is not None:
                marked.give_back()
        try:
            answer = json.loads(text) if text else {}
        except ValueError:
            answer = {}
        return answer if isinstance(answer, dict) else {}

    async def _auth_headers(self, service_url: str) -> dict[str, str]:
        """The bot's Authorization header for `service_url` (none in dev mode without an app id),
        from the cached connector client the SDK would use for a proactive turn; fetched off the
        event loop, `TokenUnavailable` when Entra ID does not give one."""
        auth = self._adapter.bot_framework_authentication
        factory = auth.create_connector_factory(self._adapter.create_claims_identity(self._app_id))
        client = await factory.create(service_url, None)
        return await authorization(client.config.credentials)
