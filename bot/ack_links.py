"""Signed one-click acknowledge links for pages sent by e-mail or webhook. Pure; no I/O.

A link is `{FIREBREAK_PUBLIC_URL}/ack/{token}`. The token carries the page id and an expiry
and is signed with HMAC-SHA256 under FIREBREAK_ACK_SECRET, so nothing is stored per link:
rotating the secret revokes every link at once. Layout before base64url (no padding):

    page id (8 bytes, big-endian) | expiry (8 bytes, Unix seconds) | HMAC-SHA256 (32 bytes)

The MAC covers a fixed label and the first 16 bytes; it is checked (in constant time) before
anything in the token is believed, so a forged or damaged token says nothing about pages.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from datetime import datetime, timezone

from bot.domain.formatting import format_time
from bot.errors import ValidationFailed

_LABEL = b"firebreak-ack-link-v1\x00"  # domain separation: this MAC means "acknowledge page N"
_BODY = struct.Struct(">QQ")
_MAC_SIZE = hashlib.sha256().digest_size
TOKEN_BYTES = _BODY.size + _MAC_SIZE


class AckLinkInvalid(ValidationFailed):
    """The link is not one Firebreak made with the current secret (damaged, forged or revoked)."""


class AckLinkExpired(AckLinkInvalid):
    """The link was genuine but its time is up."""


def _mac(secret: str, body: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), _LABEL + body, hashlib.sha256).digest()


def sign(secret: str, page_id: int, expires: datetime) -> str:
    """A URL-safe token that acknowledges page `page_id` until `expires` (whole seconds)."""
    if not secret:
        raise ValueError("an acknowledge link needs a secret (FIREBREAK_ACK_SECRET)")
    if expires.tzinfo is None:
        raise ValueError("expires must be timezone-aware")
    if not 0 < page_id < 2**63:
        raise ValueError(f"page id out of range: {page_id}")
    body = _BODY.pack(page_id, int(expires.timestamp()))
    return base64.urlsafe_b64encode(body + _mac(secret, body)).rstrip(b"=").decode("ascii")


def verify(secret: str, token: str, now: datetime) -> int:
    """The page id a token acknowledges; AckLinkInvalid or AckLinkExpired otherwise."""
    invalid = AckLinkInvalid(
        "This acknowledge link is not valid (it may be incomplete, or links were reset). "
        "Acknowledge the page in Teams instead."
    )
    if not secret or not token or len(token) > 2 * TOKEN_BYTES:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii") + b"=" * (-len(token) % 4))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise invalid from None
    if len(raw) != TOKEN_BYTES:
        raise invalid
    body, mac = raw[: _BODY.size], raw[_BODY.size :]
    if not hmac.compare_digest(mac, _mac(secret, body)):
        raise invalid
    page_id, expires_at = _BODY.unpack(body)
    if now.timestamp() >= expires_at:
        expired = datetime.fromtimestamp(expires_at, tz=timezone.utc)
        raise AckLinkExpired(
            f"This acknowledge link expired at {format_time(expired)}. "
            "Acknowledge the page in Teams instead."
        )
    return page_id
