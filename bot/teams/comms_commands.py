"""`comms`, `comms sent`, `tools`, and the comms buttons (`incident.comms`, `comms.sent`).

`comms` shows who must be told about the incident of this space (bot/domain/comms.py) with
each message ready to copy; `comms sent AUDIENCE [note]` or the card's "Mark as sent" records
that it went. Anyone in the conversation may record a send: the plan's `sender` says who
should send it, but whoever actually did is who the timeline names.
"""
from __future__ import annotations

from bot.domain import comms
from bot.domain.formatting import format_time, incident_ref, viewer_zone
from bot.domain.model import Source
from bot.domain.service import Refusal, find_target
from bot.errors import Duplicate, ValidationFailed
from bot.teams.card_actions import ActionContext, actions
from bot.teams.comms_cards import comms_card, note_input_id, text_input_id, tools_card
from bot.teams.context import CommandContext, TeamsServices, activity_zone
from bot.teams.incident_commands import registry, split_ref, target_of
from bot.teams.publisher import card_activity

USAGE = "comms [INC-n] | comms sent AUDIENCE [note]"


async def render_comms(app: TeamsServices, incident_id: int, *, zone) -> dict:
    """The comms card for an incident as it stands now (its last sends read from the timeline)."""
    plan = app.service.plan
    view = await app.service.view(incident_id)
    sent = await app.service.read(lambda s: comms.last_sent(s, incident_id))
    items = comms.comms_plan(plan, view, now=app.service.clock.now(), sent=sent)
    none_text = None if items else comms.none_apply_text(plan, view.incident)
    return comms_card(view, plan, items, none_text=none_text, zone=zone)


@registry.command("comms", usage=USAGE, summary="Who must be told about this incident, with ready-to-send messages",
                  in_manifest=False)
async def comms_command(ctx: CommandContext) -> None:
    explicit, rest = split_ref(ctx.command.args)
    words = rest.split(maxsplit=2)
    if not words:
        await ctx.reply_card(await render_comms(ctx.app, await target_of(ctx, explicit), zone=ctx.zone))
        return
    if words[0].lower() != "sent":
        raise ValidationFailed(f"Say `comms` to see who must be told, or `comms sent AUDIENCE [note]` once you "
                               f"have sent a message (usage: `{USAGE}`).")
    if len(words) < 2:
        iid = await target_of(ctx, explicit)
        view = await ctx.app.service.view(iid)
        ids = ", ".join(a.id for a in comms.audiences_for(ctx.app.service.plan, view.incident)) or "none"
        raise ValidationFailed(f"Which audience? Say `comms sent AUDIENCE [note]`; for {incident_ref(iid)}: {ids}.")
    audience_id, note = words[1], (words[2] if len(words) > 2 else None)
    plan = ctx.app.service.plan

    async def op(session, now):
        iid = await find_target(session, conversation_id=ctx.conversation_id, explicit=explicit)
        audience = await comms.mark_sent(session, plan=plan, incident_id=iid, audience_id=audience_id,
                                         actor=ctx.actor, source=ctx.source, now=now, note=note)
        return iid, audience, now

    try:
        iid, audience, at = await ctx.app.service.execute(
            op, dedupe=ctx.dedupe, refusal=Refusal(ctx.actor, ctx.source, "record a message as sent"))
    except Duplicate:
        return
    await ctx.reply(f"Recorded on the timeline of {incident_ref(iid)}: the message to {audience.name} "
                    f"({audience.where}) was sent by {ctx.actor.display} at {format_time(at, ctx.zone)}. "
                    "Say `comms` to see the others.")


@registry.command("tools", usage="tools", summary="The tools responders use during incidents, and how to get access",
                  in_manifest=False)
async def tools_command(ctx: CommandContext) -> None:
    await ctx.reply_card(tools_card(ctx.app.service.plan))


@actions.action("incident.comms", who="anyone in the conversation")
async def show_comms(ctx: ActionContext) -> dict:
    """Post the comms card as a new message and leave the living card as it is."""
    card = await render_comms(ctx.app, ctx.incident_id, zone=viewer_zone(activity_zone(ctx.turn)))
    await ctx.turn.send_activity(card_activity(card))
    return ctx.app.publisher.render(await ctx.app.service.view(ctx.incident_id))


@actions.action("comms.sent", who="anyone in the conversation")
async def mark_sent(ctx: ActionContext) -> dict:
    """Record the message in the card's box as sent to its audience; the card then shows when and by whom."""
    iid = ctx.incident_id
    audience_id = str(ctx.data.get("audience") or "")
    if not audience_id:
        raise ValidationFailed("This button names no audience; say `comms` for a fresh card.")
    text = ctx.data.get(text_input_id(audience_id))
    note = ctx.data.get(note_input_id(audience_id))
    plan = ctx.app.service.plan
    try:
        await ctx.app.service.execute(
            lambda s, now: comms.mark_sent(s, plan=plan, incident_id=iid, audience_id=audience_id, actor=ctx.actor,
                                           source=Source.CARD, now=now, text=text if isinstance(text, str) else None,
                                           note=note if isinstance(note, str) else None),
            dedupe=ctx.dedupe(), refusal=Refusal(ctx.actor, Source.CARD, "record a message as sent"))
    except Duplicate:
        pass  # the same press delivered twice: recorded once, show the card as it is
    return await render_comms(ctx.app, iid, zone=viewer_zone(activity_zone(ctx.turn)))
