"""What an alert group does to its incident: open it, note changes, stop paging on an
acknowledge event, and tell or resolve when every alert has resolved.

All text from the alert (titles, the sender's group key) is already inert here
(`formatting.inert_text`, applied where alerts come in), so it can go into the timeline,
messages and cards as it is.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.alerts.model import FIRING
from bot.domain import conversations, incidents, paging, spaces
from bot.domain.alert_routing import SECURITY
from bot.domain.direct_messages import send_direct
from bot.domain.formatting import incident_ref
from bot.domain.model import SYSTEM_ACTOR, Actor, Role, Source
from bot.domain.timeline import Kind, record
from bot.plan import Plan
from bot.plan_integrations import Integration
from storage import alert_store as store
from storage import outbox, queries
from storage import paging as paging_store
from storage.alerts import AlertGroup, AlertRecord


async def open_incident(session: AsyncSession, *, plan: Plan, group: AlertGroup, previous: AlertGroup | None,
                        severity: str, category: str | None, payload_id: int, flapping: bool, now: datetime) -> None:
    """Declare the group's incident (paging as any declare does) and have its space opened. A
    security event is need-to-know: no announcement, no space in the shared incidents channel;
    the groups its route names are told one by one."""
    secret = category == SECURITY
    view = await incidents.declare(session=session, plan=plan, title=group.title, severity=severity,
                                   actor=SYSTEM_ACTOR, source=Source.ALERT, now=now, service_id=group.service_id,
                                   announce=not secret, page=not flapping)
    group.incident_id = view.id
    if secret:
        await spaces.no_space(session, incident_id=view.id, now=now,
                              reason="a security event is told only to the groups its route names")
    else:
        await spaces.request_space(session, incident_id=view.id, now=now)  # no turn here to open it
    text = (f"opened by alert group ˋ{group.source_group_key[:200]}ˋ ({group.route}); "
            f"the webhook is on record: `alerts payload {payload_id}`")
    if previous is not None and previous.incident_id is not None:
        group.previous_group_id = previous.id
        text += f"; it fired again after {incident_ref(previous.incident_id)} resolved"
    if flapping:
        text += "; its alerts are flapping, so nobody is paged for it"
    await record(session, incident_id=view.id, kind=Kind.ALERT, source=Source.ALERT, actor=SYSTEM_ACTOR, now=now,
                 new="opened", text=text)


async def tell_groups(session: AsyncSession, *, plan: Plan, group: AlertGroup, groups: Sequence[str],
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


async def note_changes(session: AsyncSession, *, group: AlertGroup, new: int, changed: int, rows: list[AlertRecord],
                       payload_id: int, now: datetime) -> None:
    """Alerts came or changed on an incident's group: the timeline, and its cards' alert section."""
    firing = sum(1 for r in rows if r.status == FIRING)
    await record(session, incident_id=group.incident_id, kind=Kind.ALERT, source=Source.ALERT, actor=SYSTEM_ACTOR,
                 now=now, new="updated",
                 text=f"alerts: {new} new, {changed} changed; {firing} of {len(rows)} firing "
                      f"(`alerts payload {payload_id}`)")
    await conversations.cards_changed(session, incident_id=group.incident_id, now=now)


async def note_flapping(session: AsyncSession, *, group: AlertGroup, integration: Integration,
                        rows: list[AlertRecord], now: datetime) -> None:
    names = ", ".join(r.title for r in rows[:5])
    await record(session, incident_id=group.incident_id, kind=Kind.ALERT, source=Source.ALERT, actor=SYSTEM_ACTOR,
                 now=now, new="flapping",
                 text=f"flapping: {names} changed state {integration.flapping_changes} times within "
                      f"{integration.flapping_window}; not paging again while it flaps")


async def acknowledge(session: AsyncSession, *, plan: Plan, group: AlertGroup, integration: Integration,
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


async def resolve_group(session: AsyncSession, *, plan: Plan, integration: Integration, group: AlertGroup,
                        count: int, now: datetime) -> None:
    """Every alert of the group has resolved: the group closes; the incident's space is told,
    or the incident resolves when the integration says `auto_resolve` (not while it flaps:
    a flapping alert would resolve and reopen incidents, and page, at every turn)."""
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
    flapping = group.flapping_since is not None and now - group.flapping_since < integration.flapping_window
    if integration.auto_resolve and not flapping:
        await incidents.transition(session=session, plan=plan, incident_id=group.incident_id, action="resolve",
                                   actor=SYSTEM_ACTOR, source=Source.ALERT, now=now, system=True,
                                   text=f"all alerts resolved ({integration.name} auto-resolves)")
        return
    held = " (not resolved automatically while it flaps)" if integration.auto_resolve else ""
    text = (f"✅ All {count} alerts of {ref} have resolved{held}. If the service is healthy, the incident manager "
            f"can say `resolve SUMMARY`.")
    key = f"alerts-resolved:{group.id}:{now.isoformat()}"
    if incident.home_conversation_id:
        await outbox.enqueue(session, key=key, conversation_id=incident.home_conversation_id, now=now,
                             payload={"text": text, "summary": f"{ref} alerts resolved"}, incident_id=group.incident_id)
        return
    manager = (await queries.role_emails(session, [group.incident_id], Role.INCIDENT_MANAGER.value)).get(
        group.incident_id)
    if manager:  # no space (a security event, or no incidents channel): the manager hears it in their chat
        await send_direct(session, key=key, email=manager, text=text, summary=f"{ref} alerts resolved", now=now,
                          incident_id=group.incident_id)
