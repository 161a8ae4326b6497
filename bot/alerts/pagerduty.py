"""A PagerDuty Events API v2 event (`trigger`, `acknowledge`, `resolve`) as an `AlertBatch` of
one alert.

Tools that can page PagerDuty can point the same event at Firebreak. We validate as PagerDuty
does, with its own wording (`'event_action' is missing or invalid`), so a sender's operator
sees the message they would have seen from PagerDuty, plus how to fix it. `routing_key` is not
read here: the integration's authentication checks it.
"""
from __future__ import annotations

from datetime import datetime

from bot.alerts import fields
from bot.alerts.fields import invalid, scalar_text, text
from bot.alerts.model import (
    ACKNOWLEDGED,
    FIRING,
    RESOLVED,
    Alert,
    AlertBatch,
    AlertPayloadInvalid,
    Link,
)

ACTIONS = {"trigger": FIRING, "acknowledge": ACKNOWLEDGED, "resolve": RESOLVED}
SEVERITIES = ("critical", "error", "warning", "info")
SUMMARY_MAX = 1_024  # PagerDuty's own limit on payload.summary
DEDUP_KEY_MAX = 255  # PagerDuty's own limit on dedup_key


def parse_pagerduty(doc: dict) -> AlertBatch:
    action = doc.get("event_action")
    status = ACTIONS.get(action.strip().lower()) if isinstance(action, str) else None
    if status is None:
        raise invalid(
            "event_action", "'event_action' is missing or invalid",
            'send "trigger", "acknowledge" or "resolve"',
        )
    dedup_key = read_dedup_key(doc, required=status != FIRING)
    links = tuple(read_links(doc))
    if dedup_key is not None and status != FIRING:
        # Only a trigger's payload is read: the others just change the state of an alert.
        alert = Alert(dedup_key=dedup_key, status=status,  # type: ignore[arg-type]
                      title=fields.one_line(dedup_key), links=links)
        return AlertBatch(source="pagerduty", alerts=(alert,), group_key=dedup_key)

    payload = doc.get("payload")
    if not isinstance(payload, dict):
        raise invalid("payload", "'payload' is missing or invalid",
                      "send an object with summary, source and severity")
    summary = required(payload, "summary", max_len=SUMMARY_MAX)
    source = required(payload, "source", max_len=fields.LABEL_VALUE_MAX)
    severity = payload.get("severity")
    severity = severity.strip().lower() if isinstance(severity, str) else None
    if severity not in SEVERITIES:
        raise invalid("payload.severity", "'payload.severity' is missing or invalid",
                      "send critical, error, warning or info")
    labels = {"severity": severity, "source": source}
    for key in ("component", "group", "class"):
        value = text(payload, key, path="payload")
        if value is not None and value.strip():
            fields.put(labels, key, value)
    annotations: dict[str, str] = {}
    add_details(payload.get("custom_details"), labels, annotations)
    dedup_key = dedup_key or fields.stable_key(summary, source, severity)
    title = fields.one_line(summary)
    alert = Alert(
        dedup_key=dedup_key,
        status=FIRING,
        title=title,
        labels=labels,
        annotations=annotations,
        severity=severity,
        description=summary if summary != title else "",  # cut, or on several lines
        starts_at=timestamp(payload),
        links=links,
    )
    return AlertBatch(source="pagerduty", alerts=(alert,), group_key=dedup_key, title=title)


def read_dedup_key(doc: dict, *, required: bool) -> str | None:
    """`dedup_key`, required to acknowledge or resolve. A trigger without one gets a stable key
    from its summary, source and severity: PagerDuty itself generates a key in that case and
    returns it, which we cannot do for a sender that never reads our answer, so a resend of
    the same event must land on the same alert."""
    value = doc.get("dedup_key")
    if value is not None and not isinstance(value, str):
        raise invalid("dedup_key", "'dedup_key' is invalid", "send a string")
    if value is None or not value.strip():
        if required:
            raise invalid("dedup_key", "'dedup_key' is missing or blank",
                          "send the dedup_key of the event that triggered the alert")
        return None
    if len(value) > DEDUP_KEY_MAX:
        raise invalid("dedup_key", f"'dedup_key' is too long (max {DEDUP_KEY_MAX} characters)",
                      "send a shorter key")
    return fields.bounded_key(value)


def required(payload: dict, key: str, *, max_len: int) -> str:
    """A required payload string, cut to `max_len` rather than refused: the rest of the event
    is still worth having."""
    value = payload.get(key)
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"payload.{key}", f"'payload.{key}' is missing or blank",
                      f"send payload.{key} as a non-empty string")
    return fields.clip(value, max_len)


def timestamp(payload: dict) -> datetime | None:
    try:
        return fields.timestamp(payload, "timestamp", path="payload")
    except AlertPayloadInvalid:
        raise invalid("payload.timestamp", "'payload.timestamp' is invalid",
                      f"send an ISO 8601 time such as {fields.TIMESTAMP_EXAMPLE}") from None


def add_details(
    custom_details: object, labels: dict[str, str], annotations: dict[str, str]
) -> None:
    """`custom_details` scalars become labels (as text, so they can route) unless the event's
    own fields took the name; nested values become annotations as compact JSON. A non-object
    is kept whole as the `custom_details` annotation."""
    if custom_details is None:
        return
    if not isinstance(custom_details, dict):
        shown = scalar_text(custom_details)
        note = shown if shown is not None else fields.compact_json(custom_details)
        fields.put(annotations, "custom_details", note, value_max=fields.ANNOTATION_VALUE_MAX)
        return
    for key, value in custom_details.items():
        shown = scalar_text(value)
        if shown is not None:
            fields.put(labels, key, shown, overwrite=False)
        elif value is not None:
            fields.put(annotations, key, fields.compact_json(value))


def read_links(doc: dict) -> list[Link]:
    """`links: [{href, text}]` and `client`/`client_url`; `images` are not read."""
    links: list[Link] = []
    for index, entry in enumerate(fields.array(doc, "links", path="")):
        path = fields.item("links", index)
        entry = fields.obj(entry, path)
        fields.add_link(links, text(entry, "text", path=path), text(entry, "href", path=path))
    client = text(doc, "client", path="")
    fields.add_link(links, client or "Client", text(doc, "client_url", path=""))
    return links
