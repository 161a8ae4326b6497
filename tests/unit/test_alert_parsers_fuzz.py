"""Property tests: whatever a sender posts, a parser returns a well-formed `AlertBatch` or raises
`AlertPayloadInvalid`, never anything else (model.py's contract for every parser)."""
from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.alerts import fields
from bot.alerts.model import SOURCES, Alert, AlertBatch, AlertPayloadInvalid, Link
from bot.alerts.parse import parse, parse_document
from tests.support import FIXTURES
from tests.unit.test_alert_parsers import grafana_payload, pagerduty_trigger

# No example database: it would write .hypothesis/ into the work tree. Failures print the
# example, which is enough to reproduce them as a plain test.
FAST = settings(max_examples=120, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])
STATUSES = {"firing", "resolved", "acknowledged"}

SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
# Values that sit on the parsers' edges: their own vocabulary, zero and odd times, sizes,
# lone surrogates, huge numbers.
EDGES = st.sampled_from([
    "", " ", "firing", "resolved", "Fired", "Resolved", "trigger", "acknowledge", "resolve",
    "critical", "Sev0", "4", "1", "azureMonitorCommonAlertSchema", "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2026-11-29T05:34:15.1234567Z",
    "2026-11-29T05:34:15", "2026-02-30T00:00:00Z", "\ud800", "a\nb", "x" * 5000,
    "/subscriptions/s/resourceGroups/rg/providers/p/t/name", 10**40, -1, 0, 2.5, 1e308,
    [], {}, [{}], {"href": 1}, None, True,
])
REPLACEMENTS = EDGES | JSON_VALUES


def seeds() -> list[tuple[str, dict]]:
    """Each real fixture with its source, plus the documented shapes built in the unit tests."""
    found = []
    for path in sorted((FIXTURES / "alerts").glob("*.json")):
        document = json.loads(path.read_text())
        if isinstance(document, dict):
            found.append(("azure_monitor" if path.name.startswith("azure") else "alertmanager",
                          document))
    found.append(("grafana", grafana_payload()))
    found.append(("pagerduty", pagerduty_trigger()))
    found.append(("generic", {"group_key": "g", "title": "t", "alerts": [
        {"id": "a", "status": "resolved", "title": "x", "labels": {"k": "v"},
         "annotations": {"n": "m"}, "links": [{"title": "l", "url": "https://e.example/"}],
         "starts_at": "2026-11-29T05:34:15Z", "ends_at": "2026-11-29T06:34:15Z"}]}))
    return found


SEEDS = seeds()


def every_path(value: object, prefix: tuple = ()) -> list[tuple]:
    paths = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            paths += every_path(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            paths += every_path(child, (*prefix, index))
    return paths


@st.composite
def mutations(draw: st.DrawFn, document: dict) -> object:
    """`document` with one to four changes at any depth: a key or item dropped, or a value
    replaced by any JSON value (or an edge value)."""
    mutated: object = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(every_path(mutated)))
        if not path:
            mutated = copy.deepcopy(draw(REPLACEMENTS))
            continue
        parent = mutated
        for step in path[:-1]:
            parent = parent[step]  # type: ignore[index]
        if draw(st.booleans()):
            del parent[path[-1]]  # type: ignore[union-attr]
        else:
            parent[path[-1]] = copy.deepcopy(draw(REPLACEMENTS))  # type: ignore[index]
    return mutated


def outcome(
    source: str, entry: Callable[[str, Any], AlertBatch], payload: object
) -> AlertBatch | None:
    """Parse `payload` from `source` with `entry` (`parse` or `parse_document`): a batch is
    checked, AlertPayloadInvalid is fine, anything else fails the test."""
    try:
        batch = entry(source, payload)
    except AlertPayloadInvalid as error:
        assert error.status in (400, 413, 422)
        assert isinstance(str(error), str) and str(error)
        str(error).encode("utf-8")
        return None
    check_batch(source, batch)
    return batch


