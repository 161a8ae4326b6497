"""What the tick watches in the schedules: gaps ahead, and handoffs as they happen.

- A gap (nobody on call) in the next 7 days is told to the schedule's owner once per gap, in a
  1:1 chat, so it can be filled before a page reaches nobody.
- At each handoff (the people on call change), the outgoing and the incoming person get a 1:1
  digest: open incidents, pages still unacknowledged, and upcoming overrides of the schedule.
  Handoffs up to an hour back are still digested, so a restart across a handoff loses nothing.

Each message is claimed by an idempotency key in the transaction that queues it, so ticks,
restarts and replicas send each once.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.formatting import format_time, incident_ref
from bot.domain.oncall import gaps_between, handoffs_between
from bot.domain.overrides import LOOKAHEAD, overrides_for
from bot.plan import Plan
from bot.plan_oncall import Schedule
from bot.domain.direct_messages import send_direct
from storage import paging as store, queries

DIGEST_BACKLOG = timedelta(hours=1)


async def watch(session: AsyncSession, *, plan: Plan, now: datetime) -> int:
    """Queue due gap warnings and handoff digests; returns how many messages were queued."""
    queued = 0
    for schedule in plan.schedules:
        overrides = await overrides_for(session, schedule.id, now - timedelta(days=90), now + LOOKAHEAD + timedelta(days=90))
        queued += await _gap_warnings(session, plan=plan, schedule=schedule, overrides=overrides, now=now)
        queued += await _handoff_digests(session, plan=plan, schedule=schedule, overrides=overrides, now=now)
    return queued


async def _gap_warnings(session, *, plan: Plan, schedule: Schedule, overrides, now: datetime) -> int:
    """One message listing the gaps not told before (each gap is told once)."""
    zone = _zone_of(plan, schedule.owner)
    new = [gap for gap in gaps_between(schedule, now, now + LOOKAHEAD, overrides)
           if not await queries.key_claimed(session, _gap_key(schedule, gap.start))]
    if not new:
        return 0
    lines = [f"⚠️ Nobody is on call for **{schedule.name}** in these windows; a page to it then reaches no one:"]
    lines += [f"- {format_time(g.start, zone)} to {format_time(g.end, zone)}" for g in new]
    lines.append(f"Fill them with `override @person {schedule.id} from .. to ..`, or fix the rota in the plan.")
    if not await send_direct(session, key=f"gaps:{schedule.id}:{new[0].start.isoformat()}", email=schedule.owner,
                         text="\n".join(lines), summary=f"gaps in {schedule.id}", now=now):
        return 0
    for gap in new:
        await queries.claim_key(session, _gap_key(schedule, gap.start), now=now)
    return 1


def _gap_key(schedule: Schedule, start: datetime) -> str:
    return f"gap:{schedule.id}:{start.isoformat()}"


async def _handoff_digests(session, *, plan: Plan, schedule: Schedule, overrides, now: datetime) -> int:
    sent = 0
    for handoff in handoffs_between(schedule, now - DIGEST_BACKLOG, now, overrides):
        people = [(e, "outgoing") for e in handoff.outgoing] + [(e, "incoming") for e in handoff.incoming]
        for email, side in people:
            text = await _digest(session, plan=plan, schedule=schedule, email=email, side=side, at=handoff.at, now=now)
            key = f"handoff:{schedule.id}:{handoff.at.isoformat()}:{email}"
            if await send_direct(session, key=key, email=email, text=text, summary=f"handoff {schedule.id}", now=now):
                sent += 1
    return sent


async def _digest(session, *, plan: Plan, schedule: Schedule, email: str, side: str, at: datetime, now: datetime) -> str:
    zone = _zone_of(plan, email)
    head = (f"🔁 Handoff for **{schedule.name}** at {format_time(at, zone)}: you are "
            + ("off call now. What is still going on:" if side == "outgoing" else "on call now. What you take over:"))
    lines = [head]
    incidents = await queries.open_incidents(session, limit=20)
    lines.append("**Open incidents**: " + ("none" if not incidents else ""))
    lines += [f"- {incident_ref(i.id)} {i.severity.upper()} {i.status}: {i.title}" for i in incidents]
    pages = await store.unacknowledged_pages_for(session, email)
    lines.append("**Your unacknowledged pages**: " + ("none" if not pages else ""))
    lines += [f"- {incident_ref(p.incident_id)}, level {p.level + 1}, paged {format_time(p.created_at, zone)}" for p in pages]
    upcoming = await store.overrides_between(session, schedule_id=schedule.id, start=now, end=now + LOOKAHEAD)
    names = {p.email: p.name for p in plan.people}
    lines.append("**Upcoming overrides**: " + ("none" if not upcoming else ""))
    lines += [f"- {names.get(o.email, o.email)} from {format_time(o.starts_at, zone)} to {format_time(o.ends_at, zone)}"
              for o in upcoming]
    return "\n".join(lines)


def _zone_of(plan: Plan, email: str) -> ZoneInfo | None:
    person = plan.person(email)
    return ZoneInfo(person.time_zone) if person else None
