"""Microsoft Graph calls for incident channels: find, create (idempotently) and count.

Why a small client of our own: we need four calls, typed errors the caller can act on, and no
hidden retries. Paging must never wait on Graph (DESIGN.md section 6): whoever calls this decides
whether to fall back to a thread in the incidents channel, so every failure surfaces at once as
one of the `GraphError` subclasses below and every call is bounded by `timeout_s`.

Facts this relies on (checked against Microsoft's docs and issue trackers):

- `POST /teams/{id}/channels {"displayName", "description"}` answers 201 with the channel
  (`id` like `19:...@thread.tacv2`, `displayName`, `webUrl`). Application permission:
  `Channel.Create.Group` (resource-specific consent, declared in the app manifest) or
  `Channel.Create` (tenant-wide, admin consent).
- A taken name answers 409 `NameAlreadyExists` ("Channel name already existed, please use
  other name"); older tenants answer 400 `BadRequest` with the same message. Names are compared
  case-insensitively, and a deleted channel keeps its name for 30 days without being listed.
- A team over its channel cap (1,000, deleted channels included for 30 days) answers 403
  `Forbidden` "This team has exceeded the Max allowed channels" (formerly
  `ResourceLimitExceeded`).
- `GET /teams/{id}/channels` answers `{"value": [...]}` and accepts `$filter`. Application
  permission: `ChannelSettings.Read.Group` (RSC) or `Channel.ReadBasic.All`.
- Throttling answers 429 with `Retry-After` (seconds); 503 may carry one too.
- Errors have the body `{"error": {"code", "message", "innerError": {"request-id", ...}}}`.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp

from bot.retry_after import parse_retry_after

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
CREATE_PERMISSION = (
    "Channel.Create.Group (resource-specific consent: list it under "
    "authorization.permissions.resourceSpecific in the Teams app manifest and reinstall the app "
    "in the team) or the Channel.Create application permission with admin consent"
)
READ_PERMISSION = (
    "ChannelSettings.Read.Group (resource-specific consent in the Teams app manifest) or the "
    "Channel.ReadBasic.All application permission with admin consent"
)


# -- errors -------------------------------------------------------------------------------------


class GraphError(Exception):
    """Base of every failure of a Graph call; `str()` is safe to log (no token, no secret)."""

    def __init__(
        self, message: str, *, status: int | None = None, code: str = "", request_id: str = ""
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.request_id = request_id


class GraphNotConfigured(GraphError):
    """No usable Graph credentials: not set, wrong, or refused by Entra ID / Graph (401)."""


class GraphForbidden(GraphError):
    """Graph refused (403): a permission or consent is missing; the message names which."""


class GraphChannelLimit(GraphForbidden):
    """The team holds its maximum of channels (1,000, counting ones deleted in the last 30 days)."""


class GraphConflict(GraphError):
    """The channel name is taken (409), possibly by a deleted channel that is no longer listed."""


class GraphThrottled(GraphError):
    """Graph asked us to slow down (429); `retry_after_s` is its Retry-After, if it sent one."""

    def __init__(self, message: str, *, retry_after_s: float | None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after_s = retry_after_s


class GraphUnavailable(GraphError):
    """Graph did not answer usefully: 5xx, timeout or connection failure. Worth retrying later."""

    def __init__(self, message: str, *, retry_after_s: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after_s = retry_after_s


# -- model --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GraphChannel:
    """A Teams channel as Graph describes it."""

    id: str
    display_name: str
    web_url: str

    @classmethod
    def from_graph(cls, item: dict[str, Any]) -> GraphChannel:
        return cls(
            id=str(item["id"]),
            display_name=str(item.get("displayName") or ""),
            web_url=str(item.get("webUrl") or ""),
        )


def _odata_quote(value: str) -> str:
    """An OData string literal: single quotes doubled, as `$filter` requires."""
    return "'" + value.replace("'", "''") + "'"


# -- client -------------------------------------------------------------------------------------


class GraphClient:
    """Find, create and count channels of a team through Microsoft Graph.

    `token_provider` returns a bearer token for Graph (see `msal_token_provider`);
    `session_provider` returns the app's shared `aiohttp.ClientSession`, so connections are
    kept alive and the session's lifetime stays with whoever owns it. Each method is one bounded
    attempt (`timeout_s`, token included); retrying is the caller's decision.
    """

    def __init__(
        self,
        *,
        base_url: str = "https://graph.microsoft.com/v1.0",
        token_provider: Callable[[], Awaitable[str]],
        session_provider: Callable[[], aiohttp.ClientSession],
        timeout_s: float = 10,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._token_provider = token_provider
        self._session_provider = session_provider
        self._timeout_s = timeout_s

    # -- public API ---------------------------------------------------------------------------

    async def find_channel(self, *, team_id: str, display_name: str) -> GraphChannel | None:
        """The team's channel named `display_name` (case-insensitive, like Teams), or None.

        Deleted channels are not listed, although their names stay taken for 30 days.
        """
        params = {"$filter": f"displayName eq {_odata_quote(display_name)}"}
        wanted = display_name.casefold()
        for item in await self._list(team_id, params=params):
            if str(item.get("displayName", "")).casefold() == wanted:
                return GraphChannel.from_graph(item)
        return None

    async def create_channel(
        self, *, team_id: str, display_name: str, description: str
    ) -> GraphChannel:
        """Create a standard channel. A taken name raises GraphConflict (never a second channel)."""
        body = {"displayName": display_name, "description": description,
                "membershipType": "standard"}
        url = self._channels_url(team_id)
        data = await self._call("POST", url, body=body, permission=CREATE_PERMISSION)
        if not isinstance(data, dict) or "id" not in data:
            raise GraphUnavailable("Graph answered a channel creation without a channel id.")
        return GraphChannel.from_graph(data)

    async def ensure_channel(
        self, *, team_id: str, display_name: str, description: str
    ) -> GraphChannel:
        """The channel named `display_name`, created if missing; safe to retry and to race.

        Two callers racing (or a retry after a lost response) both see no channel and both
        POST; Graph lets one win and answers the other 409, which then finds the winner's
        channel. If the name is taken but nothing is listed, a deleted channel holds it:
        GraphConflict, and the caller picks another name (`channel_names.unique_suffix`).
        """
        found = await self.find_channel(team_id=team_id, display_name=display_name)
        if found is not None:
            return found
        try:
            return await self.create_channel(
                team_id=team_id, display_name=display_name, description=description
            )
        except GraphConflict as conflict:
            found = await self.find_channel(team_id=team_id, display_name=display_name)
            if found is not None:
                return found
            raise GraphConflict(
                f"The channel name {display_name!r} is taken but no such channel is listed: a "
                "channel deleted in the last 30 days keeps its name. Use another name.",
                status=conflict.status, code=conflict.code, request_id=conflict.request_id,
            ) from conflict

    async def count_channels(self, *, team_id: str) -> int:
        """How many channels the team lists. Deleted ones still count toward the 1,000 cap for
        30 days but are not listed, so treat this as a lower bound of what the cap sees."""
        return len(await self._list(team_id, params=None))

    # -- HTTP ---------------------------------------------------------------------------------

    def _channels_url(self, team_id: str) -> str:
        return f"{self._base_url}/teams/{quote(team_id, safe='')}/channels"

    async def _list(self, team_id: str, *, params: dict[str, str] | None) -> list[dict[str, Any]]:
        """Every item of a collection, following `@odata.nextLink` on Graph's own host only."""
        items: list[dict[str, Any]] = []
        url: str | None = self._channels_url(team_id)
        while url is not None:
            data = await self._call("GET", url, params=params, permission=READ_PERMISSION)
            values = data.get("value") if isinstance(data, dict) else None
            if not isinstance(values, list):
                raise GraphUnavailable("Graph answered a channel list without a 'value' array.")
            items.extend(v for v in values if isinstance(v, dict))
            next_link = data.get("@odata.nextLink")
            params = None  # the next link carries the query
            if next_link and not str(next_link).startswith(self._base_url + "/"):
                # Never send our bearer token to a host we were not configured for.
                raise GraphUnavailable("Graph answered a next page link outside its base URL.")
            url = str(next_link) if next_link else None
        return items

    async def _call(
        self,
        method: str,
        url: str,
        *,
        permission: str,
        params: dict[str, str] | None = None,
        body: Any = None,
    ) -> Any:
        """One request, bounded by `timeout_s` (token included), mapped to a typed error."""
        try:
            async with asyncio.timeout(self._timeout_s):
                token = await self._token_provider()
                session = self._session_provider()
                async with session.request(
                    method,
                    url,
                    params=params,
                    json=body,
                    headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                    timeout=aiohttp.ClientTimeout(total=self._timeout_s),
                ) as response:
                    status = response.status
                    headers = response.headers
                    raw = await response.read()
        except TimeoutError as exc:
            raise GraphUnavailable(
                f"Graph did not answer {method} {_path(url)} within {self._timeout_s:g}s."
            ) from exc
        except aiohttp.ClientError as exc:
            raise GraphUnavailable(
                f"Could not reach Graph for {method} {_path(url)}: {type(exc).__name__}."
            ) from exc
        data = _json(raw)
        if 200 <= status < 300:
            return data
        raise _error_for(method, url, status, headers, data, permission)


