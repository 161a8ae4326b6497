"""Work-arounds for botbuilder-python 4.17.1 (msrest 0.7.1), applied once at start-up.

Each patch names the SDK file it replaces behaviour in and why (DESIGN.md section 6). They
are process-wide monkey patches because the code they fix is module-level SDK code; they are
idempotent and touch nothing else. When the SDK is replaced (Microsoft 365 Agents SDK), delete
this module.

Targets: botbuilder-core / botbuilder-integration-aiohttp / botframework-connector 4.17.1,
msrest 0.7.1, urllib3 2.x.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import requests
from jwt.algorithms import RSAAlgorithm

log = logging.getLogger(__name__)

TARGET_SDK_VERSION = "4.17.1"

#: Upper bound, in seconds, on fetching the OpenID metadata plus the signing keys (both
#: requests together). Change it with `apply_sdk_patches(key_fetch_timeout_s=...)`.
_key_fetch_timeout_s = 10.0
_applied = False
_key_fetch_pool: ThreadPoolExecutor | None = None

# msrest's own definition (msrest/universal_http/requests.py, ClientRetryPolicy.safe_codes),
# kept as a frozenset: membership is O(1) instead of a scan of ~500 ints.
SAFE_CODES: frozenset[int] = frozenset([i for i in range(500) if i != 408] + [501, 505])
RETRY_CODES: frozenset[int] = frozenset(i for i in range(999) if i not in SAFE_CODES)


def apply_sdk_patches(*, key_fetch_timeout_s: float | None = None) -> None:
    """Install every 4.17.1 work-around (safe to call again; later calls only update the
    key-fetch timeout)."""
    global _applied, _key_fetch_timeout_s
    if key_fetch_timeout_s is not None:
        if key_fetch_timeout_s <= 0:
            raise ValueError("key_fetch_timeout_s must be positive")
        _key_fetch_timeout_s = float(key_fetch_timeout_s)
    if _applied:
        return
    _patch_retry_policy()
    _patch_openid_metadata()
    _patch_invoke_body_serialization()
    _patch_conversation_tenant_key()
    _applied = True
    log.debug("botbuilder %s work-arounds applied", TARGET_SDK_VERSION)


def configure_reply_executor(loop: asyncio.AbstractEventLoop, threads: int) -> ThreadPoolExecutor:
    """Give `loop` a default thread pool of `threads` workers and return it.

    Why: msrest sends every Bot Connector call (replies, updates, TeamsInfo) with blocking
    `requests` through `loop.run_in_executor(None, ...)` (msrest/universal_http/
    async_requests.py, `AsyncBasicRequestsHTTPSender.send`). Python's default pool has
    `min(32, cpus + 4)` workers: 6 on a 2-core host, so a slow connector makes every reply
    queue. The caller owns the pool (`loop.shutdown_default_executor()` or `.shutdown()`).
    """
    if threads < 1:
        raise ValueError("threads must be at least 1")
    executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="firebreak-reply")
    loop.set_default_executor(executor)
    return executor


# (a) retry policy ---------------------------------------------------------------------------


def _patch_retry_policy() -> None:
    """msrest 0.7.1 `ClientRetryPolicy.__init__` computes
    `[i for i in range(999) if i not in self.safe_codes]` with `safe_codes` a 502-item list:
    ~500k comparisons, 5-7 ms CPU. CloudAdapter pays it twice per turn, because every
    turn builds a fresh `ConnectorClient` (`_ConnectorFactoryImpl.create`) and a fresh
    `TokenApiClient` (`create_user_token_client`), each with a new msrest `Configuration`
    -> `RequestHTTPSenderConfiguration.__init__` -> `ClientRetryPolicy()`.

    Fix: `safe_codes` becomes a frozenset (the comprehension then costs ~30 us) and the
    resulting `status_forcelist` is one shared frozenset built here, which urllib3's
    `Retry.is_retry` also checks in O(1). Retry behaviour is unchanged.
    """
    from msrest.universal_http import requests as msrest_requests

    policy_cls = msrest_requests.ClientRetryPolicy
    if getattr(policy_cls, "_firebreak_patched", False):
        return
    original_init = policy_cls.__init__

    def __init__(self: Any) -> None:
        original_init(self)
        self.policy.status_forcelist = RETRY_CODES

    policy_cls.safe_codes = SAFE_CODES
    policy_cls.__init__ = __init__
    policy_cls._firebreak_patched = True


# (b) signing-key fetch ----------------------------------------------------------------------


def _key_pool() -> ThreadPoolExecutor:
    # Its own small pool: a hung key endpoint must not eat the reply threads, and a reply
    # backlog must not delay authentication.
    global _key_fetch_pool
    if _key_fetch_pool is None:
        _key_fetch_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="firebreak-jwks")
    return _key_fetch_pool


def _fetch_keys_blocking(metadata_url: str, timeout_s: float) -> list[dict]:
    """Both GETs of the OpenID dance, each bounded by what is left of `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    response = requests.get(metadata_url, timeout=timeout_s)
    response.raise_for_status()
    jwks_uri = response.json()["jwks_uri"]
    left = max(0.1, deadline - time.monotonic())
    keys_response = requests.get(jwks_uri, timeout=left)
    keys_response.raise_for_status()
    keys = keys_response.json()["keys"]
    if not isinstance(keys, list):
        raise ValueError("JWKS 'keys' is not a list")
    return keys


async def _bounded_refresh(self: Any) -> None:
    """Replacement for `_OpenIdMetadata._refresh` (botframework/connector/auth/
    jwt_token_extractor.py), which calls `requests.get` twice, on the event loop, with no
    timeout: a slow or hung login.botframework.com froze every turn of the process.

    Here the fetch runs in a worker thread, the wait is bounded by the key-fetch timeout
    (failure raises, so the request is refused with 401 and the next one tries again), and
    concurrent refreshes on one loop share a single fetch.
    """
    loop = asyncio.get_running_loop()
    inflight = getattr(self, "_firebreak_inflight", None)
    if inflight is None or inflight.done() or inflight.get_loop() is not loop:
        timeout_s = _key_fetch_timeout_s
        work = loop.run_in_executor(_key_pool(), _fetch_keys_blocking, self.url, timeout_s)
        inflight = asyncio.ensure_future(asyncio.wait_for(work, timeout_s))
        # Every waiter may have been cancelled; mark the outcome as seen so asyncio does
        # not log "exception was never retrieved" for a failure we already report.
        inflight.add_done_callback(lambda t: t.cancelled() or t.exception())
        self._firebreak_inflight = inflight
    try:
        keys = await asyncio.shield(inflight)
    except asyncio.TimeoutError:
        raise PermissionError(
            f"signing keys not fetched within {_key_fetch_timeout_s:g} s"
        ) from None
    except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
        raise PermissionError(f"signing keys could not be fetched ({type(exc).__name__})") from exc
    self.keys = keys
    self.last_updated = datetime.now()


def _find_key(self: Any, key_id: str) -> Any:
    """Replacement for `_OpenIdMetadata._find`: the SDK indexes `[...][0]`, so a token with an
    unknown `kid` raised IndexError (a 500) and the hourly refresh-on-miss in `get` could
    never run, i.e. a key rotation broke authentication for up to a day."""
    from botframework.connector.auth.jwt_token_extractor import _OpenIdConfig

    for key in self.keys or ():
        if isinstance(key, dict) and key.get("kid") == key_id:
            public_key = RSAAlgorithm.from_jwk(json.dumps(key))
            return _OpenIdConfig(public_key, key.get("endorsements", []))
    return None


_STALE_RETRY = timedelta(minutes=5)


async def _get_key(self: Any, key_id: str) -> Any:
    """Replacement for `_OpenIdMetadata.get`: same cache rules (refresh daily, and at most
    hourly on an unknown key), but an unknown key is a PermissionError, not an
    AttributeError on None further down. If the daily refresh fails while keys are cached,
    the stale keys keep serving (Microsoft rotates them weeks apart) and the refresh is
    retried in 5 minutes, so an outage of the key endpoint does not take the bot down, or
    make every turn wait for the fetch timeout."""
    if self.last_updated < datetime.now() - timedelta(days=1):
        try:
            await self._refresh()
        except PermissionError as exc:
            if not self.keys:
                raise
            log.warning("signing-key refresh failed, using cached keys: %s", exc)
            self.last_updated = datetime.now() - timedelta(days=1) + _STALE_RETRY
    key = self._find(key_id)
    if key is None and self.last_updated < datetime.now() - timedelta(hours=1):
        await self._refresh()
        key = self._find(key_id)
    if key is None:
        raise PermissionError("token signed with an unknown key")
    return key


def _patch_openid_metadata() -> None:
    from botframework.connector.auth import jwt_token_extractor

    metadata_cls = jwt_token_extractor._OpenIdMetadata
    metadata_cls._refresh = _bounded_refresh
    metadata_cls._find = _find_key
    metadata_cls.get = _get_key


# (c) invoke response body -------------------------------------------------------------------


def _serialize_once(body: Any) -> Any:
    """Serialize an msrest model to a dict; pass anything else (already a dict, list, str,
    None) through unchanged."""
    from botbuilder.core.serializer_helper import serializer_helper
    from msrest.serialization import Model

    if isinstance(body, Model):
        return serializer_helper(body)
    return body


def _patch_invoke_body_serialization() -> None:
    """`ActivityHandler._create_invoke_response` already runs `serializer_helper(body)`
    (botbuilder/core/activity_handler.py, line 541), then `CloudAdapter.process` runs it again
    on the resulting dict (botbuilder/integration/aiohttp/cloud_adapter.py, line 108). msrest's
    `Serializer._serialize` calls `dict.is_xml_model()` and every invoke that returns a body
    (Action.Execute `adaptiveCard/action`, message extensions) ends in a 500.

    Fix: both modules' `serializer_helper` name is rebound to a version that serializes msrest
    models and leaves plain data alone, so the body is serialized exactly once, whichever of
    the two (or a handler returning a plain dict) produced it.
    """
    from botbuilder.core import activity_handler
    from botbuilder.integration.aiohttp import cloud_adapter

    cloud_adapter.serializer_helper = _serialize_once
    activity_handler.serializer_helper = _serialize_once


def _patch_conversation_tenant_key() -> None:
    """Read and write a conversation's tenant under `tenantId`, the key Teams sends.

    botbuilder-schema 4.17 maps `ConversationAccount.tenant_id` to `tenantID`
    (botbuilder/schema/_models_py3.py), unlike the C# and JS SDKs and the Bot Framework REST
    schema. So every inbound activity's `conversation.tenant_id` was None, stored references
    kept no tenant, and proactive calls built from them (creating a 1:1 chat, which Teams
    requires a tenant for) went out without one.
    """
    from botbuilder.schema import ConversationAccount

    ConversationAccount._attribute_map["tenant_id"] = {"key": "tenantId", "type": "str"}
