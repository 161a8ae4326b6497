"""Authentication of monitoring webhooks: every type, rotation, and every way a request is refused.

Every refusal is checked for its status, a fragment of its reason, and that the reason carries
neither a secret nor the credential the sender presented.
"""
import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from bot.alerts.auth import AlertAuthFailed, SecretSource, authenticate
from bot.plan_integrations import IntegrationAuth
from tests.support import FakeClock

NEW = b"new-secret-4f1c9a2b7e"
OLD = b"old-secret-8d3e6b0c5a"
RETIRED = b"retired-secret-2a7f9c1d"  # was active before OLD, no longer
WRONG = b"wrong-secret-6b2e8f4a"
EVERY_SECRET = (NEW, OLD, RETIRED, WRONG)
ACTIVE = [NEW, OLD]

NOW = FakeClock().now()  # 2026-11-29 14:05 UTC, tz-aware
TS = int(NOW.timestamp())
BODY = b'{"alerts": [{"status": "firing", "labels": {"alertname": "HighLatency"}}]}'
GRAFANA_SIG = "X-Grafana-Alerting-Signature"
GRAFANA_TS = "X-Grafana-Alerting-Signature-Timestamp"


@dataclass
class Request:
    headers: dict = field(default_factory=dict)
    query: dict = field(default_factory=dict)
    body: bytes = BODY
    presented: tuple = ()  # the credentials as sent, which no reason may echo


def plan_auth(kind, **extra):
    if kind == "basic":
        extra.setdefault("username", "alertmanager")
    return IntegrationAuth(type=kind, secret_env=["ALERT_SECRET_NEW", "ALERT_SECRET_OLD"], **extra)


def signature(secret, timestamp, body, *, separator=b".", prefix="sha256="):
    message = str(timestamp).encode() + separator + body
    return prefix + hmac.new(secret, message, hashlib.sha256).hexdigest()


def bearer(token):
    value = f"Bearer {token.decode()}"
    return Request(headers={"Authorization": value}, presented=(token.decode(),))


def basic(username, password):
    encoded = base64.b64encode(username.encode() + b":" + password).decode()
    return Request(headers={"Authorization": f"Basic {encoded}"},
                   presented=(encoded, password.decode()))


def signed(secret, *, timestamp=TS, body=BODY):
    sig = signature(secret, timestamp, body)
    return Request(headers={"X-Firebreak-Signature": sig, "X-Firebreak-Timestamp": str(timestamp)},
                   body=body, presented=(sig, sig.removeprefix("sha256=")))


def with_token(token):
    return Request(query={"token": token.decode()}, presented=(token.decode(),))


def routed(key):
    body = json.dumps({"routing_key": key.decode(), "event_action": "trigger"}).encode()
    return Request(body=body, presented=(key.decode(),))


GOOD_REQUEST = {
    "bearer": bearer,
    "basic": lambda secret: basic("alertmanager", secret),
    "hmac": signed,
    "token_query": with_token,
    "routing_key": routed,
}
MISMATCH_REASON = {
    "bearer": "the bearer token does not match this integration's secret",
    "basic": "wrong username or password",
    "hmac": ("the signature does not match: a wrong secret, or the body or timestamp changed "
             "after signing"),
    "token_query": "the `token` query parameter does not match this integration's secret",
    "routing_key": "the body's `routing_key` does not match this integration's secret",
}


def check(auth, request, *, secrets=ACTIVE, now=NOW):
    authenticate(auth, headers=request.headers, query=request.query, body=request.body,
                 secrets=secrets, now=now)


def refused(auth, request, *, secrets=ACTIVE, now=NOW, status=401):
    with pytest.raises(AlertAuthFailed) as caught:
        check(auth, request, secrets=secrets, now=now)
    failure = caught.value
    assert failure.status == status
    assert str(failure) == failure.reason
    assert_nothing_secret_in(failure.reason, presented=request.presented)
    return failure.reason


