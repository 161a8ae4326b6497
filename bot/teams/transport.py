"""Bot Connector calls over aiohttp, on the event loop, instead of `requests` in a thread pool.

botbuilder 4.17's ConnectorClient sends through msrest's `requests` transport: each reply
or card update runs in a worker thread. Those threads compete with the event loop for the
GIL, which costs CPU in every turn. The transport also retries hidden from the caller:
urllib3 sleeps for up to six hours on a 429's Retry-After, inside the thread.

This sender keeps msrest's pipeline (user agent, credentials, deserialisation), so the
SDK's models and errors are unchanged, and replaces only the last step:

- one shared `aiohttp.ClientSession` per adapter, so connections are kept alive;
- a bounded timeout;
- the bot's token fetched off the event loop, with a timeout (`bot/teams/bot_token.py`);
- proxies and the CA bundle resolved once per serviceUrl (NO_PROXY honoured);
- a bounded retry, only for idempotent methods (PUT, GET, DELETE), on 429/5xx/timeouts. A
  Retry-After is honoured up to `MAX_RETRY_AFTER_S`; a longer wait raises, so the caller
  (the outbox, later) decides. A POST (a new message) is never resent blindly.
"""
from __future__ import annotations

import asyncio
import logging
import os
import ssl
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
from msrest.pipeline import Request, Response
from msrest.pipeline.async_abc import AsyncHTTPPolicy, AsyncHTTPSender, AsyncPipeline
from msrest.pipeline.universal import RawDeserializer
from msrest.universal_http.aiohttp import AioHttpClientResponse
from requests.utils import get_environ_proxies

from bot.teams.bot_token import authorization

log = logging.getLogger(__name__)

TIMEOUT = aiohttp.ClientTimeout(total=30, connect=10)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
IDEMPOTENT = frozenset({"GET", "PUT", "DELETE", "HEAD"})
MAX_ATTEMPTS = 3
MAX_RETRY_AFTER_S = 5.0


class CredentialsPolicy(AsyncHTTPPolicy):
    """Adds the bot's bearer token (from botframework's AppCredentials) to each request,
    fetched off the event loop (`bot/teams/bot_token.py`)."""

    def __init__(self, credentials: Any) -> None:
        super().__init__()
        self._credentials = credentials

    async def send(self, request: Request, **kwargs: Any) -> Response:
        request.http_request.headers.update(await authorization(self._credentials))  # dev mode: none
        return await self.next.send(request, **kwargs)


def retry_delay(response: aiohttp.ClientResponse | None, attempt: int) -> float:
    """Seconds to wait before the next attempt: Retry-After when given, else a short backoff."""
    header = response.headers.get("Retry-After") if response is not None else None
    if header:
        try:
            return max(0.0, float(header))
        except ValueError:
            try:
                when = parsedate_to_datetime(header)
                return max(0.0, when.timestamp() - asyncio.get_running_loop().time())
            except (TypeError, ValueError):
                pass
    return 0.2 * (2 ** (attempt - 1))


class ConnectorTransport:
    """The shared aiohttp session for every Bot Connector client of one adapter."""

    def __init__(self, *, timeout: aiohttp.ClientTimeout = TIMEOUT) -> None:
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._ssl: ssl.SSLContext | bool = _ssl_context()
        self._proxies: dict[str, str | None] = {}

    @property
    def ssl(self) -> ssl.SSLContext | bool:
        return self._ssl

    def proxy_for(self, url: str) -> str | None:
        """The proxy for `url` from the environment (NO_PROXY honoured), resolved once per host."""
        host = url.split("/", 3)[:3]
        key = "/".join(host)
        if key not in self._proxies:
            proxies = get_environ_proxies(url)
            self._proxies[key] = proxies.get("https") if url.startswith("https") else proxies.get("http")
        return self._proxies[key]

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # Created lazily: a ClientSession must be made inside the running loop.
            self._session = aiohttp.ClientSession(timeout=self._timeout, trust_env=False)
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    def install(self, client: Any, service_url: str) -> None:
        """Make `client` (a botframework ConnectorClient) send through this transport."""
        config = client.config
        policies = [config.user_agent_policy, RawDeserializer(), config.http_logger_policy]
        if config.credentials is not None:
            policies.insert(1, CredentialsPolicy(config.credentials))
        config.pipeline = AsyncPipeline(policies, _Sender(self, proxy=self.proxy_for(service_url)))


class _Sender(AsyncHTTPSender):
    def __init__(self, transport: ConnectorTransport, *, proxy: str | None) -> None:
        self._transport = transport
        self._proxy = proxy

    async def __aenter__(self) -> "_Sender":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        return None

    async def send(self, request: Request, **config: Any) -> Response:
        http_request = request.http_request
        method = http_request.method.upper()
        attempts = MAX_ATTEMPTS if method in IDEMPOTENT else 1
        for attempt in range(1, attempts + 1):
            try:
                raw = await self._transport.session().request(
                    method, http_request.url, headers=http_request.headers, data=http_request.data,
                    proxy=self._proxy, ssl=self._transport._ssl,
                )
            except (aiohttp.ClientConnectionError, asyncio.TimeoutError):
                if attempt == attempts:
                    raise
                await asyncio.sleep(retry_delay(None, attempt))
                continue
            response = AioHttpClientResponse(http_request, raw)
            await response.load_body()
            raw.release()
            if raw.status in RETRY_STATUSES and attempt < attempts:
                delay = retry_delay(raw, attempt)
                if delay <= MAX_RETRY_AFTER_S:
                    log.info("connector %s %s answered %s; retrying in %.1fs", method, raw.url.path, raw.status, delay)
                    await asyncio.sleep(delay)
                    continue
            return Response(request, response)
        raise AssertionError("unreachable")  # pragma: no cover


def http_status_of(exc: BaseException) -> int | None:
    """The HTTP status behind an SDK error (msrest keeps the transport's own response object)."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None) or getattr(response, "status", None)
    return status if isinstance(status, int) else None


def retry_after_of(exc: BaseException) -> float | None:
    """The Retry-After (seconds) of the response behind an SDK error, if it carried one."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _ssl_context() -> ssl.SSLContext | bool:
    """The default trust store, or the CA bundle `requests` users point at (corporate proxies)."""
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    return ssl.create_default_context(cafile=bundle) if bundle else True
