"""The regulatory clock: an incident marked a possible personal-data breach starts the plan's
legal deadlines, its owner is reminded before each and once when one passes unmet, and the
decision and the notification made are recorded.

Anyone in the incident may mark it (better a clock started in doubt than a 72-hour deadline
missed); marking again only shows the clock. The decision and meeting a deadline need the
incident manager's authority (the manager or the plan's acting groups) or to be a duty's owner.
Every step goes on the incident's timeline; reminders go to the owner's 1:1 chat through the
outbox, each exactly once (`bot.domain.breach_rules`). An owner Firebreak cannot reach in Teams
(never seen there) is not skipped silently: each reminder is then posted once in the
incident's own space, for its responders to pass on, and the timeline says so.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import breach_rules as rules
from bot.domain.authz import is_manager
from bot.domain.formatting import format_age, format_time, incident_ref, inert_text
from bot.domain.incidents import load_view
from bot.domain.model import Actor, IncidentView, Role, SYSTEM_ACTOR, Source
from bot.domain.timeline import record
from bot.domain.unreachable import Delivery, post_in_incident_space, tell_directly
from bot.errors import PermissionDenied, ValidationFailed
from bot.plan import Plan
from storage import breach_clock as store, queries

MARKED = "breach.marked"
DECISION = "breach.decision"
MET = "breach.met"
REMINDER = "breach.reminder"

REPORTABLE, NOT_REPORTABLE = "reportable", "not-reportable"
TRIGGER = "breach"


@dataclass(frozen=True)
class Clock:
    """A marked incident's mark and deadlines, for the clock reply."""

    view: IncidentView
    mark: store.Mark
    deadlines: list[store.DeadlineRow]
    started_now: bool = False
    untold: tuple[str, ...] = ()
    """E-mails of duty owners who could not be told in Teams that the clock started."""


def _zone(plan: Plan, email: str):
    person = plan.person(email)
    return ZoneInfo(person.time_zone) if person is not None else timezone.utc


def duties(plan: Plan):
    """The plan's duties a breach mark starts."""
    return [d for d in plan.regulatory.duties if d.trigger == TRIGGER]


async def mark(session: AsyncSession, *, plan: Plan, incident_id: int, actor: Actor, source: Source,
               now: datetime) -> Clock:
    """Mark the incident a possible breach and start every `breach` duty; a second mark changes nothing."""
    view = await load_view(session, incident_id)
    if not await store.add_mark(session, incident_id=incident_id, by_aad=actor.aad_id, by_name=actor.display, now=now):
        return await load(session, incident_id=incident_id, view=view)
    rows = []
    for duty in duties(plan):
        for deadline in duty.deadlines:
            before = tuple(int(r.total_seconds()) for r in deadline.remind_before)
            due = now + deadline.within
            rows.append({"incident_id": incident_id, "duty_id": duty.id, "deadline_id": deadline.id,
                         "duty_name": duty.name[:300], "action": deadline.action, "owner_email": duty.owner.lower(),
                         "remind_before": ",".join(str(s) for s in before), "due_at": due,
                         "next_remind_at": rules.next_remind_at(due, before, after=now)})
    await store.add_deadlines(session, rows)
    summary = "; ".join(f"{r['deadline_id']} due {format_time(r['due_at'])}" for r in rows) or \
        "the plan names no duty triggered by a breach (regulatory.duties)"
    await record(session, incident_id=incident_id, kind=MARKED, source=source, actor=actor, now=now,
                 text=f"marked a possible personal-data breach; clock started: {summary}")
    clock = await load(session, incident_id=incident_id, view=view)
    untold: list[str] = []
    for duty in duties(plan):
        told = await tell_directly(session, key=f"breach-started:{incident_id}:{duty.id}", email=duty.owner, now=now,
                                   incident_id=incident_id, summary=f"{incident_ref(incident_id)}: possible data breach",
                                   text=_started_text(plan, clock, duty.id, actor))
        if told is Delivery.UNREACHABLE:
            untold.append(duty.owner.lower())
        what = f"{duty.owner} told in Teams" if told is not Delivery.UNREACHABLE else \
            f"{duty.owner} could not be told in Teams (they have not used Firebreak yet); tell them another way"
        await record(session, incident_id=incident_id, kind=REMINDER, source=Source.SYSTEM, actor=SYSTEM_ACTOR,
                     now=now, text=f"{duty.name}: {what}")
    return Clock(view=clock.view, mark=clock.mark, deadlines=clock.deadlines, started_now=True,
                 untold=tuple(dict.fromkeys(untold)))


def _started_text(plan: Plan, clock: Clock, duty_id: str, actor: Actor) -> str:
    rows = [r for r in clock.deadlines if r.duty_id == duty_id]
    zone = _zone(plan, rows[0].owner_email) if rows else timezone.utc
    ref = incident_ref(clock.view.id)
    lines = [f"⚖️ **{ref}** ({inert_text(clock.view.incident.title)}) was marked a possible personal-data breach by "
             f"{inert_text(actor.display)} at {format_time(clock.mark.marked_at, zone)}. You own **{rows[0].duty_name if rows else duty_id}**:"]
    lines += [f"- `{r.deadline_id}` due **{format_time(r.due_at, zone)}**: {r.action}" for r in rows]
    lines.append(f"In {ref}'s space say `breach` for the clock, `breach decision reportable|not-reportable REASON`, "
                 "`breach notified DEADLINE WHAT` or `breach done DEADLINE NOTE`. I will remind you before each deadline.")
    return "\n\n".join(lines)