def assert_nothing_secret_in(reason, *, presented=()):
    for secret in EVERY_SECRET:
        assert secret.decode() not in reason
    for credential in presented:
        assert credential not in reason


# --- every type: rotation and wrong secrets ---------------------------------------------------

@pytest.mark.parametrize("kind", sorted(GOOD_REQUEST))
@pytest.mark.parametrize("secret", [NEW, OLD], ids=["new secret", "old secret while rotating"])
def test_an_active_secret_is_let_in(kind, secret):
    check(plan_auth(kind), GOOD_REQUEST[kind](secret))


@pytest.mark.parametrize("kind", sorted(GOOD_REQUEST))
@pytest.mark.parametrize("secret", [WRONG, RETIRED], ids=["wrong secret", "retired third secret"])
def test_any_other_secret_is_refused_without_saying_which_part(kind, secret):
    assert refused(plan_auth(kind), GOOD_REQUEST[kind](secret)) == MISMATCH_REASON[kind]


@pytest.mark.parametrize("kind", sorted(GOOD_REQUEST))
def test_only_the_new_secret_after_rotation_ends(kind):
    check(plan_auth(kind), GOOD_REQUEST[kind](NEW), secrets=[NEW])
    refused(plan_auth(kind), GOOD_REQUEST[kind](OLD), secrets=[NEW])


# --- bearer -------------------------------------------------------------------------------------

BEARER_FORM = "expected `Authorization: Bearer <token>`"


@pytest.mark.parametrize("request_, reason", [
    (Request(), f"missing `Authorization` header; {BEARER_FORM}"),
    (Request(headers={"Authorization": "Basic " + NEW.decode()}, presented=(NEW.decode(),)),
     f"`Authorization` header uses the Basic scheme; {BEARER_FORM}"),
    (Request(headers={"Authorization": NEW.decode()}, presented=(NEW.decode(),)),
     f"`Authorization` header uses no known scheme; {BEARER_FORM}"),
    (Request(headers={"Authorization": "Bearer   "}),
     f"`Authorization: Bearer` carries nothing after the scheme; {BEARER_FORM}"),
    (Request(headers={"X-Api-Key": NEW.decode()}, presented=(NEW.decode(),)),
     f"missing `Authorization` header; {BEARER_FORM}"),
], ids=["missing", "basic scheme", "bare token", "empty token", "token in another header"])
def test_bearer_malformed_headers(request_, reason):
    assert refused(plan_auth("bearer"), request_) == reason


@pytest.mark.parametrize("name", ["authorization", "AUTHORIZATION", "AuThOrIzAtIoN"])
def test_header_names_are_case_insensitive(name):
    check(plan_auth("bearer"), Request(headers={name: "Bearer " + NEW.decode()}))


def test_the_scheme_is_case_insensitive():
    check(plan_auth("bearer"), Request(headers={"Authorization": "bearer " + OLD.decode()}))


def test_a_token_that_only_starts_like_the_secret_is_refused():
    assert refused(plan_auth("bearer"), bearer(NEW + b"x")) == MISMATCH_REASON["bearer"]
    assert refused(plan_auth("bearer"), bearer(NEW[:-1])) == MISMATCH_REASON["bearer"]


# --- basic --------------------------------------------------------------------------------------

BASIC_FORM = "expected `Authorization: Basic <base64 of username:password>`"


def test_basic_wrong_username_with_the_right_password_is_refused_the_same_way():
    assert refused(plan_auth("basic"), basic("grafana", NEW)) == "wrong username or password"
    assert refused(plan_auth("basic"), basic("", NEW)) == "wrong username or password"


@pytest.mark.parametrize("value, reason", [
    ("Bearer " + NEW.decode(), f"`Authorization` header uses the Bearer scheme; {BASIC_FORM}"),
    ("Basic not*base64!", f"`Authorization: Basic` is not valid base64; {BASIC_FORM}"),
    ("Basic " + base64.b64encode(NEW).decode(),
     f"`Authorization: Basic` has no `:` between user and password; {BASIC_FORM}"),
    ("Basic", f"`Authorization: Basic` carries nothing after the scheme; {BASIC_FORM}"),
], ids=["bearer scheme", "not base64", "no colon", "empty"])
def test_basic_malformed_headers(value, reason):
    presented = (NEW.decode(), base64.b64encode(NEW).decode())
    assert refused(plan_auth("basic"), Request(headers={"authorization": value},
                                               presented=presented)) == reason


