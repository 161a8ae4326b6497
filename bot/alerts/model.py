"""What every monitoring source's webhook becomes: a batch of normalised alerts. Pure data.

A parser (one module per source in `bot/alerts/`) turns a decoded JSON body into an
`AlertBatch` or raises `AlertPayloadInvalid`; nothing else may escape it, whatever the input
(the parsers are fuzzed). Everything downstream (routing, grouping, dedup, cards) reads only
these fields, so adding a source is adding a parser.

Identity, per source:
- `dedup_key`: one alert across resends and state changes (Alertmanager/Grafana `fingerprint`,
  Azure `essentials.alertId`, PagerDuty `dedup_key`, generic `id`).
- `group_key`: the alerts the sender groups together, which map to one incident
  (Alertmanager/Grafana `groupKey`; otherwise the dedup key, or the generic `group_key`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

FIRING = "firing"
RESOLVED = "resolved"
ACKNOWLEDGED = "acknowledged"  # PagerDuty Events v2 `acknowledge`; other sources never send it

Status = Literal["firing", "resolved", "acknowledged"]
Source = Literal["alertmanager", "azure_monitor", "grafana", "pagerduty", "generic"]
SOURCES: tuple[str, ...] = ("alertmanager", "azure_monitor", "grafana", "pagerduty", "generic")


class AlertPayloadInvalid(ValueError):
    """The body is not a valid payload of the integration's source. `status` is the HTTP status
    to answer (400 malformed, 422 well-formed but not what this integration takes); the message
    says what is wrong and how to fix it, for the sender's operator."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Link:
    """A link back to the source (only http/https ever reach a card; checked when rendering)."""

    title: str
    url: str


@dataclass(frozen=True)
class Alert:
    """One alert, as of this webhook.

    - `labels`: the routing and grouping facts, all str -> str. Prometheus/Grafana labels as
      sent; Azure essentials as `severity`, `signal_type`, `monitoring_service`,
      `alert_rule`, `resource_group`, `resource` (target resource ids' last segment),
      `subscription`, and `category` (activity log category, e.g. `Security`); PagerDuty
      `severity`, `source`, `component`, `group`, `class`, plus `custom_details` flattened
      when their values are scalars; generic `labels` as sent.
    - `severity`: the source's own severity, normalised to lower case (`critical`, `sev0`..
      `sev4`, `warning`, `info`, `error`), or None; the plan maps it.
    - `title`: one line (alertname + summary, Azure alertRule, PagerDuty summary).
    - `description`: longer text if the source has one (may be empty).
    - `starts_at` / `ends_at`: tz-aware UTC, or None when absent or the zero time.
    """

    dedup_key: str
    status: Status
    title: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    severity: str | None = None
    description: str = ""
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    links: tuple[Link, ...] = ()


@dataclass(frozen=True)
class AlertBatch:
    """Everything one webhook said.

    - `group_key`: the sender's group (None: each alert is its own group, keyed by dedup_key).
    - `group_labels`: the labels the group was formed on (Alertmanager `groupLabels`), used to
      name the incident.
    - `truncated`: alerts the sender left out (Alertmanager/Grafana `truncatedAlerts`).
    - `common_labels`: labels all alerts share (for routing a whole batch).
    - `external_url`: the sender's UI (Alertmanager `externalURL`), if any.
    """

    source: Source
    alerts: tuple[Alert, ...]
    group_key: str | None = None
    group_labels: dict[str, str] = field(default_factory=dict)
    common_labels: dict[str, str] = field(default_factory=dict)
    truncated: int = 0
    external_url: str | None = None
    title: str | None = None  # Grafana `title`, PagerDuty summary; a name for the group
