"""Where an alert goes: the integration's first matching route, and who hears about it. Pure.

Routes are tried in the plan's order and the first whose `match` holds wins; an alert no route
matches takes the integration's `default_route`. A route names a service (whose escalation
policy pages), a severity (fixed, or mapped from the source's own), a responder group to tell,
or "record only".

Who else hears about it (unless the route keeps the alert on record only): every group whose `receives` lists the alert's category (its
`category` label, compared in lower case), and every group with `receives: all`, except for
security events. A security event (category `security`) is need-to-know: it reaches only the
route's group and groups that list `security` themselves, never a group that merely receives
everything. So Tier 1 sees every operational alert, and security engineers see security
events, as the plan's groups say.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from bot.alerts.model import Alert
from bot.plan import Plan
from bot.plan_integrations import Integration, Route

SECURITY = "security"


@dataclass(frozen=True)
class Routed:
    """The decision for one alert."""

    route: str
    """Which route decided: `routes[1] (Field Service app)` or `default_route`."""
    record_only: bool
    service_id: str | None
    severity: str
    """A plan severity id."""
    severity_reason: str
    """Why this severity: `fixed by the route`, `critical -> sev1 (severity_map)`, ..."""
    groups: tuple[str, ...]
    """Groups told: the route's `notify_group` first, then subscribers (see module docstring)."""
    category: str | None


def route_alert(plan: Plan, integration: Integration, alert: Alert) -> Routed:
    """Decide where `alert` goes under `integration` (first matching route, else the default)."""
    chosen, name = integration.default_route, "default_route"
    for index, route in enumerate(integration.routes):
        if matches(route, alert.labels):
            chosen, name = route, f"routes[{index}]" + (f" ({route.name})" if route.name else "")
            break
    else:
        if integration.default_route.name:
            name = f"default_route ({integration.default_route.name})"
    severity, reason = _severity(plan, integration, chosen, alert)
    category = (alert.labels.get("category") or "").strip().lower() or None
    return Routed(route=name, record_only=chosen.record_only, service_id=None if chosen.record_only else chosen.service,
                  severity=severity, severity_reason=reason,
                  groups=_groups(plan, chosen, category), category=category)


def most_severe(plan: Plan, routed_alerts: list[tuple[Alert, Routed]]) -> tuple[Routed, Alert]:
    """A group's route: the most severe decision among its firing alerts (a group with one
    critical alert among warnings is as bad as the critical one); ties go to the sender's order.
    (decision, the alert it came from)."""
    rank = {severity.id: index for index, severity in enumerate(plan.severities)}
    candidates = [(routed, alert) for alert, routed in routed_alerts if alert.status == "firing"] \
        or [(routed, alert) for alert, routed in routed_alerts]
    return min(candidates, key=lambda decision: rank.get(decision[0].severity, len(rank)))


def matches(route: Route, labels: dict[str, str]) -> bool:
    """All of the route's exact labels and patterns hold (a pattern must match the whole value)."""
    condition = route.match
    if any(labels.get(key) != value for key, value in condition.labels.items()):
        return False
    return all(key in labels and re.fullmatch(pattern, labels[key]) is not None
               for key, pattern in condition.labels_re.items())


def _severity(plan: Plan, integration: Integration, route: Route, alert: Alert) -> tuple[str, str]:
    if route.severity:
        return route.severity, "fixed by the route"
    if alert.severity and alert.severity in route.severity_map:
        return route.severity_map[alert.severity], f"{alert.severity} -> {route.severity_map[alert.severity]} (severity_map)"
    if integration.default_severity:
        return integration.default_severity, "the integration's default_severity"
    least = plan.severities[-1].id
    said = f"`{alert.severity}` is not in the route's severity_map" if alert.severity else "the alert gave no severity"
    return least, f"{said}; the least severe"


def _groups(plan: Plan, route: Route, category: str | None) -> tuple[str, ...]:
    told: list[str] = [route.notify_group] if route.notify_group else []
    if route.record_only:  # kept for the record: only a group the route names explicitly hears of it
        return tuple(told)
    for group in plan.groups:
        if group.id in told:
            continue
        listed = group.receives != "all" and category is not None and category in {c.lower() for c in group.receives}
        everything = group.receives == "all" and category != SECURITY
        if listed or everything:
            told.append(group.id)
    return tuple(told)