def test_basic_password_may_contain_colons():
    password = b"pa:ss:word"
    check(plan_auth("basic"), basic("alertmanager", password), secrets=[password])


# --- hmac ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("offset", [-300, -299, 0, 299, 300],
                         ids=["5m old", "just inside old", "now", "just inside ahead", "5m ahead"])
def test_hmac_timestamp_at_or_inside_the_window_passes(offset):
    check(plan_auth("hmac"), signed(NEW, timestamp=TS + offset))


@pytest.mark.parametrize("offset, skew", [
    (-301, "301s behind"), (301, "301s ahead of"), (-86_400, "86400s behind"),
], ids=["one second too old", "one second too far ahead", "a day old"])
def test_hmac_timestamp_beyond_the_window_fails(offset, skew):
    assert refused(plan_auth("hmac"), signed(NEW, timestamp=TS + offset)) == (
        f"timestamp outside the 5m window ({skew} this server's clock): a replay, "
        "a delayed retry, or a clock out of sync")


def test_hmac_window_comes_from_the_plan():
    auth = plan_auth("hmac", window="1m")
    check(auth, signed(NEW, timestamp=TS - 60))
    assert refused(auth, signed(NEW, timestamp=TS - 61)).startswith(
        "timestamp outside the 1m window (61s behind")


def test_hmac_body_tampered_fails():
    request = signed(NEW)
    request.body = BODY.replace(b"firing", b"resolved")
    assert refused(plan_auth("hmac"), request) == MISMATCH_REASON["hmac"]


def test_hmac_timestamp_changed_after_signing_fails():
    request = signed(NEW)
    request.headers["X-Firebreak-Timestamp"] = str(TS + 1)
    assert refused(plan_auth("hmac"), request) == MISMATCH_REASON["hmac"]


def test_hmac_signature_over_the_body_alone_fails():
    sig = "sha256=" + hmac.new(NEW, BODY, hashlib.sha256).hexdigest()
    request = Request(headers={"X-Firebreak-Signature": sig, "X-Firebreak-Timestamp": str(TS)},
                      presented=(sig,))
    assert refused(plan_auth("hmac"), request) == MISMATCH_REASON["hmac"]


@pytest.mark.parametrize("shape", [str, lambda sig: sig.removeprefix("sha256="), str.upper],
                         ids=["sha256=<hex>", "bare hex", "upper case"])
def test_hmac_signature_with_or_without_prefix(shape):
    sig = shape(signature(NEW, TS, BODY))
    check(plan_auth("hmac"), Request(headers={"X-Firebreak-Signature": sig,
                                              "X-Firebreak-Timestamp": str(TS)}))


HMAC_FORM = ("expected `X-Firebreak-Signature: sha256=<hex>` (or bare hex), the HMAC-SHA256 of "
             "`<timestamp>.<body>` (or Grafana's `<timestamp>:<body>`)")


