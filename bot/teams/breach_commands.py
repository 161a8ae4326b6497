"""`breach` and the card's "Possible data breach" button: start the regulatory clock, show it,
and record the decision and the notifications made (`bot.domain.breach_clock`)."""
from __future__ import annotations

from bot.domain import breach_clock, breach_rules
from bot.domain.formatting import format_time, incident_ref, viewer_zone
from bot.domain.model import Source
from bot.durations import format_duration
from bot.domain.service import Refusal, find_target
from bot.errors import Duplicate, FirebreakError, ValidationFailed
from bot.teams.card_actions import ActionContext, actions
from bot.teams.cards import message_card
from bot.teams.context import CommandContext, activity_zone
from bot.teams.incident_commands import registry, split_ref
from bot.teams.publisher import card_activity
from bot.teams.untrusted import plain

USAGE = ("breach [INC-n] | breach decision reportable|not-reportable REASON | breach notified DEADLINE WHAT | "
         "breach done DEADLINE NOTE")


def clock_lines(clock: breach_clock.Clock, *, now, zone) -> list[str]:
    """The clock as card lines: each deadline, its due time in the viewer's zone, time left or met.
    What people typed (reasons, notes) and their names go through `plain`: text, never Markdown,
    links or mentions."""
    m = clock.mark
    lines = [f"Marked a possible personal-data breach by {plain(m.marked_by_name)} at {format_time(m.marked_at, zone)}."]
    if m.decision:
        lines.append(f"Decision: **{m.decision}** by {plain(m.decided_by_name)} at {format_time(m.decided_at, zone)}: "
                     f"{plain(m.decision_reason, limit=1000)}")
    else:
        lines.append("Decision: not yet made (`breach decision reportable|not-reportable REASON`).")
    if not clock.deadlines:
        lines.append("The plan names no duty triggered by a breach, so no deadline is running.")
    for r in clock.deadlines:
        state = (f"✅ met by {plain(r.met_by_name)} at {format_time(r.met_at, zone)}: {plain(r.met_note, limit=1000)}"
                 if r.met_at else f"⏳ {breach_rules.time_left(r.due_at, now)}")
        lines.append(f"`{r.deadline_id}` ({r.duty_name}) due **{format_time(r.due_at, zone)}**: {r.action} {state}")
    return lines


def clock_card(clock: breach_clock.Clock, *, now, zone) -> dict:
    return message_card(f"⚖️ {incident_ref(clock.view.id)}: regulatory clock", clock_lines(clock, now=now, zone=zone))


def started_line(clock: breach_clock.Clock, plan, actor_name: str, zone) -> str:
    ref = incident_ref(clock.view.id)
    if not clock.started_now:
        return f"{ref} was already marked a possible data breach at {format_time(clock.mark.marked_at, zone)}; " \
               "the clock is not restarted."
    owners = sorted({r.owner_email for r in clock.deadlines})
    told = [o for o in owners if o not in clock.untold]

    def names(emails):
        return ", ".join(plan.person(o).name if plan.person(o) else o for o in emails)
    said = f" {names(told)} (duty owner) was told." if told else ""
    for owner in clock.untold:
        said += (f" {names([owner])} (duty owner) could not be told in Teams (they have not used Firebreak yet): "
                 f"tell them now, by phone or e-mail ({owner}).")
    return f"⚖️ {ref} marked a possible personal-data breach by {actor_name}; the clock started.{said}"


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


def confirm_card(plan, incident_id: int) -> dict:
    """The question one press of "Possible data breach" asks: what starting the clock does."""
    duties = breach_clock.duties(plan)
    lines = []
    for duty in duties:
        owner = plan.person(duty.owner)
        deadlines = ", ".join(f"`{d.id}` within {format_duration(d.within)}" for d in duty.deadlines)
        lines.append(f"This starts the legal deadlines of {duty.name}: {deadlines}, and tells "
                     f"{owner.name if owner else duty.owner} (the duty's owner). Start the breach clock?")
    if not duties:
        lines.append("The plan names no duty triggered by a breach, so no deadline will run; the incident is "
                     "still marked and it goes on its timeline. Start the breach clock?")
    lines.append("Not sure yet? Better a clock started in doubt than a deadline missed: "
                 "`breach decision not-reportable REASON` stops it later.")
    card = message_card(f"⚖️ {incident_ref(incident_id)}: possible personal-data breach?", lines)
    card["actions"] = [{"type": "Action.Execute", "title": "Start the breach clock", "verb": "incident.breach",
                        "data": {"incident_id": incident_id, "confirm": True}}]
    return card


@actions.action("incident.breach", who="anyone in the conversation (asks first; confirmed, starts the clock; "
                "once marked, shows it)")
async def breach_button(ctx: ActionContext) -> dict:
    """The card's "Possible data breach": the first press only asks (a new message with "Start the
    breach clock"), since one stray press must not start legal deadlines; the confirmed press
    marks the incident and the question becomes the clock. Once marked, a press shows the clock.
    The living card stays as it is."""
    iid = ctx.incident_id
    zone = viewer_zone(activity_zone(ctx.turn))
    living = ctx.app.publisher.render(await ctx.app.service.view(iid))
    confirmed = ctx.data.get("confirm") is True
    if not confirmed and not await ctx.app.service.read(lambda s: breach_clock.is_marked(s, iid)):
        await ctx.turn.send_activity(card_activity(confirm_card(ctx.app.service.plan, iid)))
        return living
    try:
        clock = await _mark(ctx.app, conversation_id=None, explicit=iid, actor=ctx.actor, source=Source.CARD,
                            dedupe=ctx.dedupe())
    except Duplicate:
        clock = await ctx.app.service.read(lambda s: breach_clock.load(s, incident_id=iid))
    except FirebreakError as error:
        await ctx.turn.send_activity(str(error))
        return living
    await ctx.turn.send_activity(started_line(clock, ctx.app.service.plan, ctx.actor.display, zone))
    card = clock_card(clock, now=ctx.app.service.clock.now(), zone=zone)
    if confirmed:
        return card  # in place of the question, so it cannot be answered twice
    await ctx.turn.send_activity(card_activity(card))
    return living
