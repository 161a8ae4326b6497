"""Monitoring integrations in the response plan: who may post alerts, and where they go.

Each integration is one URL, `POST /api/alerts/{id}`, for one source (Alertmanager, Azure
Monitor, Grafana, PagerDuty Events v2, or the documented generic JSON). Its `auth` names where
the secret lives (an environment variable or a file), never the secret itself; two may be
listed at once, so a secret is rotated without dropping alerts. Its `routes` decide, first
match wins, what an alert means: a service (and so its escalation policy and space), a severity,
a responder group to tell, or "record only". What matches nothing takes `default_route`.
"""
from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, WithJsonSchema, field_validator, model_validator

from bot.durations import Duration, parse_duration
from bot.plan_fields import FieldProblem, Slug, Text

SOURCES = ("alertmanager", "azure_monitor", "grafana", "pagerduty", "generic")
AUTH_TYPES = ("bearer", "basic", "hmac", "token_query", "routing_key")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


def _names(value: object) -> tuple[str, ...]:
    """One name or a list of up to two (the new secret first, then the one being retired)."""
    names = (value,) if isinstance(value, str) else tuple(value or ())
    if len(names) > 2:
        raise FieldProblem(f"{len(names)} secrets are listed", fix="list at most two: the new one, then the old one")
    return names


SecretNames = Annotated[
    tuple[str, ...],
    BeforeValidator(_names),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "maxItems": 2}],
                    "description": "One name, or [NEW, OLD] while rotating"}),
]


class IntegrationAuth(_Frozen):
    """How a sender proves it may post to this integration (checked before the body is read).

    - `bearer`: `Authorization: Bearer <secret>`.
    - `basic`: `Authorization: Basic` with `username` and the secret as password.
    - `hmac`: hex SHA-256 HMAC of `<timestamp>.<body>` in `signature_header` (as
      `sha256=<hex>` or bare hex), the Unix time in `timestamp_header`, at most `window` old or
      ahead. Grafana's webhook signing (`<timestamp>:<body>`, bare hex) is accepted too: set
      both header names here and the same names in Grafana's contact point (Grafana signs
      without a timestamp unless its timestamp header is set, and that is refused: the window
      is what stops a replay).
    - `token_query`: `?token=<secret>` in the URL (Azure Monitor action groups cannot set
      headers).
    - `routing_key`: the PagerDuty Events v2 body field `routing_key` (the only kind read from
      the body, because that is where PagerDuty senders put it).
    """

    type: Literal["bearer", "basic", "hmac", "token_query", "routing_key"]
    secret_env: SecretNames = ()
    """Environment variable(s) holding the secret: one name, or [NEW, OLD] while rotating."""
    secret_file: SecretNames = ()
    """File(s) holding the secret (trailing whitespace ignored), instead of `secret_env`."""
    username: str | None = None
    """`basic` only: the user name the sender presents."""
    signature_header: str = "X-Firebreak-Signature"
    """`hmac` only: the header carrying `sha256=<hex>` (Grafana's webhook signing can set its own)."""
    timestamp_header: str = "X-Firebreak-Timestamp"
    """`hmac` only: the header carrying the Unix time the sender signed at."""
    window: Duration = parse_duration("5m")
    """`hmac` only: how far the timestamp may be from now, either way."""

    @model_validator(mode="after")
    def _has_a_secret(self) -> IntegrationAuth:
        if bool(self.secret_env) == bool(self.secret_file):
            raise FieldProblem("the secret's place is missing or given twice",
                               fix="give exactly one of secret_env (a variable name) or secret_file (a path)")
        if self.type == "basic" and not self.username:
            raise FieldProblem("basic authentication needs a username", fix="add `username:` (the secret is the password)")
        return self


