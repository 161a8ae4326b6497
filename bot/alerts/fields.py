"""Typed readers over decoded JSON, shared by every alert parser.

A sender's operator reads our error in their tool's delivery log, far from this code, so every
reader raises `AlertPayloadInvalid` naming the JSON path (`alerts[2].labels.service`), what it
found and how to fix it. Everything a parser keeps goes through these readers, which also bound
sizes: a body that decodes is still untrusted, and nothing downstream should have to care how
long a label is.
"""
from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime

from bot.alerts.model import AlertPayloadInvalid, Link

TITLE_MAX = 300
DESCRIPTION_MAX = 10_000
LABEL_KEY_MAX = 200
LABEL_VALUE_MAX = 1_000
LABELS_MAX = 100  # per alert; annotations likewise
ANNOTATION_VALUE_MAX = 4_000
SEVERITY_MAX = 64
KEY_MAX = 1_024  # dedup and group keys; longer ones are replaced by their hash
URL_MAX = 8_192  # a longer link is dropped, not cut (a cut URL is a broken one)
LINKS_MAX = 20
ALERTS_MAX = 1_000

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,]([0-9]+))?)?"
    r"(?:[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?"
)
_ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)  # Go's zero time, Alertmanager's "unset"
TIMESTAMP_EXAMPLE = "2026-11-29T05:34:15Z"


# --- paths and errors ---------------------------------------------------------------------

def at(path: str, key: str) -> str:
    """The path of `key` in the value at `path`: `alerts[0]` + `labels` is `alerts[0].labels`."""
    if _IDENTIFIER.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(clip(key, 60), ensure_ascii=False)}]"


def item(path: str, index: int) -> str:
    return f"{path}[{index}]"


def kind(value: object) -> str:
    """A JSON type in words, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def shown(value: str) -> str:
    """A received string quoted for a message, cut so an error never echoes a whole body."""
    return json.dumps(clip(value, 60), ensure_ascii=False)


def invalid(path: str, problem: str, fix: str, *, status: int = 400) -> AlertPayloadInvalid:
    where = f"{path}: " if path else ""
    return AlertPayloadInvalid(f"{where}{problem}; {fix}", status=status)


def wrong_type(path: str, expected: str, value: object) -> AlertPayloadInvalid:
    return invalid(path, f"expected {expected}, got {kind(value)}", f"send {expected} here")


# --- strings ------------------------------------------------------------------------------

def clip(value: str, max_len: int) -> str:
    """`value` at most `max_len` characters, an ellipsis marking a cut; lone surrogates (valid
    JSON escapes, but not encodable) become `?` so every string kept is valid UTF-8."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value if len(value) <= max_len else value[: max_len - 1] + "…"


def one_line(value: str, max_len: int = TITLE_MAX) -> str:
    """Whitespace runs, newlines included, become one space: titles are one line."""
    return clip(" ".join(value.split()), max_len)


def scalar_text(value: object) -> str | None:
    """A JSON scalar as text (`true`, `3.0`, `"x"`); None for null, arrays and objects."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return json.dumps(value)
    if isinstance(value, int):
        try:
            return str(value)
        except ValueError:  # past Python's int-to-str digit limit
            return "(number too large)"
    return None


def compact_json(value: object, max_len: int = ANNOTATION_VALUE_MAX) -> str:
    try:
        encoded = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    except (TypeError, ValueError, RecursionError):
        encoded = "(not representable as JSON)"
    return clip(encoded, max_len)


def stable_key(*parts: str) -> str:
    """A sha256 hex digest of `parts`, for identities the sender did not give."""
    encoded = json.dumps(list(parts), ensure_ascii=False).encode("utf-8", "surrogatepass")
    return hashlib.sha256(encoded).hexdigest()


def bounded_key(key: str) -> str:
    """A dedup or group key as kept: itself, or `sha256:<hex>` of it when over KEY_MAX (stable
    across resends, so rejecting it would only lose alerts)."""
    key = clip(key, len(key))
    return key if len(key) <= KEY_MAX else "sha256:" + stable_key(key)


# --- typed getters ------------------------------------------------------------------------

def obj(value: object, path: str) -> dict:
    if not isinstance(value, dict):
        raise wrong_type(path, "an object", value)
    return value


def member(container: dict, key: str, path: str) -> dict | None:
    """An optional object member: None when absent or null."""
    value = container.get(key)
    return None if value is None else obj(value, at(path, key))


def text(
    container: dict,
    key: str,
    *,
    path: str,
    required: bool = False,
    max_len: int | None = None,
    fix: str | None = None,
) -> str | None:
    """A string member. Absent or null is None unless `required` (then also blank is an error);
    another type is an error; longer than `max_len` is cut."""
    where = at(path, key)
    value = container.get(key)
    if value is None or (required and isinstance(value, str) and not value.strip()):
        if required:
            problem = "is missing" if value is None else "is blank"
            raise invalid(where, problem, fix or "send a non-empty string here")
        return None
    if not isinstance(value, str):
        raise wrong_type(where, "a string", value)
    return clip(value, max_len if max_len is not None else len(value))


def choice(container: dict, key: str, options: dict[str, str], *, path: str) -> str | None:
    """A string member that must be one of `options`' keys, compared case-insensitively (the
    keys are spelled as the sender documents them, for the message); returns the mapped value,
    or None when absent or null."""
    raw = text(container, key, path=path)
    if raw is None:
        return None
    wanted = raw.strip().casefold()
    mapped = next((v for k, v in options.items() if k.casefold() == wanted), None)
    if mapped is None:
        names = " or ".join(f'"{o}"' for o in options)
        raise invalid(at(path, key), f"unknown value {shown(raw)}", f"send {names}")
    return mapped


def count(container: dict, key: str, *, path: str) -> int:
    """A non-negative integer member; 0 when absent or null."""
    value = container.get(key, 0)
    if value is None:
        return 0
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise wrong_type(at(path, key), "a whole number", value)
    if value < 0:
        raise invalid(at(path, key), f"is negative ({scalar_text(value)})", "send 0 or more")
    return value


def array(container: dict, key: str, *, path: str, required: bool = False) -> list:
    value = container.get(key)
    if value is None:
        if required:
            raise invalid(at(path, key), "is missing", "send an array here")
        return []
    if not isinstance(value, list):
        raise wrong_type(at(path, key), "an array", value)
    return value


def alert_list(container: dict, key: str, *, path: str, too_many: str) -> list:
    """The batch's alerts: a non-empty array of at most ALERTS_MAX (beyond: 413)."""
    alerts = array(container, key, path=path, required=True)
    if not alerts:
        raise invalid(at(path, key), "is empty", "send at least one alert")
    if len(alerts) > ALERTS_MAX:
        raise invalid(
            at(path, key),
            f"{len(alerts)} alerts in one body, at most {ALERTS_MAX} are taken",
            too_many,
            status=413,
        )
    return alerts


