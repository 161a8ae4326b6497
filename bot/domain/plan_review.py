"""The plan is reviewed regularly: once `plan.last_reviewed + plan.review_every` has passed, the
plan's owner is told in their 1:1 chat, and again each week until the plan says it was
reviewed (a new `last_reviewed`)."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.direct_messages import send_direct
from bot.domain.formatting import format_time
from bot.plan import Plan
from storage import queries

REMIND_EVERY = timedelta(days=7)


def review_due(plan: Plan) -> datetime:
    """When the next review is due: the review interval after the last review (UTC midnight)."""
    return datetime.combine(plan.plan.last_reviewed, time(0), tzinfo=timezone.utc) + plan.plan.review_every


def reminder_key(plan: Plan, now: datetime) -> str | None:
    """The key of the reminder due at `now` (one per week overdue), or None while not overdue."""
    due = review_due(plan)
    if now < due:
        return None
    return f"plan-review:{plan.plan.last_reviewed.isoformat()}:{(now - due) // REMIND_EVERY}"


async def remind_pending(session: AsyncSession, *, plan: Plan, now: datetime) -> bool:
    """Whether a reminder is due and not yet sent (a read, so the tick writes only when it is)."""
    key = reminder_key(plan, now)
    return key is not None and not await queries.key_claimed(session, key)


async def remind(session: AsyncSession, *, plan: Plan, now: datetime) -> bool:
    """Tell the owner the review is overdue, once per week overdue; True when told."""
    key = reminder_key(plan, now)
    if key is None:
        return False
    meta = plan.plan
    return await send_direct(
        session, key=key, email=meta.owner, now=now, summary=f"review of {meta.name} overdue",
        text=(f"📋 The response plan **{meta.name}** (version {meta.version}) was due for review on "
              f"{format_time(review_due(plan))}; it was last reviewed on {meta.last_reviewed.isoformat()}. "
              "Review it with the people it names, then set `plan.last_reviewed` (and `version`) in the plan file."))
