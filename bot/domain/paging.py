"""Paging: escalations kept as rows and advanced by the tick, one step per due time.

The guard order (DESIGN.md section 3): the tick locks the due rows, re-checks the incident is
still open, computes who is on call at this instant, applies one step of
`escalation_rules.advance`, and writes the pages, their contact attempts (outbox rows), the
timeline and the new state in the same transaction. An acknowledgement locks the same row and
bumps its fence, so whichever commits second sees the other: nobody is paged after an ack.

A page is one person reached by one step. Each of the person's contact methods (plan:
`people[].contact`) is an outbox row due `after` its delay; when a method fails for good the
next one is pulled forward to now (`delivery_failed`), and a page acknowledged meanwhile
cancels whatever has not gone yet.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import escalation_rules as rules
from bot.domain.formatting import incident_ref
from bot.domain.lifecycle import is_open
from bot.domain.model import SYSTEM_ACTOR, Actor, Role, Source
from bot.domain.oncall import Override, on_call_at
from bot.domain.timeline import Kind, event, record, record_all
from bot.errors import NotFound
from bot.plan import Plan
from bot.plan_model import Contact
from storage import outbox, paging as store, queries
from storage.models import Incident
from storage.paging import Escalation, PageRecord

PAGE_RENDER = "page"
ESCALATION_DUE = "firebreak.escalation_due"  # session.info flag: a commit made an escalation due
STEPS_PER_TICK = 200


def _state(row: Escalation) -> rules.EscalationState:
    return rules.EscalationState(level=row.level, round=row.round, next_at=row.next_at, status=row.status,
                                 fence=row.fence)


def _store_state(row: Escalation, state: rules.EscalationState, now: datetime) -> None:
    row.level, row.round, row.next_at, row.status, row.fence = (
        state.level, state.round, state.next_at, state.status, state.fence)
    row.updated_at = now


async def start(
    session: AsyncSession, *, plan: Plan, incident_id: int, snapshot: rules.PolicySnapshot, reason: str,
    actor: Actor, source: Source, now: datetime,
) -> Escalation:
    """Start paging for an incident; the first level goes out on the next tick (at once)."""
    state = rules.EscalationState.new(now)
    row = Escalation(incident_id=incident_id, policy_id=snapshot.policy_id, snapshot_json=snapshot.to_json(),
                     reason=reason[:400], level=state.level, round=state.round, status=state.status,
                     next_at=state.next_at, fence=state.fence, started_by_aad=actor.aad_id,
                     started_by_name=actor.display, created_at=now, updated_at=now)
    session.add(row)
    await session.flush()
    policy = f"policy {snapshot.policy_id}" if snapshot.policy_id else "a one-level page"
    await record(session, incident_id=incident_id, kind=Kind.ESCALATION, source=source, actor=actor, now=now,
                 new="started", text=f"paging started ({policy}): {reason}")
    session.info[ESCALATION_DUE] = True
    return row


async def page_service_on_declare(
    session: AsyncSession, *, plan: Plan, incident_id: int, severity: str, service_id: str | None, actor: Actor,
    source: Source, now: datetime,
) -> Escalation | None:
    """Declaring an incident for a service pages through the service's escalation policy when
    the severity says to page (`severities[].page`); otherwise the timeline says why not."""
    if not service_id:
        return None
    service = plan.service(service_id)
    if not plan.severity(severity).page:
        return None
    if not service.escalation_policy:
        await record(session, incident_id=incident_id, kind=Kind.ESCALATION, source=Source.SYSTEM, actor=SYSTEM_ACTOR,
                     now=now, new="none", text=f"nobody paged: the service {service.name} names no escalation policy")
        return None
    snapshot = rules.PolicySnapshot.from_policy(plan.escalation_policy(service.escalation_policy))
    return await start(session, plan=plan, incident_id=incident_id, snapshot=snapshot, actor=actor, source=source,
                       now=now, reason=f"{severity.upper()} declared for {service.name}")


async def run_due(session: AsyncSession, *, plan: Plan, now: datetime, limit: int = STEPS_PER_TICK) -> list[int]:
    """Advance every due escalation one step; returns the escalation ids stepped.

    Every read and write is made once for all the due rows (their incidents, managers,
    overrides, people's AAD ids; then pages, contact attempts and timeline rows), so a tick
    costs about ten statements however many steps it takes."""
    rows = await store.due_escalations(session, now=now, limit=limit)
    if not rows:
        return []
    incident_ids = sorted({row.incident_id for row in rows})
    homes = await queries.incident_homes(session, incident_ids)
    managers = await queries.role_emails(session, incident_ids, Role.INCIDENT_MANAGER.value)
    snapshots = {row.id: rules.PolicySnapshot.from_json(row.snapshot_json) for row in rows}
    overrides: list[Override] = []
    if any(target.startswith("schedule:") for snapshot in snapshots.values() for target in _targets(snapshot)):
        stored = await store.overrides_between(session, schedule_id=None, start=now, end=now + timedelta(microseconds=1))
        overrides = [Override(schedule_id=o.schedule_id, email=o.email, start=o.starts_at, end=o.ends_at) for o in stored]
    names = {p.email: p.name for p in plan.people}
    events: list[dict] = []
    steps: list[tuple[Escalation, rules.Step]] = []
    for row in rows:
        status, _home = homes.get(row.incident_id, (None, None))
        if status is None or not is_open(status):
            _store_state(row, rules.stop(_state(row), "incident closed"), now)
            events.append(event(incident_id=row.incident_id, kind=Kind.ESCALATION, source=Source.SYSTEM,
                                actor=SYSTEM_ACTOR, now=now, new="stopped", text="paging stopped: the incident is resolved"))
            continue
        step = rules.advance(snapshots[row.id], _state(row), now,
                             resolve=_resolver(plan, overrides, managers.get(row.incident_id), now))
        _store_state(row, step.state, now)
        events.append(event(incident_id=row.incident_id, kind=Kind.PAGE, source=Source.SYSTEM, actor=SYSTEM_ACTOR,
                            now=now, new=f"level {step.level + 1}", text=_with_names(step.note, names)))
        steps.append((row, step))
    await _page_all(session, plan=plan, steps=steps, homes=homes, names=names, now=now)
    await record_all(session, events)
    return [row.id for row, _step in steps]


def _targets(snapshot: rules.PolicySnapshot) -> list[str]:
    return [target for level in snapshot.levels for target in level.targets] + list(snapshot.finally_notify)


def _resolver(plan: Plan, overrides: Sequence[Override], manager_email: str | None, now: datetime) -> rules.Resolve:
    """Who a target means at this instant; unknown ids (a plan edited since) resolve to nobody."""
    schedules = {s.id: s for s in plan.schedules}
    groups = {g.id: g for g in plan.groups}

    def resolve(target: str) -> Sequence[str]:
        kind, _, value = target.partition(":")
        if kind == "person":
            return (value,)
        if kind == "schedule":
            return on_call_at(schedules[value], now, overrides) if value in schedules else ()
        if kind == "group":
            return tuple(sorted(groups[value].members)) if value in groups else ()
        if kind == "role" and value == Role.INCIDENT_MANAGER.value:
            return (manager_email,) if manager_email else ()
        return ()

    return resolve


def _with_names(note: str, names: dict[str, str]) -> str:
    for email, name in names.items():
        note = note.replace(email, name)
    return note


async def _page_all(session: AsyncSession, *, plan: Plan, steps: Sequence[tuple[Escalation, rules.Step]],
                    homes: dict[int, tuple[str, str | None]], names: dict[str, str], now: datetime) -> None:
    """The pages of these steps: a record per person reached, and an outbox row per contact
    method of theirs, due after its delay. When a policy is exhausted its space is told too."""
    paged: list[tuple[Escalation, rules.Step, rules.Page]] = []
    messages: list[dict] = []
    for row, step in steps:
        paged += [(row, step, page) for page in step.pages]
        if step.final_notify or step.state.status == rules.EXHAUSTED:
            paged += [(row, step, page) for page in step.final_notify]
            _status, home = homes.get(row.incident_id, (None, None))
            if home:
                ref = incident_ref(row.incident_id)
                told = ", ".join(names.get(p.email, p.email) for p in step.final_notify) or "nobody"
                messages.append({"key": f"escalation-exhausted:{row.id}", "conversation_id": home,
                                 "incident_id": row.incident_id,
                                 "payload": {"text": f"⚠️ Nobody acknowledged the page for {ref}. Telling: {told}.",
                                             "summary": f"{ref} page unacknowledged"}})
    if not paged and not messages:
        return
    records = [PageRecord(escalation_id=row.id, incident_id=row.incident_id, email=page.email, target=page.target,
                          level=step.level, round=step.round, status="pending", created_at=now,
                          delayed_s=int(step.delayed_by.total_seconds()) if step.delayed_by else None)
               for row, step, page in paged]
    session.add_all(records)
    await session.flush()  # one INSERT for all of them; their ids name the contact attempts
    aad_ids = await queries.aad_ids_by_email(session, sorted({record.email for record in records}))
    for record_ in records:
        person = plan.person(record_.email)
        contacts = person.contact if person else (Contact(method="teams"),)
        aad = aad_ids.get(record_.email)
        name = person.name if person else record_.email
        for index, contact in enumerate(contacts):
            messages.append({
                "key": f"page:{record_.id}:{index}", "incident_id": record_.incident_id,
                "conversation_id": _contact_conversation(contact, record_.email, aad), "not_before": now + contact.after,
                "payload": {"render": PAGE_RENDER, "page_id": record_.id, "incident_id": record_.incident_id,
                            "method": contact.method, "email": record_.email, "user_aad": aad,
                            "address": contact.address or (record_.email if contact.method == "email" else None),
                            "summary": f"Page for {incident_ref(record_.incident_id)} to {name} ({contact.method})"}})
    await outbox.enqueue_new(session, messages=messages, now=now)


def _contact_conversation(contact: Contact, email: str, aad: str | None) -> str:
    """The rate-shaping key of a contact attempt: a person's Teams chat, mailbox or webhook."""
    if contact.method == "teams":
        return f"user:{aad}" if aad else f"user:unknown:{email}"
    if contact.method == "email":
        return f"email:{contact.address or email}"
    return f"webhook:{email}"


async def acknowledge(
    session: AsyncSession, *, escalation_id: int, actor: Actor, source: Source, now: datetime,
) -> tuple[Escalation, bool]:
    """Stop an escalation because someone answered; (row, whether this call acknowledged it)."""
    row = await store.get_escalation(session, escalation_id, lock=True)
    if row is None:
        raise NotFound(f"There is no page {escalation_id}.")
    state = _state(row)
    after = rules.acknowledge(state)
    if after == state:
        return row, False
    _store_state(row, after, now)
    row.acknowledged_at, row.acknowledged_by = now, actor.display
    pages = await store.pages_of(session, row.id)
    for page in pages:
        if page.status != "acknowledged":
            page.status, page.acknowledged_at = "acknowledged", now
    cancelled = await outbox.cancel_pending(session, key_prefixes=[f"page:{p.id}:" for p in pages])
    ref = incident_ref(row.incident_id)
    await record(session, incident_id=row.incident_id, kind=Kind.PAGE_ACK, source=source, actor=actor, now=now,
                 new="acknowledged", text="acknowledged the page; escalation stopped"
                 + (f" ({cancelled} contact attempts not needed)" if cancelled else ""))
    incident = await queries.get_incident(session, row.incident_id)
    if incident is not None and incident.home_conversation_id:
        await outbox.enqueue(
            session, key=f"page-ack:{row.id}", conversation_id=incident.home_conversation_id,
            payload={"text": f"✅ {actor.display} acknowledged the page for {ref}; paging stopped.",
                     "summary": f"{ref} page acknowledged"}, now=now, incident_id=row.incident_id)
    return row, True


async def escalate_sooner(
    session: AsyncSession, *, escalation_id: int, actor: Actor, source: Source, now: datetime, cant: bool,
) -> Escalation:
    """"Escalate now" (anyone) or "I can't" (the person paged passes): the next level is due now."""
    row = await store.get_escalation(session, escalation_id, lock=True)
    if row is None:
        raise NotFound(f"There is no page {escalation_id}.")
    state = _state(row)
    after = rules.escalate_now(state, now)
    if after == state:
        return row
    _store_state(row, after, now)
    what = "can't take the page; passing it to the next level" if cant else "asked to escalate now"
    await record(session, incident_id=row.incident_id, kind=Kind.ESCALATION, source=source, actor=actor, now=now,
                 new="escalate", text=what)
    session.info[ESCALATION_DUE] = True
    return row


async def stop_for_incident(session: AsyncSession, *, incident_id: int, reason: str, now: datetime) -> int:
    """Stop every active escalation of a closed incident, cancelling contact attempts not yet made."""
    stopped = 0
    for row in await store.escalations_of(session, incident_id, active_only=True):
        _store_state(row, rules.stop(_state(row), reason), now)
        pages = await store.pages_of(session, row.id)
        await outbox.cancel_pending(session, key_prefixes=[f"page:{p.id}:" for p in pages])
        stopped += 1
    if stopped:
        await record(session, incident_id=incident_id, kind=Kind.ESCALATION, source=Source.SYSTEM,
                     actor=SYSTEM_ACTOR, now=now, new="stopped", text=f"paging stopped: {reason}")
    return stopped


async def page_and_escalation(session: AsyncSession, page_id: int) -> tuple[PageRecord, Escalation] | None:
    """A page and its escalation (the e-mail and webhook senders, the acknowledge link)."""
    page = await store.get_page(session, page_id)
    if page is None:
        return None
    escalation = await store.get_escalation(session, page.escalation_id)
    return (page, escalation) if escalation is not None else None


async def page_to_deliver(session: AsyncSession, page_id: int) -> tuple[PageRecord, str, Incident] | None:
    """A page, its escalation's status and its incident (for the sender's last check before it
    speaks, and for the card)."""
    return await store.page_in_context(session, page_id)


async def delivery_outcome(session: AsyncSession, *, message: outbox.OutboxMessage, status: str, error: str | None,
                           plan: Plan, now: datetime) -> None:
    """Record how a page's contact attempt went (called by the outbox worker in the transaction
    that stores the outcome). A failed or unknown Teams delivery pulls the person's next contact
    method forward to now; the escalation itself keeps its own schedule regardless."""
    payload = message.payload
    if payload.get("render") != PAGE_RENDER:
        return
    page_id = int(payload["page_id"])
    email = payload.get("email") or ""
    person = plan.person(email)
    name = person.name if person else email
    method = payload.get("method", "?")
    incident_id = message.incident_id or payload.get("incident_id")
    if status == outbox.SENT:
        # the hot path (every page delivered): one UPDATE, no read
        if not await store.mark_page_delivered(session, page_id, via=method):
            return  # the page is gone (its incident was deleted)
        text = f"page to {name} delivered via {method}"
    else:
        page = await store.get_page(session, page_id)
        if page is None:
            return
        following = await outbox.pending_with_prefix(session, key_prefix=f"page:{page.id}:")
        nxt = following[0] if following else None
        if nxt is not None and nxt.next_at > now:
            nxt.next_at = now
            session.info[outbox.ENQUEUED] = True
        outcome = "delivery unknown" if status == outbox.UNKNOWN else f"failed ({error or 'no reason given'})"
        then = f"; trying {nxt.payload.get('method')} now" if nxt is not None else "; no other way to reach them"
        text = f"page to {name} via {method}: {outcome}{then}"
        incident_id = page.incident_id
    await record(session, incident_id=int(incident_id), kind=Kind.PAGE_DELIVERY, source=Source.SYSTEM,
                 actor=SYSTEM_ACTOR, now=now, new=status, text=text)