def string_map(
    container: dict,
    key: str,
    *,
    path: str,
    value_max: int = LABEL_VALUE_MAX,
) -> dict[str, str]:
    """An object of string values (labels, annotations): absent or null is empty; a non-string
    value is an error; keys and values are cut, and entries past LABELS_MAX are left out."""
    where = at(path, key)
    source = member(container, key, path)
    result: dict[str, str] = {}
    for name, value in (source or {}).items():
        if not isinstance(value, str):
            raise wrong_type(at(where, str(name)), "a string", value)
        put(result, str(name), value, value_max=value_max)
    return result


def put(
    target: dict[str, str],
    key: str,
    value: str,
    *,
    value_max: int = LABEL_VALUE_MAX,
    overwrite: bool = True,
) -> None:
    """Set one label or annotation, bounded (without `overwrite`, only if not yet set); past
    LABELS_MAX entries nothing more is kept."""
    key = clip(key, LABEL_KEY_MAX)
    if not key or (key in target and not overwrite):
        return
    if key in target or len(target) < LABELS_MAX:
        target[key] = clip(value, value_max)


def severity(value: str | None) -> str | None:
    """A sender's severity as the model keeps it: lower case, bounded, None when blank."""
    if value is None or not value.strip():
        return None
    return clip(value.strip().lower(), SEVERITY_MAX)


def timestamp(container: dict, key: str, *, path: str) -> datetime | None:
    """An RFC 3339 / ISO 8601 date-time as tz-aware UTC. Absent, null, blank or the zero time
    (`0001-01-01T00:00:00Z`) is None; naive times are UTC; digits past microseconds (Azure sends
    seven) are dropped."""
    raw = text(container, key, path=path)
    if raw is None or not raw.strip():
        return None
    value = raw.strip()
    match = _TIMESTAMP.fullmatch(value)
    fix = f"send an RFC 3339 time such as {TIMESTAMP_EXAMPLE}"
    if match is None:
        raise invalid(at(path, key), f"{shown(raw)} is not a date and time", fix)
    if match.group(1) and len(match.group(1)) > 6:
        start, end = match.span(1)
        value = value[:start] + match.group(1)[:6] + value[end:]
    if value[-1] in "Zz":
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        if parsed == _ZERO_TIME:
            return None
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise invalid(at(path, key), f"{shown(raw)} is not a valid date and time", fix) from None


def add_link(links: list[Link], title: str | None, url: str | None) -> None:
    """Append a link unless its URL is blank, over URL_MAX, already there, or LINKS_MAX is
    reached: links decorate a card, so a bad one is dropped rather than failing the alert."""
    if not url or not url.strip() or len(url) > URL_MAX or len(links) >= LINKS_MAX:
        return
    url = clip(url.strip(), URL_MAX)
    if any(link.url == url for link in links):
        return
    links.append(Link(title=one_line(title or "") or one_line(url), url=url))
