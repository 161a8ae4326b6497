"""Prometheus Alertmanager's webhook (`version: "4"`) as an `AlertBatch`.

Alertmanager sends a group's *current* alerts on every notification, not a delta, and a group
whose top-level `status` is `firing` may hold alerts that are already `resolved`: so each
alert keeps its own status and is identified by its `fingerprint`. Grafana's webhook contact
point uses the same envelope, so the readers here (`read_envelope`, `each_alert`,
`read_alert`) are shared with `bot/alerts/grafana.py`.

Alertmanager drops a notification on any 4xx, so we reject only what cannot be an alert and
bound the rest.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from bot.alerts import fields
from bot.alerts.fields import at, invalid, item, text
from bot.alerts.model import FIRING, RESOLVED, Alert, AlertBatch, Link, Source

VERSION = "4"
STATUSES = {"firing": FIRING, "resolved": RESOLVED}
TOO_MANY = (
    f"set `max_alerts: {fields.ALERTS_MAX}` (or fewer) on this webhook receiver; "
    "Alertmanager then reports the rest in `truncatedAlerts`"
)


@dataclass(frozen=True)
class Envelope:
    """The group-level fields Alertmanager and Grafana share."""

    group_key: str | None
    group_labels: dict[str, str] = field(default_factory=dict)
    common_labels: dict[str, str] = field(default_factory=dict)
    external_url: str | None = None
    truncated: int = 0
    status: str | None = None  # the group's; an alert without its own status takes it

    def batch(self, source: Source, alerts: list[Alert], *, title: str | None = None) -> AlertBatch:
        return AlertBatch(
            source=source,
            alerts=tuple(alerts),
            group_key=self.group_key,
            group_labels=self.group_labels,
            common_labels=self.common_labels,
            truncated=self.truncated,
            external_url=self.external_url,
            title=title,
        )


def parse_alertmanager(doc: dict) -> AlertBatch:
    check_version(
        doc,
        VERSION,
        integration="Alertmanager",
        others={"1": "this looks like Grafana's webhook contact point: send it to a Grafana "
                     "integration instead"},
    )
    envelope = read_envelope(doc)
    alerts = [read_alert(raw, path, group_status=envelope.status)
              for raw, path in each_alert(doc, too_many=TOO_MANY)]
    return envelope.batch("alertmanager", alerts)


def check_version(doc: dict, expected: str, *, integration: str, others: dict[str, str]) -> None:
    """A `version` other than `expected` is another sender's payload (422); a missing one is
    taken as `expected`, for hand-written senders."""
    version = text(doc, "version", path="")
    if version is None or version.strip() in ("", expected):
        return
    fix = others.get(version.strip(), f"send the {integration} webhook payload, version {expected}")
    raise invalid(
        "version",
        f"is {fields.shown(version)}, and this {integration} integration takes version {expected}",
        fix,
        status=422,
    )


def read_envelope(doc: dict) -> Envelope:
    group_key = text(doc, "groupKey", path="")
    external_url = text(doc, "externalURL", path="")
    return Envelope(
        group_key=fields.bounded_key(group_key) if group_key and group_key.strip() else None,
        group_labels=fields.string_map(doc, "groupLabels", path=""),
        common_labels=fields.string_map(doc, "commonLabels", path=""),
        external_url=external_url.strip() if _usable_url(external_url) else None,
        truncated=fields.count(doc, "truncatedAlerts", path=""),
        status=fields.choice(doc, "status", STATUSES, path=""),
    )


def each_alert(doc: dict, *, too_many: str) -> Iterator[tuple[dict, str]]:
    """Each entry of `alerts` with its path, checked to be an object."""
    for index, raw in enumerate(fields.alert_list(doc, "alerts", path="", too_many=too_many)):
        path = item("alerts", index)
        yield fields.obj(raw, path), path


def read_alert(raw: dict, path: str, *, group_status: str | None) -> Alert:
    labels = fields.string_map(raw, "labels", path=path)
    annotations = fields.string_map(
        raw, "annotations", path=path, value_max=fields.ANNOTATION_VALUE_MAX
    )
    status = fields.choice(raw, "status", STATUSES, path=path) or group_status
    if status is None:
        raise invalid(at(path, "status"), "is missing", 'send "firing" or "resolved"')
    links: list[Link] = []
    fields.add_link(links, "Source", text(raw, "generatorURL", path=path))
    fields.add_link(links, "Runbook", annotations.get("runbook_url"))
    fields.add_link(links, "Dashboard", annotations.get("dashboard_url"))
    dedup_key = alert_identity(text(raw, "fingerprint", path=path), labels)
    return Alert(
        dedup_key=dedup_key,
        status=status,  # type: ignore[arg-type]  # one of STATUSES' values
        title=alert_title(labels, annotations, fallback=dedup_key),
        labels=labels,
        annotations=annotations,
        severity=fields.severity(labels.get("severity")),
        description=annotations.get("description", ""),
        starts_at=fields.timestamp(raw, "startsAt", path=path),
        ends_at=fields.timestamp(raw, "endsAt", path=path),
        links=tuple(links),
    )


def alert_identity(fingerprint: str | None, labels: dict[str, str]) -> str:
    """The sender's fingerprint, or (without one) a sha256 of the sorted labels: Alertmanager's
    own fingerprint is a hash of the label set too, so the identity means the same thing."""
    if fingerprint and fingerprint.strip():
        return fields.bounded_key(fingerprint.strip())
    return fields.stable_key(*(part for pair in sorted(labels.items()) for part in pair))


def alert_title(labels: dict[str, str], annotations: dict[str, str], *, fallback: str) -> str:
    """`alertname: summary`, either alone when the other is missing."""
    name = labels.get("alertname", "").strip()
    summary = annotations.get("summary", "").strip()
    title = f"{name}: {summary}" if name and summary else name or summary
    return fields.one_line(title or fallback)


def _usable_url(url: str | None) -> bool:
    return bool(url and url.strip()) and len(url or "") <= fields.URL_MAX