@pytest.mark.parametrize("drop, replace, reason", [
    ("X-Firebreak-Signature", {}, f"missing `X-Firebreak-Signature` header; {HMAC_FORM}"),
    ("X-Firebreak-Timestamp", {},
     "missing `X-Firebreak-Timestamp` header (the Unix time, in seconds, the sender signed at)"),
    (None, {"X-Firebreak-Signature": "sha256=" + "g" * 64},
     f"`X-Firebreak-Signature` is not 64 hex digits; {HMAC_FORM}"),
    (None, {"X-Firebreak-Signature": "sha1=" + "a" * 40},
     f"`X-Firebreak-Signature` is not 64 hex digits; {HMAC_FORM}"),
    (None, {"X-Firebreak-Signature": ""},
     f"`X-Firebreak-Signature` is not 64 hex digits; {HMAC_FORM}"),
    (None, {"X-Firebreak-Timestamp": f"{TS}.0"},
     "`X-Firebreak-Timestamp` is not a whole number of Unix seconds"),
    (None, {"X-Firebreak-Timestamp": f"-{TS}"},
     "`X-Firebreak-Timestamp` is not a whole number of Unix seconds"),
    (None, {"X-Firebreak-Timestamp": "2026-11-29T14:05:00Z"},
     "`X-Firebreak-Timestamp` is not a whole number of Unix seconds"),
    (None, {"X-Firebreak-Timestamp": "١٢٣"},  # Arabic-Indic digits: int() would take them
     "`X-Firebreak-Timestamp` is not a whole number of Unix seconds"),
], ids=["no signature", "no timestamp", "not hex", "sha1", "empty signature", "fractional",
        "negative", "iso date", "non-ascii digits"])
def test_hmac_malformed_headers(drop, replace, reason):
    request = signed(NEW)
    request.headers.pop(drop, None)
    request.headers.update(replace)
    assert refused(plan_auth("hmac"), request) == reason


def test_hmac_header_names_are_case_insensitive():
    request = signed(OLD)
    request.headers = {key.lower(): value for key, value in request.headers.items()}
    check(plan_auth("hmac"), request)


# --- hmac, Grafana's contact point signing -------------------------------------------------------

def grafana_plan():
    return plan_auth("hmac", signature_header=GRAFANA_SIG, timestamp_header=GRAFANA_TS)


