"""`python app.py alerts route test FILE --integration ID`: how a payload would be routed.

For an operator writing routes: it parses the file as the integration's source would be
parsed, routes each alert, and prints the decision (route, service, severity and why, who the
service's policy pages, which groups are told) without touching the database or anyone.
"""
from __future__ import annotations

from pathlib import Path

from bot.alerts.model import AlertPayloadInvalid
from bot.alerts.parse import parse
from bot.domain.alert_groups import group_identity
from bot.domain.alert_routing import most_severe, route_alert
from bot.plan import Plan


def route_test(plan: Plan, integration_id: str | None, path: Path) -> tuple[int, str]:
    """(exit status, text to print): 0 and the decisions, or 1 and what is wrong."""
    ids = [i.id for i in plan.integrations]
    if not integration_id:
        return 1, f"Say which integration: --integration ID (the plan has: {', '.join(ids) or 'none'})."
    integration = plan.integration(integration_id)
    if integration is None:
        return 1, f"Unknown integration `{integration_id}`. The plan has: {', '.join(ids) or 'none'}."
    try:
        body = path.read_bytes()
    except OSError as exc:
        return 1, f"Cannot read {path}: {exc.strerror or exc}."
    try:
        batch = parse(integration.source, body)
    except AlertPayloadInvalid as invalid:
        return 1, f"{path} is not a valid {integration.source} payload (HTTP {invalid.status}): {invalid}"
    lines = [f"{path}: {len(batch.alerts)} alert(s) from {integration.source}, integration `{integration.id}`"
             + (f"; {batch.truncated} more left out by the sender" if batch.truncated else "")]
    groups: dict[str, tuple[str, list]] = {}
    for alert in batch.alerts:
        routed = route_alert(plan, integration, alert)
        key, own = group_identity(integration, batch, alert, routed)
        groups.setdefault(key, (own, []))[1].append((alert, routed))
    for own, routed_alerts in groups.values():
        routed, _alert = most_severe(plan, routed_alerts)
        lines.append("")
        lines.append(f"Group `{own[:120]}`: {len(routed_alerts)} alert(s), one incident at most")
        lines.append(f"  route (its most severe alert's): {routed.route}")
        if routed.record_only:
            lines.append("  kept on record only: no incident, nobody paged")
        else:
            lines.append(f"  severity: {routed.severity} ({routed.severity_reason})")
            lines.append(f"  opens an incident{' for ' + routed.service_id if routed.service_id else ''}: "
                         + _paging(plan, routed.service_id, routed.severity))
        lines.append(f"  groups told: {', '.join(routed.groups) or 'none'}")
        for alert, alone in routed_alerts:
            lines.append(f"  - {alert.title} [{alert.status}] dedup key `{alert.dedup_key}`; on its own: "
                         f"{alone.route}, {alone.severity}")
    lines.append("")
    lines.append("Nothing was recorded and nobody was told: this is a dry run. Active silences are not applied.")
    return 0, "\n".join(lines)


def _paging(plan: Plan, service_id: str | None, severity: str) -> str:
    if not service_id:
        return "no service, so nobody is paged"
    service = plan.service(service_id)
    if not plan.severity(severity).page:
        return f"{severity} does not page (severities[].page)"
    if not service.escalation_policy:
        return "the service names no escalation policy, so nobody is paged"
    policy = plan.escalation_policy(service.escalation_policy)
    first = ", ".join(policy.levels[0].targets) if policy.levels else "nobody"
    return f"pages through `{policy.id}` (first: {first})"
