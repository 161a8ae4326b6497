"""One entry point from a webhook body to an `AlertBatch`, whatever the source.

The HTTP handler hands over the raw body and the integration's source; this decodes the JSON
itself so that every way a body can be broken (not UTF-8, not JSON, not an object, nested past
the recursion limit) becomes the same `AlertPayloadInvalid` with status 400, and nothing else
escapes. An unknown source is a programming error (the integration's config is validated at
start-up), so it raises `ValueError`, not `AlertPayloadInvalid`.
"""
from __future__ import annotations

import json
from collections.abc import Callable

from bot.alerts import fields
from bot.alerts.alertmanager import parse_alertmanager
from bot.alerts.azure import parse_azure_monitor
from bot.alerts.generic import parse_generic
from bot.alerts.grafana import parse_grafana
from bot.alerts.model import SOURCES, AlertBatch, AlertPayloadInvalid
from bot.alerts.pagerduty import parse_pagerduty

PARSERS: dict[str, Callable[[dict], AlertBatch]] = {
    "alertmanager": parse_alertmanager,
    "azure_monitor": parse_azure_monitor,
    "grafana": parse_grafana,
    "pagerduty": parse_pagerduty,
    "generic": parse_generic,
}
assert set(PARSERS) == set(SOURCES), "every source in the model has a parser"


def parse(source: str, body: bytes) -> AlertBatch:
    """The batch in `body`, a webhook body from `source`."""
    parser = parser_for(source)
    return _run(parser, decode(body))


def parse_document(source: str, document: object) -> AlertBatch:
    """The batch in an already decoded JSON value from `source`."""
    return _run(parser_for(source), document)


def parser_for(source: str) -> Callable[[dict], AlertBatch]:
    try:
        return PARSERS[source]
    except (KeyError, TypeError):
        raise ValueError(f"unknown alert source {source!r}; known: {', '.join(SOURCES)}") from None


def decode(body: bytes) -> object:
    """`body` as a JSON value: strict UTF-8 (a byte order mark is allowed) and strict JSON
    (`NaN` and `Infinity` are not JSON)."""
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise TypeError(f"the body must be bytes, not {type(body).__name__}")
    try:
        body_text = bytes(body).decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise AlertPayloadInvalid(
            f"the body is not UTF-8 (byte {error.start}); send JSON encoded as UTF-8"
        ) from None
    if not body_text.strip():
        raise AlertPayloadInvalid("the body is empty; send a JSON object")
    try:
        return json.loads(body_text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        raise AlertPayloadInvalid(
            f"the body is not valid JSON ({error.msg} at line {error.lineno}, column "
            f"{error.colno}); send one JSON object"
        ) from None
    except (ValueError, RecursionError) as error:  # NaN, a number too long, nesting too deep
        reason = "nested too deeply" if isinstance(error, RecursionError) else str(error)
        raise AlertPayloadInvalid(
            f"the body is not acceptable JSON ({fields.clip(reason, 200)}); send one JSON object"
        ) from None


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def _run(parser: Callable[[dict], AlertBatch], document: object) -> AlertBatch:
    if not isinstance(document, dict):
        raise AlertPayloadInvalid(
            f"the body is {fields.kind(document)}, not a JSON object; send one JSON object "
            "(the webhook payload, as the sender documents it)"
        )
    try:
        return parser(document)
    except RecursionError:
        raise AlertPayloadInvalid(
            "the body is nested too deeply; send a flatter JSON object"
        ) from None