def grafana_request(secret, *, timestamp=TS, body=BODY):
    """As grafana/alerting http/hmac.go sends it: bare hex over `<ts>:<body>`."""
    sig = hmac.new(secret, f"{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    headers = {GRAFANA_SIG: sig, GRAFANA_TS: str(timestamp), "Content-Type": "application/json"}
    return Request(headers=headers, body=body, presented=(sig,))


@pytest.mark.parametrize("secret", [NEW, OLD])
def test_grafana_bare_hex_over_timestamp_colon_body_passes(secret):
    check(grafana_plan(), grafana_request(secret))


def test_grafana_with_lower_case_header_names_passes():
    request = grafana_request(NEW)
    request.headers = {key.lower(): value for key, value in request.headers.items()}
    check(grafana_plan(), request)


def test_grafana_wrong_secret_or_stale_timestamp_fails():
    assert refused(grafana_plan(), grafana_request(WRONG)) == MISMATCH_REASON["hmac"]
    assert refused(grafana_plan(), grafana_request(NEW, timestamp=TS - 301)).startswith(
        "timestamp outside the 5m window (301s behind")


def test_grafana_without_a_timestamp_header_is_refused_and_says_which_header():
    sig = hmac.new(NEW, BODY, hashlib.sha256).hexdigest()  # Grafana with no timestamp header set
    request = Request(headers={GRAFANA_SIG: sig}, presented=(sig,))
    assert refused(grafana_plan(), request) == (
        f"missing `{GRAFANA_TS}` header (the Unix time, in seconds, the sender signed at)")


def test_grafana_signature_is_not_looked_for_in_our_default_header():
    request = grafana_request(NEW)
    assert refused(plan_auth("hmac"), request).startswith("missing `X-Firebreak-Signature` header")


# --- token_query --------------------------------------------------------------------------------

@pytest.mark.parametrize("request_, reason", [
    (Request(), "missing `token` query parameter; expected `POST /api/alerts/<id>?token=<secret>`"),
    (Request(query={"token": ""}), "the `token` query parameter is empty"),
    (Request(query={"Token": NEW.decode()}, presented=(NEW.decode(),)),
     "missing `token` query parameter; expected `POST /api/alerts/<id>?token=<secret>`"),
    (Request(headers={"Authorization": "Bearer " + NEW.decode()}, presented=(NEW.decode(),)),
     "missing `token` query parameter; expected `POST /api/alerts/<id>?token=<secret>`"),
], ids=["missing", "empty", "other case", "bearer header instead"])
def test_token_query_refusals(request_, reason):
    assert refused(plan_auth("token_query"), request_) == reason


# --- routing_key --------------------------------------------------------------------------------

@pytest.mark.parametrize("body, reason", [
    (b"routing_key=" + NEW, "the body is not JSON, so it carries no `routing_key`"),
    (b"", "the body is not JSON, so it carries no `routing_key`"),
    (b'{"routing_key": "\xff\xfe"}', "the body is not JSON, so it carries no `routing_key`"),
    (b"[" * 100_000 + b"]" * 100_000, "the body is not JSON, so it carries no `routing_key`"),
    (json.dumps([{"routing_key": NEW.decode()}]).encode(),
     "the body is not a JSON object, so it carries no `routing_key`"),
    (b'"' + NEW + b'"', "the body is not a JSON object, so it carries no `routing_key`"),
    (b'{"event_action": "trigger"}', "the body has no `routing_key` field (PagerDuty Events v2)"),
    (b'{"routing_key": 12345}', "the body's `routing_key` is not a string"),
    (b'{"routing_key": null}', "the body's `routing_key` is not a string"),
    (json.dumps({"routing_key": [NEW.decode()]}).encode(),
     "the body's `routing_key` is not a string"),
    (b'{"routing_key": ""}', "the body's `routing_key` is empty"),
], ids=["form encoded", "empty body", "invalid utf-8", "nested too deep", "array", "json string",
        "missing", "number", "null", "list", "empty"])
def test_routing_key_refusals_are_authentication_failures(body, reason):
    request = Request(body=body, presented=(NEW.decode(),))
    assert refused(plan_auth("routing_key"), request) == reason


def test_routing_key_in_a_header_or_query_is_not_looked_at():
    request = Request(headers={"routing_key": NEW.decode()}, query={"routing_key": NEW.decode()},
                      body=b'{"event_action": "trigger"}', presented=(NEW.decode(),))
    assert refused(plan_auth("routing_key"), request) == (
        "the body has no `routing_key` field (PagerDuty Events v2)")


# --- misconfiguration is a 500, never a pass ------------------------------------------------------

@pytest.mark.parametrize("kind", sorted(GOOD_REQUEST))
def test_no_secret_at_all_is_a_server_error(kind):
    reason = refused(plan_auth(kind), GOOD_REQUEST[kind](NEW), secrets=[], status=500)
    assert reason == "no active secret is configured for this integration"


@pytest.mark.parametrize("kind", sorted(GOOD_REQUEST))
def test_an_empty_secret_is_a_server_error_even_for_a_matching_request(kind):
    # An HMAC keyed with b"" is computable by anyone; it must not let them in.
    request = GOOD_REQUEST[kind](b"x")
    if kind == "hmac":
        request = signed(b"")
    reason = refused(plan_auth(kind), request, secrets=[NEW, b""], status=500)
    assert reason == "an active secret of this integration is empty"


def test_a_naive_now_is_a_programming_error():
    with pytest.raises(ValueError, match="timezone-aware"):
        check(plan_auth("hmac"), signed(NEW), now=NOW.replace(tzinfo=None))


# --- SecretSource ---------------------------------------------------------------------------------

def file_reader(files):
    def read(path):
        if path not in files:
            raise FileNotFoundError(2, "No such file or directory", path)
        return files[path]
    return read


BOTH_SET = {"ALERT_SECRET_NEW": NEW.decode(), "ALERT_SECRET_OLD": OLD.decode()}


def test_env_secrets_resolve_new_first():
    source = SecretSource(environ=BOTH_SET, read_file=file_reader({}))
    assert source.secrets_for(plan_auth("bearer")) == [NEW, OLD]


@pytest.mark.parametrize("environ, reason", [
    ({"ALERT_SECRET_OLD": OLD.decode()},
     "the secret's environment variable ALERT_SECRET_NEW is not set"),
    ({"ALERT_SECRET_NEW": NEW.decode()},
     "the secret's environment variable ALERT_SECRET_OLD is not set"),
    ({"ALERT_SECRET_NEW": "", "ALERT_SECRET_OLD": OLD.decode()},
     "the secret's environment variable ALERT_SECRET_NEW is empty"),
    ({}, "the secret's environment variable ALERT_SECRET_NEW is not set"),
], ids=["new unset", "old unset", "new empty", "none set"])
def test_env_misconfiguration_is_a_500_naming_the_variable(environ, reason):
    source = SecretSource(environ=environ, read_file=file_reader({}))
    with pytest.raises(AlertAuthFailed) as caught:
        source.secrets_for(plan_auth("hmac"))
    assert (caught.value.status, caught.value.reason) == (500, reason)
    assert_nothing_secret_in(caught.value.reason)


def file_plan(*paths):
    return IntegrationAuth(type="bearer", secret_file=list(paths))


@pytest.mark.parametrize("content", [NEW + b"\n", NEW + b"\r\n", NEW + b" \t\n\n", NEW])
def test_file_secret_loses_trailing_whitespace(content):
    source = SecretSource(environ={}, read_file=file_reader({"/run/secrets/new": content}))
    assert source.secrets_for(file_plan("/run/secrets/new")) == [NEW]


def test_file_secrets_read_from_disk_with_rotation_taking_effect_at_once(tmp_path):
    new_file, old_file = tmp_path / "new", tmp_path / "old"
    new_file.write_bytes(NEW + b"\n")
    old_file.write_bytes(OLD + b"\n")
    source = SecretSource(environ={})
    auth = file_plan(str(new_file), str(old_file))
    assert source.secrets_for(auth) == [NEW, OLD]
    new_file.write_bytes(b"rotated-secret-9e8d7c\n")
    assert source.secrets_for(auth) == [b"rotated-secret-9e8d7c", OLD]


def test_missing_file_is_a_500_naming_the_file(tmp_path):
    missing = tmp_path / "nowhere" / "secret"
    with pytest.raises(AlertAuthFailed) as caught:
        SecretSource(environ={}).secrets_for(file_plan(str(missing)))
    assert caught.value.status == 500
    assert caught.value.reason == (
        f"the secret file {missing} cannot be read (No such file or directory)")


@pytest.mark.parametrize("files, reason", [
    ({"/run/secrets/new": b""}, "the secret file /run/secrets/new is empty"),
    ({"/run/secrets/new": b"  \n\n"}, "the secret file /run/secrets/new is empty"),
    ({"/run/secrets/new": NEW + b"\n"},
     "the secret file /run/secrets/old cannot be read (No such file or directory)"),
], ids=["empty", "whitespace only", "old file missing"])
def test_file_misconfiguration_is_a_500(files, reason):
    source = SecretSource(environ={}, read_file=file_reader(files))
    with pytest.raises(AlertAuthFailed) as caught:
        source.secrets_for(file_plan("/run/secrets/new", "/run/secrets/old"))
    assert (caught.value.status, caught.value.reason) == (500, reason)
    assert_nothing_secret_in(caught.value.reason)


def test_a_permission_error_is_a_500_too():
    def unreadable(path):
        raise PermissionError(13, "Permission denied", path)
    with pytest.raises(AlertAuthFailed) as caught:
        SecretSource(environ={}, read_file=unreadable).secrets_for(file_plan("/run/secrets/new"))
    assert (caught.value.status, caught.value.reason) == (
        500, "the secret file /run/secrets/new cannot be read (Permission denied)")


def test_source_and_check_together():
    source = SecretSource(environ=BOTH_SET, read_file=file_reader({}))
    auth = plan_auth("hmac")
    check(auth, signed(OLD, timestamp=TS - 10), secrets=source.secrets_for(auth), now=NOW)
    later = NOW + timedelta(minutes=6)
    refused(auth, signed(OLD, timestamp=TS - 10), secrets=source.secrets_for(auth), now=later)
