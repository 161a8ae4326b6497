"""Buttons on a page card (Acknowledge, Escalate now, I can't) and on a cover request (I'll
cover). Registered on the card-action registry; who pressed is recorded."""
from __future__ import annotations

from bot.domain import cover, paging
from bot.domain.model import Source
from bot.errors import Duplicate, ValidationFailed
from bot.teams.card_actions import ActionContext, actions
from bot.teams.page_cards import cover_card, page_card
from storage import paging as store


def _ids(ctx: ActionContext) -> tuple[int, int]:
    escalation_id, page_id = ctx.data.get("escalation_id"), ctx.data.get("page_id")
    if not isinstance(escalation_id, int) or not isinstance(page_id, int):
        raise ValidationFailed("This page card is missing its ids; say `status INC-7` in the incident's space.")
    return escalation_id, page_id


async def _card(ctx: ActionContext, escalation_id: int, page_id: int, state: str) -> dict:
    page = await ctx.app.service.read(lambda s: store.get_page(s, page_id))
    view = await ctx.app.service.view(page.incident_id if page else ctx.incident_id)
    return page_card(view.incident, ctx.app.service.plan, escalation_id=escalation_id, page_id=page_id,
                     level=page.level if page else 0, now=page.created_at if page else ctx.app.service.clock.now(),
                     state=state)


@actions.action("page.ack", who="anyone who can see the page")
async def acknowledge(ctx: ActionContext) -> dict:
    escalation_id, page_id = _ids(ctx)
    try:
        row, acked = await ctx.app.service.execute(lambda s, now: paging.acknowledge(
            s, escalation_id=escalation_id, actor=ctx.actor, source=Source.CARD, now=now), dedupe=ctx.dedupe())
    except Duplicate:
        row, acked = await ctx.app.service.read(lambda s: store.get_escalation(s, escalation_id)), False
    who = row.acknowledged_by if row is not None and row.acknowledged_by else "someone"
    state = ("✅ You acknowledged this page; paging stopped." if acked
             else f"Already handled: {who} acknowledged it." if row is not None and row.status == "acknowledged"
             else "This page is over: the incident was resolved or paging stopped.")
    return await _card(ctx, escalation_id, page_id, state)


def _sooner(cant: bool):
    async def handler(ctx: ActionContext) -> dict:
        escalation_id, page_id = _ids(ctx)
        try:
            row = await ctx.app.service.execute(lambda s, now: paging.escalate_sooner(
                s, escalation_id=escalation_id, actor=ctx.actor, source=Source.CARD, now=now, cant=cant),
                dedupe=ctx.dedupe())
        except Duplicate:
            row = await ctx.app.service.read(lambda s: store.get_escalation(s, escalation_id))
        if row is None or row.status != "active":
            return await _card(ctx, escalation_id, page_id, "This page is over: someone acknowledged it or paging stopped.")
        said = "Passed on: the next level is being paged now." if cant else "Escalating: the next level is being paged now."
        return await _card(ctx, escalation_id, page_id, said)

    return handler


actions.action("page.escalate", who="anyone who can see the page")(_sooner(cant=False))
actions.action("page.cant", who="the person paged (anyone may; it is recorded)")(_sooner(cant=True))


@actions.action("cover.accept", who="a member of the schedule's group (not the one who asked)")
async def accept_cover(ctx: ActionContext) -> dict:
    request_id = ctx.data.get("request_id")
    if not isinstance(request_id, int):
        raise ValidationFailed("This card is missing its request id.")
    plan = ctx.app.service.plan
    try:
        result = await ctx.app.service.execute(lambda s, now: cover.accept(
            s, plan=plan, request_id=request_id, actor=ctx.actor, now=now), dedupe=ctx.dedupe())
        request, taken = result.request, result.taken_now
    except Duplicate:
        request, taken = await ctx.app.service.read(lambda s: cover.load(s, request_id)), True
    names = {p.email: p.name for p in plan.people}
    if taken:
        outcome = "✅ You cover it; you are on call for that window."
    elif request.status == "taken":
        outcome = f"Already covered by {names.get(request.taken_by_email, request.taken_by_email)}."
    else:
        outcome = "This request has expired."
    return cover_card(request_id=request.id, requester=names.get(request.requester_email, request.requester_email),
                      schedule_name=plan.schedule(request.schedule_id).name, start=request.starts_at,
                      end=request.ends_at, outcome=outcome)
