"""Grafana alerting's webhook contact point as an `AlertBatch`.

Grafana sends Alertmanager's envelope (`version: "1"`, `groupKey`, `truncatedAlerts`, per-alert
`fingerprint` and `status`) plus its own fields, so this module reads the envelope with
`bot/alerts/alertmanager.py` and adds only what Grafana has on top: the batch title, the
evaluated `values` and `valueString`, and the dashboard, panel and silence links. Grafana's
group `state` (`alerting`, `ok`, `no_data`, `pending`) is not read: each alert's own `status`
(`firing`/`resolved`) is what counts, as for Alertmanager. Grafana does not retry a failed
send, so nothing here is stricter than it must be.
"""
from __future__ import annotations

from dataclasses import replace

from bot.alerts import fields
from bot.alerts.alertmanager import check_version, each_alert, read_alert, read_envelope
from bot.alerts.fields import text
from bot.alerts.model import Alert, AlertBatch

VERSION = "1"
TOO_MANY = (
    f"set \"Max alerts\" on the webhook contact point to {fields.ALERTS_MAX} or fewer; "
    "Grafana then reports the rest in `truncatedAlerts`"
)


def parse_grafana(doc: dict) -> AlertBatch:
    check_version(
        doc,
        VERSION,
        integration="Grafana",
        others={"4": "this looks like Prometheus Alertmanager's webhook: send it to an "
                     "Alertmanager integration instead"},
    )
    envelope = read_envelope(doc)
    alerts = [
        with_grafana_fields(read_alert(raw, path, group_status=envelope.status), raw, path)
        for raw, path in each_alert(doc, too_many=TOO_MANY)
    ]
    title = fields.one_line(text(doc, "title", path="") or "")
    return envelope.batch("grafana", alerts, title=title or None)


def with_grafana_fields(alert: Alert, raw: dict, path: str) -> Alert:
    """`alert` plus Grafana's per-alert extras. The sender's own annotations win over the
    `values`/`valueString` copies."""
    annotations = dict(alert.annotations)
    value_string = text(raw, "valueString", path=path)
    if value_string:
        fields.put(annotations, "valueString", value_string,
                   value_max=fields.ANNOTATION_VALUE_MAX, overwrite=False)
    values = fields.member(raw, "values", path)
    if values:
        fields.put(annotations, "values", fields.compact_json(values), overwrite=False)
    links = list(alert.links)
    fields.add_link(links, "Dashboard", text(raw, "dashboardURL", path=path))
    fields.add_link(links, "Panel", text(raw, "panelURL", path=path))
    fields.add_link(links, "Silence", text(raw, "silenceURL", path=path))
    return replace(alert, annotations=annotations, links=tuple(links))
