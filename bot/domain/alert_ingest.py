"""Alerts in: dedup, grouping, the incident a group opens, and what happens when it resolves.

One webhook is one transaction (the HTTP layer answers 2xx only after it commits):

1. The body is kept as received (`alert_payload`).
2. Its alerts are split into groups (`bot.domain.alert_groups`: the sender's own groups, or
   route and service). A group key maps to at most one open `alert_group`; the partial unique
   index makes two racing webhooks for one group end in one group (the loser attaches).
   Text from the alert is made inert once, here (`formatting.inert_text`).
3. Each alert is kept once per group by its dedup key: a resend or repeat only refreshes it.
   A state change is recorded; an alert changing state `flapping_changes` times within
   `flapping_window` is flapping, summarised once on the timeline and never pages again.
4. A new group whose route opens incidents, with a firing alert that no silence covers,
   declares one incident (severity and service from the route of its most severe alert), which
   pages through the service's escalation policy like any declare. Later webhooks for the
   group attach to that incident and page nobody. Once the incident is resolved, a new firing
   of the key opens a new incident that says which incident it follows. Silences are applied
   to every webhook: an alert stays muted only while a silence covers it.
5. When every alert of a group has resolved, the group is resolved, the incident's manager is
   told in its space, and the incident is resolved only if the integration says `auto_resolve`.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.alerts.model import ACKNOWLEDGED, FIRING, RESOLVED, Alert, AlertBatch
from bot.domain import alert_incidents as effects
from bot.domain.alert_groups import group_for, group_identity
from bot.domain.alert_routing import Routed, most_severe, route_alert
from bot.domain.formatting import inert_text
from bot.plan import Plan
from bot.plan_integrations import Integration
from storage import alert_store as store
from storage.alerts import AlertRecord

TITLE_MAX = 200


@dataclass
class GroupOutcome:
    """What one webhook did to one group (for the HTTP answer, metrics and tests)."""

    group_id: int
    incident_id: int | None
    opened_incident: bool = False
    new: int = 0
    changed: int = 0
    repeated: int = 0
    silenced: int = 0
    resolved_group: bool = False
    flapping: bool = False


@dataclass
class IngestResult:
    payload_id: int
    groups: list[GroupOutcome] = field(default_factory=list)


async def ingest(session: AsyncSession, *, plan: Plan, integration: Integration, batch: AlertBatch, body: str,
                 now: datetime) -> IngestResult:
    """Record one webhook's alerts and act on them (see the module docstring)."""
    payload_id = await store.add_payload(session, integration_id=integration.id, body=body, now=now)
    result = IngestResult(payload_id=payload_id)
    groups: dict[str, tuple[str, list[tuple[Alert, Routed]]]] = {}
    for raw in batch.alerts:
        alert = replace(raw, title=inert_text(raw.title, limit=300))
        routed = route_alert(plan, integration, alert)
        key, own = group_identity(integration, batch, alert, routed)
        groups.setdefault(key, (inert_text(own, limit=500), []))[1].append((alert, routed))
    silences = await store.active_silences(session, now=now)
    for key in sorted(groups):  # one lock order for every webhook: no deadlock between two of them
        own, routed_alerts = groups[key]
        result.groups.append(await _ingest_group(session, plan=plan, integration=integration, batch=batch, key=key,
                                                 own=own, routed_alerts=routed_alerts, silences=silences,
                                                 payload_id=payload_id, now=now))
    return result