class RouteMatch(_Frozen):
    """Conditions on an alert's labels (Azure essentials are labels too: `signal_type`,
    `monitoring_service`, `resource_group`, `severity`, `category`, ...). All must hold."""

    labels: dict[str, str] = {}
    """Exact values: `{service: checkout, severity: critical}`."""
    labels_re: dict[str, str] = {}
    """Regular expressions matched against the whole value: `{instance: "web-.*"}`."""

    @field_validator("labels_re")
    @classmethod
    def _compiles(cls, value: dict[str, str]) -> dict[str, str]:
        for label, pattern in value.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise FieldProblem(f"the pattern for `{label}` is not a regular expression ({exc})",
                                   fix="write a Python regular expression, e.g. \"web-[0-9]+\"") from None
        return value


class Route(_Frozen):
    """Where matching alerts go. `record_only` keeps them on record without an incident."""

    match: RouteMatch = RouteMatch()
    """Empty: matches everything (use as the last route)."""
    service: Slug | None = None
    """A service id: its escalation policy pages, its space rules apply."""
    severity: Slug | None = None
    """The incident's severity, whatever the source said."""
    severity_map: dict[str, Slug] = {}
    """The source's severity (lower case: `critical`, `sev0`, `warning`...) -> a plan severity.
    Used when `severity` is not set."""
    notify_group: Slug | None = None
    """A responder group told about the alert in addition to who is paged."""
    record_only: bool = False
    """Keep the alert on record (and in `alerts`), open no incident, page nobody."""
    name: Text | None = None
    """Shown by `alerts route test` and on the timeline; defaults to the route's position."""


class Integration(_Frozen):
    """One monitoring sender: `POST /api/alerts/{id}`."""

    id: Slug
    name: Text
    source: Literal["alertmanager", "azure_monitor", "grafana", "pagerduty", "generic"]
    auth: IntegrationAuth
    routes: tuple[Route, ...] = ()
    """Tried in order; the first whose `match` holds wins."""
    default_route: Route = Route(record_only=True, name="default: record only")
    """For alerts no route matches."""
    default_severity: Slug | None = None
    """The severity when neither the route nor its map gives one (default: the least severe)."""
    auto_resolve: bool = False
    """Resolve the incident when every alert of its group has resolved (otherwise the incident
    manager is told and decides)."""
    flapping_changes: int = 4
    """An alert that changes state this many times within `flapping_window` is flapping: it is
    summarised on the timeline, and never pages again while it flaps."""
    flapping_window: Duration = parse_duration("1h")


def check_integration_refs(data: object) -> list:
    """Integration ids are unique; routes name services, severities and groups of the plan."""
    from bot.plan_checks import PlanProblem, _check_unique, _ids, _items, did_you_mean, known_list

    problems = _check_unique(data, "integrations", "integration")
    known = {"service": _ids(data, "services"), "severity": _ids(data, "severities"), "group": _ids(data, "groups")}
    sections = {"service": "services", "severity": "severities", "group": "groups"}

    def check(path: str, kind: str, value: object) -> None:
        if isinstance(value, str) and value not in known[kind]:
            problems.append(PlanProblem(path, f"unknown {kind} `{value}`{did_you_mean(value, known[kind])}",
                                        f"use the id of one under `{sections[kind]}` "
                                        f"({known_list(known[kind], kind=sections[kind])})"))

    def check_route(path: str, route: object) -> None:
        if not isinstance(route, dict):
            return
        check(f"{path}.service", "service", route.get("service"))
        check(f"{path}.severity", "severity", route.get("severity"))
        check(f"{path}.notify_group", "group", route.get("notify_group"))
        severity_map = route.get("severity_map")
        if isinstance(severity_map, dict):
            for source_severity, severity in severity_map.items():
                check(f"{path}.severity_map.{source_severity}", "severity", severity)

    for i, integration in _items(data, "integrations"):
        for r, route in _items(integration, "routes"):
            check_route(f"integrations[{i}].routes[{r}]", route)
        check_route(f"integrations[{i}].default_route", integration.get("default_route"))
        check(f"integrations[{i}].default_severity", "severity", integration.get("default_severity"))
    return problems
