"""Alerts in: dedup, grouping, the incident a group opens, and what happens when it resolves.

One webhook is one transaction (the HTTP layer answers 2xx only after it commits):

1. The body is kept as received (`alert_payload`).
2. Its alerts are split into the sender's groups. A group key (source + integration + the
   sender's group identity) maps to at most one open `alert_group`; the partial unique index
   makes two racing webhooks for one group end in one group (the loser attaches).
3. Each alert is kept once per group by its dedup key: a resend or repeat only refreshes it.
   A state change is recorded; an alert changing state `flapping_changes` times within
   `flapping_window` is flapping, summarised once on the timeline and never pages again.
4. A new group whose route opens incidents, with a firing alert that no silence covers,
   declares one incident (severity and service from the route), which pages through the
   service's escalation policy like any declare. Later webhooks for the group attach to that
   incident and page nobody. A group of the same key that resolved earlier is linked: the new
   incident says which incident it follows.
5. When every alert of a group has resolved, the group is resolved, the incident's manager is
   told in its space, and the incident is resolved only if the integration says `auto_resolve`.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.alerts.model import ACKNOWLEDGED, FIRING, RESOLVED, Alert, AlertBatch
from bot.domain import conversations, incidents, paging, spaces
from bot.domain.direct_messages import send_direct
from bot.domain.alert_routing import route_alert
from bot.domain.formatting import incident_ref
from bot.domain.model import SYSTEM_ACTOR, Actor, Source
from bot.domain.timeline import Kind, record
from bot.plan import Plan
from bot.plan_integrations import Integration
from storage import alert_store as store
from storage import outbox, queries
from storage import paging as paging_store
from storage.alerts import AlertGroup, AlertRecord

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


def group_key(integration: Integration, batch: AlertBatch, alert: Alert) -> tuple[str, str]:
    """(hashed key, the sender's own identity) of the group `alert` belongs to."""
    own = batch.group_key or alert.dedup_key
    material = f"{integration.source}\n{integration.id}\n{own}"
    return hashlib.sha256(material.encode("utf-8")).hexdigest(), own


async def ingest(session: AsyncSession, *, plan: Plan, integration: Integration, batch: AlertBatch, body: str,
                 now: datetime) -> IngestResult:
    """Record one webhook's alerts and act on them (see the module docstring)."""
    payload_id = await store.add_payload(session, integration_id=integration.id, body=body, now=now)
    result = IngestResult(payload_id=payload_id)
    groups: dict[str, tuple[str, list[Alert]]] = {}
    for alert in batch.alerts:
        key, own = group_key(integration, batch, alert)
        groups.setdefault(key, (own, []))[1].append(alert)
    silences = await store.active_silences(session, now=now)
    for key, (own, alerts) in groups.items():
        result.groups.append(await _ingest_group(session, plan=plan, integration=integration, batch=batch, key=key,
                                                 own=own, alerts=alerts, silences=silences, payload_id=payload_id,
                                                 now=now))
    return result


async def _ingest_group(session: AsyncSession, *, plan: Plan, integration: Integration, batch: AlertBatch, key: str,
                        own: str, alerts: list[Alert], silences: Sequence, payload_id: int,
                        now: datetime) -> GroupOutcome:
    routed, representative = _route_group(plan, integration, alerts)
    title = _title(batch, representative)
    group, _created, previous = await _group_for(session, integration=integration, key=key, own=own, title=title,
                                                routed=routed, labels=batch.group_labels or representative.labels,
                                                now=now)
    group.last_seen_at = now
    group.truncated = max(group.truncated, batch.truncated)
    outcome = GroupOutcome(group_id=group.id, incident_id=group.incident_id)
    existing = {a.dedup_key: a for a in await store.alerts_of(session, group.id)}
    became_flapping: list[AlertRecord] = []
    for alert in alerts:
        silence = _silence_for(silences, alert, group.incident_id)
        row = existing.get(alert.dedup_key)
        if row is None:
            row = store.new_alert(group_id=group.id, alert=alert, now=now, payload_id=payload_id,
                                  silenced_by=silence.id if silence else None)
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
        if silence is not None and alert.status == FIRING:
            outcome.silenced += 1
    await session.flush()
    rows = list(existing.values())
    firing_unsilenced = [r for r in rows if r.status == FIRING and r.silenced_by is None]
    if group.incident_id is None and not group.record_only and firing_unsilenced:
        await _open_incident(session, plan=plan, group=group, previous=previous, routed_severity=routed.severity,
                             payload_id=payload_id, now=now)
        await _tell_groups(session, plan=plan, group=group, groups=routed.groups, now=now)
        outcome.opened_incident = True
    elif group.incident_id is not None and (outcome.new or outcome.changed):
        await _note_on_incident(session, group=group, outcome=outcome, rows=rows, payload_id=payload_id, now=now)
        await conversations.cards_changed(session, incident_id=group.incident_id, now=now)  # its alert section
    if group.incident_id is not None and any(a.status == ACKNOWLEDGED for a in alerts) \
            and not any(r.status == FIRING for r in rows):
        await _acknowledge(session, plan=plan, group=group, integration=integration, now=now)
    if became_flapping and group.flapping_since is None:
        group.flapping_since = now
        outcome.flapping = True
        if group.incident_id is not None:
            names = ", ".join(r.title for r in became_flapping[:5])
            await record(session, incident_id=group.incident_id, kind=Kind.ALERT, source=Source.ALERT,
                         actor=SYSTEM_ACTOR, now=now, new="flapping",
                         text=f"flapping: {names} changed state {integration.flapping_changes} times within "
                              f"{integration.flapping_window}; not paging again while it flaps")
    if rows and all(r.status == RESOLVED for r in rows):
        await _resolve_group(session, plan=plan, integration=integration, group=group, count=len(rows), now=now)
        outcome.resolved_group = True
    outcome.incident_id = group.incident_id
    return outcome


def _route_group(plan: Plan, integration: Integration, alerts: list[Alert]):
    """The group's route: each firing alert is routed and the most severe decision wins (a
    group with one critical alert among warnings is as bad as the critical one); ties go to
    the sender's order. (decision, the alert it came from)."""
    rank = {severity.id: index for index, severity in enumerate(plan.severities)}
    candidates = [a for a in alerts if a.status == FIRING] or alerts
    decisions = [(route_alert(plan, integration, alert), alert) for alert in candidates]
    return min(decisions, key=lambda decision: rank.get(decision[0].severity, len(rank)))


def _title(batch: AlertBatch, alert: Alert) -> str:
    title = batch.title or alert.title or ", ".join(f"{k}={v}" for k, v in sorted(batch.group_labels.items()))
    title = " ".join((title or "Alert").split())
    return title if len(title) <= TITLE_MAX else title[: TITLE_MAX - 1] + "…"


def _silence_for(silences: Sequence, alert: Alert, incident_id: int | None):
    for silence in silences:
        matchers = json.loads(silence.matchers_json)
        if silence.incident_id is not None and not matchers and silence.incident_id != incident_id:
            continue
        if all(alert.labels.get(k) == v for k, v in matchers.items()):
            return silence
    return None


async def _group_for(session: AsyncSession, *, integration: Integration, key: str, own: str, title: str, routed,
                     labels: dict[str, str], now: datetime) -> tuple[AlertGroup, bool, AlertGroup | None]:
    """(group, created, the group it follows). The open group of the key; else the latest one
    again if its incident is still open (alerts that resolve and fire again while people work
    on it are the same incident, and flapping is counted, not paged); else a new group, which
    follows the latest one (its incident was resolved: the new incident says which it follows)."""
    group = await store.open_group(session, integration_id=integration.id, group_key=key)
    if group is not None:
        return group, False, None
    latest = await store.latest_group(session, integration_id=integration.id, group_key=key)
    if latest is not None:
        incident = await queries.get_incident(session, latest.incident_id) if latest.incident_id else None
        if incident is None and latest.incident_id is None or incident is not None and incident.status != "resolved":
            group, _created = await store.reopen_group(session, latest)
            return group, False, None
    group, created = await store.create_group(
        session, integration_id=integration.id, group_key=key, source_group_key=own, title=title, route=routed.route,
        record_only=routed.record_only, service_id=routed.service_id, severity=routed.severity, labels=labels, now=now)
    return group, created, latest if created else None


async def _open_incident(session: AsyncSession, *, plan: Plan, group: AlertGroup, previous: AlertGroup | None,
                         routed_severity: str, payload_id: int, now: datetime) -> None:
    view = await incidents.declare(session=session, plan=plan, title=group.title, severity=routed_severity,
                                   actor=SYSTEM_ACTOR, source=Source.ALERT, now=now, service_id=group.service_id)
    group.incident_id = view.id
    await spaces.request_space(session, incident_id=view.id, now=now)  # no turn here to open it
    text = (f"opened by alert group `{group.source_group_key[:200]}` ({group.route}); "
            f"the webhook is on record: `alerts payload {payload_id}`")
    if previous is not None and previous.incident_id is not None:
        group.previous_group_id = previous.id
        text += f"; it fired again after {incident_ref(previous.incident_id)} resolved"
    await record(session, incident_id=view.id, kind=Kind.ALERT, source=Source.ALERT, actor=SYSTEM_ACTOR, now=now,
                 new="opened", text=text)


async def _tell_groups(session: AsyncSession, *, plan: Plan, group: AlertGroup, groups: Sequence[str],
                       now: datetime) -> None:
    """A 1:1 notice to each member of the groups the route tells (bundled into digests when
    many arrive at once); the timeline says who was told."""
    ref = incident_ref(group.incident_id)
    told: list[str] = []
    for group_id in groups:
        for email in sorted(plan.members_of(group_id)):
            if await send_direct(session, key=f"alert-notice:{group.incident_id}:{email}", email=email, now=now,
                                 bundle="alert-notices", incident_id=group.incident_id,
                                 text=f"🔔 {ref} was opened by an alert: {group.title} ({group.severity}). "
                                      f"Say `status {ref}` to see it.",
                                 summary=f"{ref} opened by an alert: {group.title}"):
                told.append(email)
    if groups:
        await record(session, incident_id=group.incident_id, kind=Kind.ALERT, source=Source.ALERT, actor=SYSTEM_ACTOR,
                     now=now, new="told", text=f"groups told: {', '.join(groups)} ({len(told)} people reached in Teams)")


async def _note_on_incident(session: AsyncSession, *, group: AlertGroup, outcome: GroupOutcome,
                            rows: list[AlertRecord], payload_id: int, now: datetime) -> None:
    firing = sum(1 for r in rows if r.status == FIRING)
    await record(session, incident_id=group.incident_id, kind=Kind.ALERT, source=Source.ALERT, actor=SYSTEM_ACTOR,
                 now=now, new="updated",
                 text=f"alerts: {outcome.new} new, {outcome.changed} changed; {firing} of {len(rows)} firing "
                      f"(`alerts payload {payload_id}`)")


async def _acknowledge(session: AsyncSession, *, plan: Plan, group: AlertGroup, integration: Integration,
                       now: datetime) -> None:
    """The sender says someone is on it (PagerDuty's `acknowledge`): paging stops, as if they had
    pressed Acknowledge, and a declared incident becomes acknowledged."""
    actor = Actor(aad_id="", name=f"{integration.name} (acknowledge event)")
    for escalation in await paging_store.escalations_of(session, group.incident_id, active_only=True):
        await paging.acknowledge(session, escalation_id=escalation.id, actor=actor, source=Source.ALERT, now=now)
    incident = await queries.get_incident(session, group.incident_id)
    if incident is not None and incident.status == "declared":
        await incidents.transition(session=session, plan=plan, incident_id=group.incident_id, action="ack",
                                   actor=actor, source=Source.ALERT, now=now, system=True)


async def _resolve_group(session: AsyncSession, *, plan: Plan, integration: Integration, group: AlertGroup,
                         count: int, now: datetime) -> None:
    group.status = store.RESOLVED
    group.resolved_at = now
    if group.incident_id is None:
        return
    ref = incident_ref(group.incident_id)
    await record(session, incident_id=group.incident_id, kind=Kind.ALERT, source=Source.ALERT, actor=SYSTEM_ACTOR,
                 now=now, new="resolved", text=f"all {count} alerts of the group resolved")
    incident = await queries.get_incident(session, group.incident_id)
    if incident is None or incident.status == "resolved":
        return
    if integration.auto_resolve:
        await incidents.transition(session=session, plan=plan, incident_id=group.incident_id, action="resolve",
                                   actor=SYSTEM_ACTOR, source=Source.ALERT, now=now, system=True,
                                   text=f"all alerts resolved ({integration.name} auto-resolves)")
    elif incident.home_conversation_id:
        await outbox.enqueue(session, key=f"alerts-resolved:{group.id}", conversation_id=incident.home_conversation_id,
                             payload={"text": f"✅ All {count} alerts of {ref} have resolved. If the service is "
                                              f"healthy, the incident manager can say `resolve SUMMARY`.",
                                      "summary": f"{ref} alerts resolved"}, now=now, incident_id=group.incident_id)
