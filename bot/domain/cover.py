"""`cover me`: ask the schedule's group for a volunteer; the first to accept gets the override.

The request is a row; each volunteer asked gets a 1:1 card with "I'll cover". Accepting locks
the row, so two people pressing at once cannot both take it: the second is told who did. The
override itself is made by `overrides.add_override`, audited like any other.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import overrides
from bot.domain.formatting import format_time
from bot.domain.model import Actor
from bot.domain.direct_messages import DIRECT_RENDER
from bot.domain.when import Window
from bot.errors import NotFound, PermissionDenied, ValidationFailed
from bot.plan import Plan
from bot.plan_oncall import Schedule
from storage import outbox, queries
from storage.bindings import get_binding
from storage.paging import CoverRequest, get_cover_request

COVER_RENDER = "cover_request"  # a 1:1 card with "I'll cover" (sender: bot/teams/outbound.py)


async def ask(session: AsyncSession, *, plan: Plan, schedule: Schedule, window: Window, actor: Actor,
              now: datetime) -> tuple[CoverRequest, list[str]]:
    """Create the request and queue a card to each volunteer; (request, names of those asked)."""
    email = (actor.email or "").lower()
    if email not in overrides.responsible(plan, schedule):
        raise PermissionDenied(f"You are not on {schedule.name}, so there is nothing to cover.", action="cover me")
    if not schedule.group:
        raise ValidationFailed(f"{schedule.name} names no `group` in the plan to ask; use `override @person` instead.")
    volunteers = sorted(plan.members_of(schedule.group) - {email})
    known = await queries.aad_ids_by_email(session, volunteers)
    if not known:
        raise ValidationFailed(f"Nobody in {plan.group(schedule.group).name} has used Teams with me yet, so I cannot "
                               "ask them; ask someone directly and use `override @person`.")
    request = CoverRequest(schedule_id=schedule.id, requester_email=email, requester_aad=actor.aad_id,
                           starts_at=window.start, ends_at=window.end, created_at=now)
    session.add(request)
    await session.flush()
    channel = await get_binding(session, "incidents")
    for volunteer, aad in sorted(known.items()):
        await outbox.enqueue(session, key=f"cover:{request.id}:{volunteer}", conversation_id=f"user:{aad}", now=now,
                             payload={"render": COVER_RENDER, "request_id": request.id, "user_aad": aad,
                                      "via": channel.channel_id if channel else None,
                                      "summary": f"cover request {request.id}"})
    names = {p.email: p.name for p in plan.people}
    return request, [names.get(v, v) for v in sorted(known)]


@dataclass(frozen=True)
class Accepted:
    request: CoverRequest
    taken_now: bool  # False: someone else took it first (request.taken_by_email says who)


async def accept(session: AsyncSession, *, plan: Plan, request_id: int, actor: Actor, now: datetime) -> Accepted:
    """Take the request if it is still open: the override is made for the one who accepts."""
    request = await get_cover_request(session, request_id, lock=True)
    if request is None:
        raise NotFound("That cover request no longer exists.")
    if request.status != "open":
        return Accepted(request, taken_now=False)
    if request.ends_at <= now:
        request.status = "expired"
        return Accepted(request, taken_now=False)
    email = (actor.email or "").lower()
    if email == request.requester_email:
        raise ValidationFailed("You asked for cover; someone else needs to take it.")
    window = Window(start=max(request.starts_at, now), end=request.ends_at)
    row = await overrides.add_override(session, plan=plan, schedule=plan.schedule(request.schedule_id), email=email,
                                       window=window, actor=actor, now=now)
    request.status, request.taken_by_email, request.override_id, request.taken_at = "taken", email, row.id, now
    if request.requester_aad:
        schedule = plan.schedule(request.schedule_id)
        await outbox.enqueue(session, key=f"cover-taken:{request.id}", conversation_id=f"user:{request.requester_aad}",
                             now=now, payload={"render": DIRECT_RENDER, "user_aad": request.requester_aad,
                                               "text": f"✅ {actor.display} covers you on {schedule.name} from "
                                                       f"{format_time(window.start)} to {format_time(window.end)}.",
                                               "summary": f"cover request {request.id} taken"})
    return Accepted(request, taken_now=True)


async def load(session: AsyncSession, request_id: int) -> CoverRequest | None:
    return await get_cover_request(session, request_id)
