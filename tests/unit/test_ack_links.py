"""Signed acknowledge links: round trip, and every way a token can be wrong."""
import base64
from datetime import datetime, timedelta, timezone

import pytest

from bot.ack_links import TOKEN_BYTES, AckLinkExpired, AckLinkInvalid, sign, verify
from bot.errors import ValidationFailed

SECRET = "s3cret-for-tests-only-0123456789"
NOW = datetime(2026, 11, 29, 14, 5, tzinfo=timezone.utc)
LATER = NOW + timedelta(hours=24)


def test_round_trip_gives_the_page_id_back():
    token = sign(SECRET, 42, LATER)
    assert verify(SECRET, token, NOW) == 42
    assert verify(SECRET, token, LATER - timedelta(seconds=1)) == 42


def test_token_is_url_safe_without_padding():
    token = sign(SECRET, 2**63 - 1, LATER)
    assert "=" not in token and "+" not in token and "/" not in token
    assert len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))) == TOKEN_BYTES


def test_each_page_has_its_own_token():
    assert sign(SECRET, 1, LATER) != sign(SECRET, 2, LATER)


@pytest.mark.parametrize("position", [0, 7, 12, 30, -1])
def test_a_tampered_token_is_invalid(position):
    raw = bytearray(base64.urlsafe_b64decode(sign(SECRET, 42, LATER) + "=="))
    raw[position] ^= 0x01
    tampered = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    with pytest.raises(AckLinkInvalid) as caught:
        verify(SECRET, tampered, NOW)
    assert not isinstance(caught.value, AckLinkExpired)


def test_extending_the_expiry_breaks_the_signature():
    raw = bytearray(base64.urlsafe_b64decode(sign(SECRET, 42, NOW + timedelta(minutes=1)) + "=="))
    raw[8:16] = int(LATER.timestamp() + 10**6).to_bytes(8, "big")
    with pytest.raises(AckLinkInvalid):
        verify(SECRET, base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode(), NOW)


def test_the_wrong_secret_is_invalid():
    with pytest.raises(AckLinkInvalid, match="not valid"):
        verify("another-secret-entirely-abcdefgh", sign(SECRET, 42, LATER), NOW)


def test_an_expired_link_says_when_it_expired():
    token = sign(SECRET, 42, LATER)
    with pytest.raises(AckLinkExpired, match="expired at 2026-11-30 14:05 UTC") as caught:
        verify(SECRET, token, LATER)
    assert "Teams" in str(caught.value)
    assert isinstance(caught.value, AckLinkInvalid) and isinstance(caught.value, ValidationFailed)


@pytest.mark.parametrize("garbage", ["", "x", "not base64 !!", "é" * 20, "A" * 64, "A" * 500,
                                     sign(SECRET, 42, LATER)[:-2]])
def test_garbage_is_invalid(garbage):
    with pytest.raises(AckLinkInvalid):
        verify(SECRET, garbage, NOW)


def test_no_secret_means_no_valid_link():
    with pytest.raises(AckLinkInvalid):
        verify("", sign(SECRET, 42, LATER), NOW)
    with pytest.raises(ValueError):
        sign("", 42, LATER)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        sign(SECRET, 0, LATER)
    with pytest.raises(ValueError):
        sign(SECRET, 1, LATER.replace(tzinfo=None))
