"""Which group an alert belongs to, and that group's row: found, reopened or created.

A group is what the sender groups (Alertmanager's and Grafana's `groupKey`, a generic batch's
`group_key`). PagerDuty events group by their `dedup_key`, as PagerDuty itself does. Azure
alerts and generic alerts without a group key come one by one, so they are grouped by where
they go: alerts of one route and service are one group, and so one incident, while it is open
(an outage that fires fifty alert rules pages once, not fifty times).
"""
from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.alerts.model import Alert, AlertBatch
from bot.domain.alert_routing import Routed
from bot.plan_integrations import Integration
from storage import alert_store as store
from storage import queries
from storage.alerts import OPEN, AlertGroup


def group_identity(integration: Integration, batch: AlertBatch, alert: Alert, routed: Routed) -> tuple[str, str]:
    """(hashed key, a readable identity) of the group `alert` belongs to."""
    if batch.group_key:
        own = batch.group_key
    elif integration.source == "pagerduty":
        own = alert.dedup_key
    else:
        own = f"route {routed.route}, service {routed.service_id or '-'}"
    material = f"{integration.source}\n{integration.id}\n{own}"
    return hashlib.sha256(material.encode("utf-8")).hexdigest(), own


async def group_for(session: AsyncSession, *, integration: Integration, key: str, own: str, title: str,
                    routed: Routed, labels: dict[str, str], now: datetime) -> tuple[AlertGroup, AlertGroup | None]:
    """(the group for these alerts, the group it follows if new).

    - The open group of the key, unless its incident was resolved meanwhile: then that group
      closes, and the alerts start a new group (and incident) that follows it.
    - Else the latest group of the key again, if its incident is still open (alerts that
      resolve and fire again while people work on it stay one incident; flapping is counted,
      not paged) or it never had one.
    - Else a new group following the latest one.
    While a group has no incident its route follows the latest alerts (a warning kept on record
    may be followed by a critical that pages)."""
    group = await store.open_group(session, integration_id=integration.id, group_key=key)
    previous = None
    if group is not None:
        if not await _incident_resolved(session, group):
            return _rerouted(group, routed), None
        group.status, group.resolved_at = store.RESOLVED, now
        await session.flush()
        previous = group
    else:
        latest = await store.latest_group(session, integration_id=integration.id, group_key=key, lock=True)
        if latest is not None and latest.status == OPEN:  # a racing webhook reopened it just now
            return _rerouted(latest, routed), None
        if latest is not None and not await _incident_resolved(session, latest):
            reopened, _created = await store.reopen_group(session, latest)
            return _rerouted(reopened, routed), None
        previous = latest
    created_group, created = await store.create_group(
        session, integration_id=integration.id, group_key=key, source_group_key=own, title=title, route=routed.route,
        record_only=routed.record_only, service_id=routed.service_id, severity=routed.severity, labels=labels, now=now)
    return (created_group, previous) if created else (_rerouted(created_group, routed), None)


async def _incident_resolved(session: AsyncSession, group: AlertGroup) -> bool:
    if group.incident_id is None:
        return False
    incident = await queries.get_incident(session, group.incident_id)
    return incident is None or incident.status == "resolved"


def _rerouted(group: AlertGroup, routed: Routed) -> AlertGroup:
    if group.incident_id is None:
        group.route, group.record_only = routed.route, routed.record_only
        group.service_id, group.severity = routed.service_id, routed.severity
    return group
