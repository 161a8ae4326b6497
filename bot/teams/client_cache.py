"""Reuse Bot Connector clients across turns.

botbuilder 4.17's CloudAdapter builds a new `ConnectorClient` and a new `TokenApiClient`
for every turn (`CloudAdapterBase.process_activity`). Each one builds an msrest
`Configuration` (a ConfigParser, retry policies, a `requests.Session`), and the session
is never reused. So every reply opens a new TCP (and, in production, TLS) connection to the
Bot Connector. Keeping one client per (bot app id, serviceUrl, audience) removes that work
from the turn, and each client sends through the adapter's shared aiohttp transport
(`bot/teams/transport.py`), which keeps connections alive. The clients hold only
configuration and credentials, never per-turn state. The credentials refresh their own
tokens.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Hashable

from botframework.connector import ConnectorClient
from botframework.connector.auth import ClaimsIdentity, ConnectorFactory

from bot.teams.transport import ConnectorTransport

MAX_CLIENTS = 256


class ClientCache:
    """A small LRU of clients, shared by every turn of one adapter."""

    def __init__(self, max_size: int = MAX_CLIENTS) -> None:
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._max = max_size

    def get(self, key: Hashable) -> Any | None:
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item

    def put(self, key: Hashable, item: Any) -> Any:
        self._items[key] = item
        self._items.move_to_end(key)
        while len(self._items) > self._max:
            self._items.popitem(last=False)
        return item

    def __len__(self) -> int:
        return len(self._items)


def identity_key(claims_identity: ClaimsIdentity | None) -> str:
    """Which bot identity a client acts for: the token's audience (the bot's app id), or ''."""
    claims = getattr(claims_identity, "claims", None) or {}
    return str(claims.get("aud") or claims.get("appid") or "")


class CachingConnectorFactory(ConnectorFactory):
    """Wraps the SDK's factory; creates a ConnectorClient once per (identity, serviceUrl, audience)."""

    def __init__(self, inner: ConnectorFactory, cache: ClientCache, identity: str, transport: ConnectorTransport) -> None:
        self._inner = inner
        self._cache = cache
        self._identity = identity
        self._transport = transport

    async def create(self, service_url: str, audience: str) -> ConnectorClient:
        key = ("connector", self._identity, service_url, audience)
        client = self._cache.get(key)
        if client is None:
            client = await self._inner.create(service_url, audience)
            self._transport.install(client, service_url)
            self._cache.put(key, client)
        return client