def _path(url: str) -> str:
    """The URL's path for messages (no query string)."""
    return url.split("?", 1)[0]


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _error_for(
    method: str, url: str, status: int, headers: Any, data: Any, permission: str
) -> GraphError:
    """The typed error for a non-2xx answer; the message says what to do about it."""
    error = data.get("error") if isinstance(data, dict) else None
    error = error if isinstance(error, dict) else {}
    code = str(error.get("code") or "")
    message = str(error.get("message") or "")
    inner = error.get("innerError") if isinstance(error.get("innerError"), dict) else {}
    request_id = str(inner.get("request-id") or headers.get("request-id") or "")
    where = f"{method} {_path(url)}"
    said = f" ({code}: {message})" if code or message else ""
    ids = {"status": status, "code": code, "request_id": request_id}
    retry_after = parse_retry_after(headers.get("Retry-After"))

    if status == 429:
        wait = f"; retry after {retry_after:g}s" if retry_after is not None else ""
        return GraphThrottled(f"Graph throttled {where}{wait}.", retry_after_s=retry_after, **ids)
    if status == 401:
        return GraphNotConfigured(
            f"Graph did not accept the app's token for {where}{said}. Check the app id, secret "
            "and tenant used to get Graph tokens.", **ids,
        )
    if status == 403:
        if "max allowed channels" in message.lower() or code == "ResourceLimitExceeded":
            return GraphChannelLimit(
                "The team has reached its maximum number of channels (1,000, counting channels "
                f"deleted in the last 30 days){said}.", **ids,
            )
        return GraphForbidden(f"Graph refused {where}{said}. The app needs {permission}.", **ids)
    if status == 409 or code == "NameAlreadyExists" or (
        status == 400 and "already exist" in message.lower()
    ):
        return GraphConflict(f"Graph refused {where}: the name is already taken{said}.", **ids)
    if status >= 500:
        return GraphUnavailable(
            f"Graph failed {where} with HTTP {status}{said}.", retry_after_s=retry_after, **ids
        )
    return GraphError(f"Graph refused {where} with HTTP {status}{said}.", **ids)


# -- tokens -------------------------------------------------------------------------------------
