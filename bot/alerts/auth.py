"""Who may post to `POST /api/alerts/{integration}`: the check of an integration's `auth`. Pure.

The handler resolves the active secrets with `SecretSource`, then calls `authenticate` on the raw
request before the body is parsed, so nothing a stranger sends reaches a parser. Every failure
is an `AlertAuthFailed` whose `reason` says what was wrong in words a sender's operator can act
on, and never contains a secret or the credential presented (reasons are logged, and may be
shown to whoever sent the request).

Properties kept by every type:
- Comparisons are constant time (`hmac.compare_digest`), and every active secret is compared
  (no early exit), so timing says neither whether a credential is close nor which secret matched.
- Two secrets may be active while one is rotated: the new one, then the one being retired.
- A misconfigured server (a variable unset, a file unreadable or empty, no secret at all) is a
  500, never a pass: an empty key would make an HMAC anyone can compute, an empty token would
  match an empty credential.

Grafana's webhook signing (Grafana 11.6+, contact point "HMAC Signature": secret, header,
timestamp header), as found in Grafana's source `grafana/alerting`, `http/hmac.go`
(`HMACRoundTripper.sign`) and `receivers/webhook/v1/config.go` (its form), and the webhook
notifier page of the Grafana documentation (grafana.com/docs/grafana/latest/alerting/
configure-notifications/manage-contact-points/integrations/webhook-notifier/):
- HMAC-SHA256 keyed with the secret as typed (UTF-8, not base64), sent as bare lowercase hex
  (no `sha256=` prefix) in the signature header.
- With a timestamp header set, it signs `<unix seconds>` + `":"` + body and sends the seconds in
  that header; with none, it signs the body alone (no replay protection).
- The form's placeholder and the documentation say the header defaults to
  `X-Grafana-Alerting-Signature`, but `http/hmac.go` falls back to `X-Grafana-Alert-Signature`
  when the field is left empty: tell operators to type the header name in Grafana. The
  timestamp header has no default name (the documentation's example is
  `X-Grafana-Alerting-Signature-Timestamp`).
So `hmac` accepts either separator, `.` (ours) or `:` (Grafana's), and either signature form.
Accepting both weakens nothing: the timestamp is all digits, so the first non-digit byte tells
the two messages apart and no signature of one is a signature of the other. A timestamp is
always required (the 5m window is the replay defence), so Grafana must set a timestamp header.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path

from bot.durations import format_duration
from bot.plan_integrations import IntegrationAuth

_HEX_SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")
_SIGNED_SEPARATORS = (b".", b":")  # ours, then Grafana's: see the module docstring
# Schemes safe to name in a reason: a constant from this list, never the sender's own text,
# because a bare `Authorization: <token>` would otherwise have its token echoed as the "scheme".
_KNOWN_SCHEMES = {"basic": "Basic", "bearer": "Bearer", "digest": "Digest", "token": "Token",
                  "negotiate": "Negotiate", "apikey": "ApiKey"}


class AlertAuthFailed(Exception):
    """The sender may not post. `status` is 401 (the sender is at fault) or 500 (this server's
    configuration is, and `reason` names the variable or file to fix). `reason` is short and
    safe to log; the handler may prefer a generic text for a 500 sent back to the sender."""

    def __init__(self, reason: str, *, status: int = 401) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def _read_file_bytes(path: str) -> bytes:
    return Path(path).read_bytes()


class SecretSource:
    """Resolves an `IntegrationAuth` to its active secrets, read afresh on every call.

    Nothing is cached, so a rotated file or variable takes effect on the next request: reading
    one small local file per alert request is cheap next to the request itself, and any cache
    would open a window in which a retired secret still works. (The read blocks; a handler that
    minds may call `secrets_for` through `asyncio.to_thread`.) Every listed place must resolve:
    a half-resolved `[NEW, OLD]` pair means the plan and the environment disagree, and hiding it
    would turn a server fault into a misleading "wrong secret" for senders using the lost one.
    """

    def __init__(self, *, environ: Mapping[str, str] = os.environ,
                 read_file: Callable[[str], bytes] = _read_file_bytes) -> None:
        self._environ = environ
        self._read_file = read_file

    def secrets_for(self, auth: IntegrationAuth) -> list[bytes]:
        """The secrets, new first. Raises AlertAuthFailed(status=500) naming what is missing."""
        if auth.secret_env:
            return [self._from_env(name) for name in auth.secret_env]
        return [self._from_file(path) for path in auth.secret_file]

    def _from_env(self, name: str) -> bytes:
        value = self._environ.get(name)
        if value is None:
            raise AlertAuthFailed(f"the secret's environment variable {name} is not set",
                                  status=500)
        if not value:
            raise AlertAuthFailed(f"the secret's environment variable {name} is empty", status=500)
        return value.encode("utf-8", "surrogateescape")

    def _from_file(self, path: str) -> bytes:
        try:
            content = self._read_file(path).rstrip()
        except OSError as exc:
            why = exc.strerror or type(exc).__name__
            raise AlertAuthFailed(f"the secret file {path} cannot be read ({why})",
                                  status=500) from None
        if not content:
            raise AlertAuthFailed(f"the secret file {path} is empty", status=500)
        return content


def authenticate(auth: IntegrationAuth, *, headers: Mapping[str, str], query: Mapping[str, str],
                 body: bytes, secrets: Sequence[bytes], now: datetime) -> None:
    """Let the request through, or raise AlertAuthFailed.

    `headers` may be any mapping: names are looked up case-insensitively here. `body` is the raw
    bytes, read only by `hmac` (signed over) and `routing_key` (its one field). `now` must be
    timezone-aware.
    """
    if now.tzinfo is None:
        raise ValueError("authenticate needs a timezone-aware `now`")
    if not secrets:
        raise AlertAuthFailed("no active secret is configured for this integration", status=500)
    if any(not secret for secret in secrets):
        raise AlertAuthFailed("an active secret of this integration is empty", status=500)
    if auth.type == "bearer":
        _check_bearer(headers=headers, secrets=secrets)
    elif auth.type == "basic":
        _check_basic(auth, headers=headers, secrets=secrets)
    elif auth.type == "hmac":
        _check_hmac(auth, headers=headers, body=body, secrets=secrets, now=now)
    elif auth.type == "token_query":
        _check_token_query(query=query, secrets=secrets)
    elif auth.type == "routing_key":
        _check_routing_key(body=body, secrets=secrets)
    else:  # the plan model forbids it; refuse rather than fall through to "allowed"
        raise AlertAuthFailed(f"unknown authentication type {auth.type!r}", status=500)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _as_bytes(text: str) -> bytes:
    # surrogatepass is injective, so two different presented strings never compare equal.
    return text.encode("utf-8", "surrogatepass")


def _matches_any(presented: bytes, secrets: Sequence[bytes]) -> bool:
    results = [hmac.compare_digest(presented, secret) for secret in secrets]  # no early exit
    return any(results)


def _authorization(headers: Mapping[str, str], *, scheme: str, form: str) -> str:
    """The credentials after `<scheme> ` in the Authorization header; `form` shows the shape."""
    expected = f"expected `Authorization: {form}`"
    value = _header(headers, "Authorization")
    if value is None:
        raise AlertAuthFailed(f"missing `Authorization` header; {expected}")
    given_scheme, _, credentials = value.strip().partition(" ")
    if given_scheme.lower() != scheme.lower():
        known = _KNOWN_SCHEMES.get(given_scheme.lower())
        used = f"the {known} scheme" if known else "no known scheme"
        raise AlertAuthFailed(f"`Authorization` header uses {used}; {expected}")
    credentials = credentials.strip()
    if not credentials:
        raise AlertAuthFailed(f"`Authorization: {scheme}` carries nothing after the scheme; "
                              f"{expected}")
    return credentials


def _check_bearer(*, headers: Mapping[str, str], secrets: Sequence[bytes]) -> None:
    token = _authorization(headers, scheme="Bearer", form="Bearer <token>")
    if not _matches_any(_as_bytes(token), secrets):
        raise AlertAuthFailed("the bearer token does not match this integration's secret")


def _check_basic(auth: IntegrationAuth, *, headers: Mapping[str, str],
                 secrets: Sequence[bytes]) -> None:
    form = "Basic <base64 of username:password>"
    expected = f"expected `Authorization: {form}`"
    encoded = _authorization(headers, scheme="Basic", form=form)
    try:
        decoded = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise AlertAuthFailed(f"`Authorization: Basic` is not valid base64; {expected}") from None
    username, colon, password = decoded.partition(b":")
    if not colon:
        raise AlertAuthFailed(f"`Authorization: Basic` has no `:` between user and password; "
                              f"{expected}")
    username_ok = hmac.compare_digest(username, (auth.username or "").encode("utf-8"))
    password_ok = _matches_any(password, secrets)
    if not (username_ok and password_ok):
        raise AlertAuthFailed("wrong username or password")  # never say which


def _check_hmac(auth: IntegrationAuth, *, headers: Mapping[str, str], body: bytes,
                secrets: Sequence[bytes], now: datetime) -> None:
    sig_name, ts_name = auth.signature_header, auth.timestamp_header
    signature_form = (f"`{sig_name}: sha256=<hex>` (or bare hex), the HMAC-SHA256 of "
                      "`<timestamp>.<body>` (or Grafana's `<timestamp>:<body>`)")
    signature = _header(headers, sig_name)
    if signature is None:
        raise AlertAuthFailed(f"missing `{sig_name}` header; expected {signature_form}")
    digest_hex = signature.strip()
    if digest_hex[:7].lower() == "sha256=":
        digest_hex = digest_hex[7:]
    if not _HEX_SIGNATURE.fullmatch(digest_hex):
        raise AlertAuthFailed(f"`{sig_name}` is not 64 hex digits; expected {signature_form}")
    timestamp = _header(headers, ts_name)
    if timestamp is None:
        raise AlertAuthFailed(f"missing `{ts_name}` header (the Unix time, in seconds, "
                              "the sender signed at)")
    timestamp = timestamp.strip()
    if not _UNIX_SECONDS.fullmatch(timestamp):
        raise AlertAuthFailed(f"`{ts_name}` is not a whole number of Unix seconds")
    skew = now.timestamp() - int(timestamp)
    if abs(skew) > auth.window.total_seconds():
        direction = "behind" if skew > 0 else "ahead of"
        raise AlertAuthFailed(f"timestamp outside the {format_duration(auth.window)} window "
                              f"({abs(skew):.0f}s {direction} this server's clock): a replay, "
                              "a delayed retry, or a clock out of sync")
    presented = bytes.fromhex(digest_hex)
    signed_messages = [timestamp.encode("ascii") + separator + body
                       for separator in _SIGNED_SEPARATORS]
    results = [hmac.compare_digest(presented, hmac.new(secret, message, hashlib.sha256).digest())
               for secret in secrets for message in signed_messages]  # no early exit
    if not any(results):
        raise AlertAuthFailed("the signature does not match: a wrong secret, or the body or "
                              "timestamp changed after signing")


def _check_token_query(*, query: Mapping[str, str], secrets: Sequence[bytes]) -> None:
    token = query.get("token")
    if token is None:
        raise AlertAuthFailed("missing `token` query parameter; "
                              "expected `POST /api/alerts/<id>?token=<secret>`")
    if not token:
        raise AlertAuthFailed("the `token` query parameter is empty")
    if not _matches_any(_as_bytes(token), secrets):
        raise AlertAuthFailed("the `token` query parameter does not match "
                              "this integration's secret")


def _check_routing_key(*, body: bytes, secrets: Sequence[bytes]) -> None:
    """Reads the one field; a body without it is refused here, as unauthenticated, so the
    parser only ever sees bodies from a sender that knew the key."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise AlertAuthFailed("the body is not JSON, so it carries no `routing_key`") from None
    if not isinstance(document, dict):
        raise AlertAuthFailed("the body is not a JSON object, so it carries no `routing_key`")
    if "routing_key" not in document:
        raise AlertAuthFailed("the body has no `routing_key` field (PagerDuty Events v2)")
    routing_key = document["routing_key"]
    if not isinstance(routing_key, str):
        raise AlertAuthFailed("the body's `routing_key` is not a string")
    if not routing_key:
        raise AlertAuthFailed("the body's `routing_key` is empty")
    if not _matches_any(_as_bytes(routing_key), secrets):
        raise AlertAuthFailed("the body's `routing_key` does not match this integration's secret")
