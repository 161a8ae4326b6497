"""Firebreak's generic JSON alert format, for senders with no integration of their own (a
script, a cron job, a tool that can POST JSON). Documented in docs/alerts.md, "Generic JSON
format"; keep the two in step.

Either a batch, `{"alerts": [...], "group_key": "...", "title": "..."}`, or one alert object
at the top level (no `alerts` key), which is a batch of one. Only an alert's `id` is required:
it is the dedup key, so a resend or a `resolved` with the same `id` lands on the same alert.
"""
from __future__ import annotations

from bot.alerts import fields
from bot.alerts.fields import text
from bot.alerts.model import FIRING, RESOLVED, Alert, AlertBatch, Link

STATUSES = {"firing": FIRING, "resolved": RESOLVED}
TOO_MANY = f"send at most {fields.ALERTS_MAX} alerts per request, in several requests if need be"


def parse_generic(doc: dict) -> AlertBatch:
    if "alerts" in doc:
        entries = fields.alert_list(doc, "alerts", path="", too_many=TOO_MANY)
        alerts = []
        for index, raw in enumerate(entries):
            path = fields.item("alerts", index)
            alerts.append(read_alert(fields.obj(raw, path), path))
        title = fields.one_line(text(doc, "title", path="") or "") or None
    else:
        alerts = [read_alert(doc, "")]
        title = None  # the top-level `title` is the alert's
    group_key = (text(doc, "group_key", path="") or "").strip()
    return AlertBatch(
        source="generic",
        alerts=tuple(alerts),
        group_key=fields.bounded_key(group_key) if group_key else None,
        title=title,
    )


def read_alert(raw: dict, path: str) -> Alert:
    alert_id = text(
        raw, "id", path=path, required=True,
        fix='send a string that names this alert across resends, such as "disk-full/db-1"',
    ) or ""
    title = text(raw, "title", path=path) or ""
    status = fields.choice(raw, "status", STATUSES, path=path) or FIRING
    return Alert(
        dedup_key=fields.bounded_key(alert_id.strip()),
        status=status,  # type: ignore[arg-type]  # one of STATUSES' values
        title=fields.one_line(title) or fields.one_line(alert_id),
        labels=fields.string_map(raw, "labels", path=path),
        annotations=fields.string_map(
            raw, "annotations", path=path, value_max=fields.ANNOTATION_VALUE_MAX
        ),
        severity=fields.severity(text(raw, "severity", path=path)),
        description=text(raw, "description", path=path, max_len=fields.DESCRIPTION_MAX) or "",
        starts_at=fields.timestamp(raw, "starts_at", path=path),
        ends_at=fields.timestamp(raw, "ends_at", path=path),
        links=read_links(raw, path),
    )


def read_links(raw: dict, path: str) -> tuple[Link, ...]:
    links: list[Link] = []
    where = fields.at(path, "links")
    for index, entry in enumerate(fields.array(raw, "links", path=path)):
        entry_path = fields.item(where, index)
        entry = fields.obj(entry, entry_path)
        url = text(entry, "url", path=entry_path, required=True, fix="send the link's https URL")
        fields.add_link(links, text(entry, "title", path=entry_path), url)
    return tuple(links)
