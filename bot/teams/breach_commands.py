"""`breach` and the card's "Possible data breach" button: start the regulatory clock, show it,
and record the decision and the notifications made (`bot.domain.breach_clock`)."""
from __future__ import annotations

from bot.domain import breach_clock
from bot.domain.formatting import format_time, incident_ref, viewer_zone
from bot.domain.model import Source
from bot.domain.service import Refusal, find_target
from bot.errors import Duplicate, FirebreakError, ValidationFailed
from bot.teams.card_actions import ActionContext, actions
from bot.teams.cards import message_card
from bot.teams.context import CommandContext, activity_zone
from bot.teams.incident_commands import registry, split_ref
from bot.teams.publisher import card_activity

USAGE = ("breach [INC-n] | breach decision reportable|not-reportable REASON | breach notified DEADLINE WHAT | "
         "breach done DEADLINE NOTE")


def clock_card(clock: breach_clock.Clock, *, now, zone) -> dict:
    return message_card(f"⚖️ {incident_ref(clock.view.id)}: regulatory clock",
                        breach_clock.clock_lines(clock, now=now, zone=zone))


def started_line(clock: breach_clock.Clock, plan, actor_name: str, zone) -> str:
    ref = incident_ref(clock.view.id)
    if not clock.started_now:
        return f"{ref} was already marked a possible data breach at {format_time(clock.mark.marked_at, zone)}; " \
               "the clock is not restarted."
    owners = sorted({r.owner_email for r in clock.deadlines})
    names = ", ".join(plan.person(o).name if plan.person(o) else o for o in owners)
    told = f" {names} (duty owner) was told." if owners else ""
    return f"⚖️ {ref} marked a possible personal-data breach by {actor_name}; the clock started.{told}"


async def _mark(app, *, conversation_id: str | None, explicit: int | None, actor, source, dedupe):
    plan = app.service.plan

    async def op(session, now):
        iid = await find_target(session, conversation_id=conversation_id, explicit=explicit)
        return await breach_clock.mark(session, plan=plan, incident_id=iid, actor=actor, source=source, now=now)

    return await app.service.execute(op, dedupe=dedupe)


@registry.command("breach", usage=USAGE, in_manifest=False,
                  summary="Mark a possible personal-data breach (starts the plan's deadlines), show its clock")
async def breach_command(ctx: CommandContext) -> None:
    explicit, rest = split_ref(ctx.command.args)
    words = rest.split()
    sub = words[0].lower() if words else ""
    if sub in ("", "clock", "status", "mark"):
        if len(words) > 1:
            raise ValidationFailed(f"Say `breach` on its own to mark or see the clock. Usage: {USAGE}")
        await _mark_or_show(ctx, explicit)
    elif sub == "decision":
        if len(words) < 2:
            raise ValidationFailed("Say `breach decision reportable REASON` or `breach decision not-reportable REASON`.")
        await _change(ctx, explicit, "record the breach decision", lambda s, now, iid, plan: breach_clock.decide(
            s, plan=plan, incident_id=iid, decision=words[1].lower(), reason=" ".join(words[2:]), actor=ctx.actor,
            source=ctx.source, now=now))
    elif sub in ("notified", "done"):
        if len(words) < 2:
            raise ValidationFailed(f"Say `breach {sub} DEADLINE {'WHAT' if sub == 'notified' else 'NOTE'}`; "
                                   "`breach` shows the deadlines.")
        await _change(ctx, explicit, "meet a breach deadline", lambda s, now, iid, plan: breach_clock.meet(
            s, plan=plan, incident_id=iid, deadline=words[1], note=" ".join(words[2:]), notified=sub == "notified",
            actor=ctx.actor, source=ctx.source, now=now))
    else:
        raise ValidationFailed(f"`breach {words[0]}` is not something I know. Usage: {USAGE}")


async def _mark_or_show(ctx: CommandContext, explicit: int | None) -> None:
    try:
        clock = await _mark(ctx.app, conversation_id=ctx.conversation_id, explicit=explicit, actor=ctx.actor,
                            source=ctx.source, dedupe=ctx.dedupe)
    except Duplicate:
        return
    if clock.started_now:
        await ctx.reply(started_line(clock, ctx.app.service.plan, ctx.actor.display, ctx.zone))
    await ctx.reply_card(clock_card(clock, now=ctx.app.service.clock.now(), zone=ctx.zone))


async def _change(ctx: CommandContext, explicit: int | None, what: str, change) -> None:
    plan = ctx.app.service.plan

    async def op(session, now):
        iid = await find_target(session, conversation_id=ctx.conversation_id, explicit=explicit)
        return await change(session, now, iid, plan)

    try:
        clock = await ctx.app.service.execute(op, dedupe=ctx.dedupe, refusal=Refusal(ctx.actor, ctx.source, what))
    except Duplicate:
        return
    await ctx.reply_card(clock_card(clock, now=ctx.app.service.clock.now(), zone=ctx.zone))


@actions.action("incident.breach", who="anyone in the conversation (marking starts the clock; again shows it)")
async def breach_button(ctx: ActionContext) -> dict:
    """Mark the incident from its card (or show the clock when it already is); the card stays."""
    iid = ctx.incident_id
    zone = viewer_zone(activity_zone(ctx.turn))
    try:
        clock = await _mark(ctx.app, conversation_id=None, explicit=iid, actor=ctx.actor, source=Source.CARD,
                            dedupe=ctx.dedupe())
    except Duplicate:
        clock = await ctx.app.service.read(lambda s: breach_clock.load(s, incident_id=iid))
    except FirebreakError as error:
        await ctx.turn.send_activity(str(error))
        return ctx.app.publisher.render(await ctx.app.service.view(iid))
    await ctx.turn.send_activity(started_line(clock, ctx.app.service.plan, ctx.actor.display, zone))
    await ctx.turn.send_activity(card_activity(clock_card(clock, now=ctx.app.service.clock.now(), zone=zone)))
    return ctx.app.publisher.render(await ctx.app.service.view(iid))