async def _ingest_group(session: AsyncSession, *, plan: Plan, integration: Integration, batch: AlertBatch, key: str,
                        own: str, routed_alerts: list[tuple[Alert, Routed]], silences: Sequence, payload_id: int,
                        now: datetime) -> GroupOutcome:
    alerts = [alert for alert, _routed in routed_alerts]
    routed, representative = most_severe(plan, routed_alerts)
    group, previous = await group_for(session, integration=integration, key=key, own=own,
                                      title=_title(batch, representative), routed=routed,
                                      labels=batch.group_labels or representative.labels, now=now)
    group.last_seen_at = now
    group.truncated = max(group.truncated, batch.truncated)
    outcome = GroupOutcome(group_id=group.id, incident_id=group.incident_id)
    existing = {a.dedup_key: a for a in await store.alerts_of(session, group.id)}
    # a key that fires again after its incident resolved keeps its history of state changes
    history = {a.dedup_key: a.changes_json for a in await store.alerts_of(session, previous.id)} if previous else {}
    muting = {i for i in (group.incident_id, previous.incident_id if previous else None) if i is not None}
    became_flapping: list[AlertRecord] = []
    for alert in alerts:
        silence = _silence_for(silences, alert, muting)
        row = existing.get(alert.dedup_key)
        if row is None:
            row = store.new_alert(group_id=group.id, alert=alert, now=now, payload_id=payload_id, silenced_by=None)
            if alert.dedup_key in history and store.carry_changes(
                    row, history[alert.dedup_key], now=now, window=integration.flapping_window,
                    flapping_at=integration.flapping_changes):
                became_flapping.append(row)
            session.add(row)
            existing[alert.dedup_key] = row
            outcome.new += 1
        elif row.status != alert.status:
            if store.change_alert(row, alert, now=now, payload_id=payload_id, window=integration.flapping_window,
                                  flapping_at=integration.flapping_changes):
                became_flapping.append(row)
            outcome.changed += 1
        else:
            store.refresh_alert(row, alert, now=now)
            outcome.repeated += 1
        row.silenced_by = silence.id if silence is not None else None  # only while a silence covers it
        if silence is not None and alert.status == FIRING:
            outcome.silenced += 1
    await session.flush()
    rows = list(existing.values())
    if group.incident_id is None and not group.record_only and any(
            r.status == FIRING and r.silenced_by is None for r in rows):
        flapping = any(store.is_flapping(r, now=now, window=integration.flapping_window,
                                         flapping_at=integration.flapping_changes) for r in rows)
        await effects.open_incident(session, plan=plan, group=group, previous=previous, severity=group.severity,
                                    category=routed.category, payload_id=payload_id, flapping=flapping, now=now)
        await effects.tell_groups(session, plan=plan, group=group, groups=routed.groups, now=now)
        outcome.opened_incident = True
    elif group.incident_id is not None and (outcome.new or outcome.changed):
        await effects.note_changes(session, group=group, new=outcome.new, changed=outcome.changed, rows=rows,
                                   payload_id=payload_id, now=now)
    if group.incident_id is not None and any(a.status == ACKNOWLEDGED for a in alerts) \
            and not any(r.status == FIRING for r in rows):
        await effects.acknowledge(session, plan=plan, group=group, integration=integration, now=now)
    if became_flapping and (group.flapping_since is None or now - group.flapping_since >= integration.flapping_window):
        group.flapping_since = now
        outcome.flapping = True
        if group.incident_id is not None:
            await effects.note_flapping(session, group=group, integration=integration, rows=became_flapping, now=now)
    # a truncated webhook did not show every alert: the ones left out may still fire
    if rows and batch.truncated == 0 and all(r.status == RESOLVED for r in rows):
        await effects.resolve_group(session, plan=plan, integration=integration, group=group, count=len(rows), now=now)
        outcome.resolved_group = True
    outcome.incident_id = group.incident_id
    return outcome


def _title(batch: AlertBatch, alert: Alert) -> str:
    title = batch.title or alert.title or ", ".join(f"{k}={v}" for k, v in sorted(batch.group_labels.items()))
    return inert_text(title or "Alert", limit=TITLE_MAX)


def _silence_for(silences: Sequence, alert: Alert, incident_ids: set[int]):
    """The silence covering `alert`: one whose label matchers all hold, or one without matchers
    made in the space of the incident this group belongs (or belonged) to."""
    for silence in silences:
        matchers = json.loads(silence.matchers_json)
        if not matchers:
            if silence.incident_id in incident_ids:
                return silence
            continue
        if all(alert.labels.get(k) == v for k, v in matchers.items()):
            return silence
    return None