def is_text(value: object, max_len: int) -> bool:
    if not isinstance(value, str) or len(value) > max_len:
        return False
    value.encode("utf-8")  # no lone surrogates reach the store or a card
    return True


def is_text_map(mapping: object, value_max: int) -> bool:
    return isinstance(mapping, dict) and len(mapping) <= fields.LABELS_MAX and all(
        is_text(k, fields.LABEL_KEY_MAX) and k and is_text(v, value_max)
        for k, v in mapping.items()
    )


def is_utc(moment: object) -> bool:
    return moment is None or (
        isinstance(moment, datetime) and moment.tzinfo is not None
        and moment.utcoffset() == timedelta(0)
    )


def check_batch(source: str, batch: object) -> None:
    assert isinstance(batch, AlertBatch)
    assert batch.source == source
    assert isinstance(batch.alerts, tuple) and 1 <= len(batch.alerts) <= fields.ALERTS_MAX
    assert batch.group_key is None or (
        is_text(batch.group_key, fields.KEY_MAX) and batch.group_key.strip()
    )
    assert is_text_map(batch.group_labels, fields.LABEL_VALUE_MAX)
    assert is_text_map(batch.common_labels, fields.LABEL_VALUE_MAX)
    assert type(batch.truncated) is int and batch.truncated >= 0
    assert batch.external_url is None or is_text(batch.external_url, fields.URL_MAX)
    assert batch.title is None or (
        is_text(batch.title, fields.TITLE_MAX) and "\n" not in batch.title
    )
    for alert in batch.alerts:
        check_alert(source, alert)


def check_alert(source: str, alert: object) -> None:
    assert isinstance(alert, Alert)
    assert is_text(alert.dedup_key, fields.KEY_MAX) and alert.dedup_key.strip()
    assert alert.status in STATUSES
    assert alert.status != "acknowledged" or source == "pagerduty"
    assert is_text(alert.title, fields.TITLE_MAX) and alert.title
    assert alert.title == " ".join(alert.title.split())  # one line
    assert is_text_map(alert.labels, fields.LABEL_VALUE_MAX)
    assert is_text_map(alert.annotations, fields.ANNOTATION_VALUE_MAX)
    assert alert.severity is None or (
        is_text(alert.severity, fields.SEVERITY_MAX) and alert.severity == alert.severity.lower()
    )
    assert is_text(alert.description, fields.DESCRIPTION_MAX)
    assert is_utc(alert.starts_at) and is_utc(alert.ends_at)
    assert isinstance(alert.links, tuple) and len(alert.links) <= fields.LINKS_MAX
    for link in alert.links:
        assert isinstance(link, Link)
        assert is_text(link.title, fields.TITLE_MAX) and link.title
        assert is_text(link.url, fields.URL_MAX) and link.url


@pytest.mark.parametrize("source", SOURCES)
@FAST
@given(body=st.binary(max_size=300))
def test_arbitrary_bytes(source, body):
    outcome(source, parse, body)


@pytest.mark.parametrize("source", SOURCES)
@FAST
@given(document=JSON_VALUES)
def test_arbitrary_json_values(source, document):
    outcome(source, parse_document, document)
    outcome(source, parse, json.dumps(document).encode())


SEED_IDS = [f"{source}-{index}" for index, (source, _) in enumerate(SEEDS)]


@pytest.mark.parametrize("source, document", SEEDS, ids=SEED_IDS)
@settings(FAST, max_examples=150)
@given(data=st.data())
def test_mutated_real_payloads(source, document, data):
    mutated = data.draw(mutations(document))
    for each in (source, *(s for s in SOURCES if s != source)):  # its own parser, then the rest
        outcome(each, parse_document, mutated)


@pytest.mark.parametrize("source, document", SEEDS, ids=SEED_IDS)
def test_the_unmutated_seeds_parse(source, document):
    assert outcome(source, parse_document, document) is not None