async def load(session: AsyncSession, *, incident_id: int, view: IncidentView | None = None) -> Clock:
    """The clock of a marked incident; ValidationFailed (saying how to mark it) when it is not marked."""
    view = view or await load_view(session, incident_id)
    found = await store.get_mark(session, incident_id)
    if found is None:
        raise ValidationFailed(f"{incident_ref(incident_id)} is not marked a possible data breach. "
                               "Say `breach` in its space (or press More → Possible data breach on its card) to start the clock.")
    return Clock(view=view, mark=found, deadlines=await store.deadlines_of(session, incident_id))


async def is_marked(session: AsyncSession, incident_id: int) -> bool:
    return await store.get_mark(session, incident_id) is not None


def _require_authority(view: IncidentView, plan: Plan, actor: Actor, deadlines: list[store.DeadlineRow],
                       *, action: str) -> None:
    owners = sorted({r.owner_email for r in deadlines})
    if is_manager(view, plan, actor) or (actor.email and actor.email.lower() in owners):
        return
    holder = view.holder(Role.INCIDENT_MANAGER)
    groups = [plan.group(g).name for g in plan.role(Role.INCIDENT_MANAGER.value).acting_groups]
    names = [(plan.person(o).name if plan.person(o) else o) for o in owners]
    who = ", ".join([f"the incident manager ({holder.display_name})" if holder else "the incident manager",
                     *(f"a member of {g}" for g in groups), *(f"the duty owner ({n})" for n in names)])
    raise PermissionDenied(f"Sorry {actor.display}, only {who} may {action} for {incident_ref(view.id)}.",
                           action=action, allowed=who, incident_id=view.id)


async def decide(session: AsyncSession, *, plan: Plan, incident_id: int, decision: str, reason: str, actor: Actor,
                 source: Source, now: datetime) -> Clock:
    """Record whether the breach is reportable. `not-reportable` closes every open deadline with
    the reason (reminders stop); changing it back to `reportable` reopens them."""
    if decision not in (REPORTABLE, NOT_REPORTABLE):
        raise ValidationFailed("Say `breach decision reportable REASON` or `breach decision not-reportable REASON`.")
    if not reason.strip():
        raise ValidationFailed(f"Give the reason: `breach decision {decision} REASON` (it is kept for the regulator).")
    clock = await load(session, incident_id=incident_id)
    _require_authority(clock.view, plan, actor, clock.deadlines, action="record the breach decision")
    await store.set_decision(session, incident_id=incident_id, decision=decision, reason=reason.strip(),
                             by_aad=actor.aad_id, by_name=actor.display, now=now)
    closed, reopened = [], []
    for row in await store.deadlines_of(session, incident_id, lock=True):
        if decision == NOT_REPORTABLE and row.met_at is None:
            await store.meet(session, row.id, kind=NOT_REPORTABLE, note=f"not reportable: {reason.strip()}",
                             by_aad=actor.aad_id, by_name=actor.display, now=now)
            closed.append(row.deadline_id)
        elif decision == REPORTABLE and row.met_kind == NOT_REPORTABLE:
            stage = rules.stage_at(row.due_at, row.remind_before_s, now)
            upcoming = rules.next_remind_at(row.due_at, row.remind_before_s, after=now)
            await store.reopen(session, row.id, next_remind_at=now if stage is not None else upcoming)
            reopened.append(row.deadline_id)
    tail = (f"; deadlines closed: {', '.join(closed)}" if closed else "") + \
        (f"; deadlines reopened: {', '.join(reopened)}" if reopened else "")
    await record(session, incident_id=incident_id, kind=DECISION, source=source, actor=actor, now=now,
                 new=decision, text=f"{decision}: {reason.strip()}{tail}")
    return await load(session, incident_id=incident_id, view=clock.view)


def find_deadline(deadlines: list[store.DeadlineRow], wanted: str) -> store.DeadlineRow:
    """The deadline named `ID` or `DUTY/ID`; ValidationFailed listing the valid ids."""
    duty, _, deadline = wanted.lower().rpartition("/")
    found = [r for r in deadlines if r.deadline_id == deadline and (not duty or r.duty_id == duty)]
    if len(found) == 1:
        return found[0]
    valid = ", ".join(f"{r.duty_id}/{r.deadline_id}" if len({x.duty_id for x in deadlines}) > 1 else r.deadline_id
                      for r in deadlines) or "none"
    if found:
        raise ValidationFailed(f"Several duties have a deadline `{deadline}`; name one as DUTY/DEADLINE: {valid}.")
    raise ValidationFailed(f"There is no deadline `{wanted}` on this incident's clock. Deadlines: {valid}.")


async def meet(session: AsyncSession, *, plan: Plan, incident_id: int, deadline: str, note: str, notified: bool,
               actor: Actor, source: Source, now: datetime) -> Clock:
    """Meet a deadline: `notified` records the notification made (what, to whom); else a note."""
    verb = "notified" if notified else "done"
    if not note.strip():
        what = "WHAT was sent to whom" if notified else "NOTE"
        raise ValidationFailed(f"Say `breach {verb} DEADLINE {what}`, e.g. "
                               + ("`breach notified notify-regulator ICO form submitted, ref IC-12345`." if notified
                                  else "`breach done assess risk assessed with the DPO`."))
    clock = await load(session, incident_id=incident_id)
    row = find_deadline(clock.deadlines, deadline)
    _require_authority(clock.view, plan, actor, clock.deadlines, action="meet a breach deadline")
    if row.met_at is not None:
        raise ValidationFailed(f"`{row.deadline_id}` was already closed by {row.met_by_name} at "
                               f"{format_time(row.met_at)}: {row.met_note}")
    text = f"notification made: {note.strip()}" if notified else note.strip()
    await store.meet(session, row.id, kind=verb, note=text, by_aad=actor.aad_id, by_name=actor.display, now=now)
    late = f" ({rules.time_left(row.due_at, now)})" if now > row.due_at else ""
    await record(session, incident_id=incident_id, kind=MET, source=source, actor=actor, now=now,
                 new=row.deadline_id, text=f"`{row.deadline_id}` met{late}: {text}")
    return await load(session, incident_id=incident_id, view=clock.view)


# -- the tick -----------------------------------------------------------------------------------------------


async def reminders_pending(session: AsyncSession, *, now: datetime) -> bool:
    """Whether any reminder is due (one indexed read, so the tick writes only when one is)."""
    due = await store.next_reminder_at(session)
    return due is not None and due <= now


async def send_reminders(session: AsyncSession, *, plan: Plan, now: datetime) -> int:
    """Remind the owners of the deadlines whose next stage has come, each stage once; an owner
    who cannot be reached in Teams is reminded through the incident's space instead. How many
    reminders went (either way)."""
    told = 0
    for row in await store.due_for_reminder(session, now=now):
        stage = rules.stage_at(row.due_at, row.remind_before_s, now)
        await store.set_next_remind(session, row.id, rules.next_remind_at(row.due_at, row.remind_before_s, after=now))
        if stage is not None and await _remind(session, plan=plan, row=row, stage=stage, now=now):
            told += 1
    return told


async def _remind(session: AsyncSession, *, plan: Plan, row: store.DeadlineRow, stage: int, now: datetime) -> bool:
    ref = incident_ref(row.incident_id)
    key = rules.reminder_key(row.id, stage)
    reachable = row.owner_email in await queries.aad_ids_by_email(session, [row.owner_email])
    zone = _zone(plan, row.owner_email) if reachable else timezone.utc  # the space's readers are many
    if stage == rules.OVERDUE:
        head = f"⚠️ **{ref}**: the deadline `{row.deadline_id}` passed at {format_time(row.due_at, zone)} and is not met."
        what = f"`{row.deadline_id}` overdue"
    else:
        head = (f"⏰ **{ref}**: the deadline `{row.deadline_id}` is due **{format_time(row.due_at, zone)}**, in "
                f"{format_age(row.due_at - now)}.")
        what = f"`{row.deadline_id}` due in {format_age(row.due_at - now)}"
    tail = (f"{row.duty_name}: {row.action}\n\nOnce done, say `breach notified {row.deadline_id} WHAT` "
            f"or `breach done {row.deadline_id} NOTE` in {ref}'s space; if it is not reportable, "
            "`breach decision not-reportable REASON`.")
    if reachable:
        sent = await tell_directly(session, key=key, email=row.owner_email, text=f"{head}\n\n{tail}", now=now,
                                   summary=f"{ref}: breach deadline {row.deadline_id}", incident_id=row.incident_id)
        if sent is not Delivery.SENT:
            return False  # went before (another tick or replica)
        await record(session, incident_id=row.incident_id, kind=REMINDER, source=Source.SYSTEM,
                     actor=SYSTEM_ACTOR, now=now, text=f"reminded {row.owner_email}: {what}")
        return True
    if not await queries.claim_key(session, key, now=now):
        return False
    owner = plan.person(row.owner_email)
    who = f"{owner.name} ({row.owner_email})" if owner else row.owner_email
    where = await post_in_incident_space(
        session, incident_id=row.incident_id, key=f"{key}:space", now=now,
        summary=f"{ref}: breach deadline {row.deadline_id}, owner not reachable",
        text=f"{head} Its owner, {who}, cannot be reached in Teams: please tell them now.\n\n{tail}")
    done = f"posted in {where} for the responders to tell them" if where else \
        "there was nowhere to post it either: tell them now"
    await record(session, incident_id=row.incident_id, kind=REMINDER, source=Source.SYSTEM, actor=SYSTEM_ACTOR,
                 now=now, text=f"could not remind {row.owner_email} in Teams (they have not used Firebreak yet): "
                               f"{what}; {done}")
    return True
