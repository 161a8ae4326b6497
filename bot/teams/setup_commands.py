"""`setup`: tell Firebreak which channel of which team does what."""
from __future__ import annotations

import json

from botbuilder.core import TurnContext
from botbuilder.core.teams.teams_activity_extensions import teams_get_channel_data

from bot.domain import conversations, setup
from bot.domain.formatting import format_time
from bot.domain.model import Source
from bot.domain.service import Refusal
from bot.errors import Duplicate, ValidationFailed
from bot.teams.cards import message_card
from bot.teams.context import CommandContext
from bot.teams.incident_commands import registry

NOT_A_CHANNEL = (
    "Say this in the channel you want to use, in a team where Firebreak is installed "
    "(@mention me there: `@Firebreak setup incidents`)."
)


def channel_place(turn: TurnContext) -> setup.ChannelPlace:
    """The team and channel this message was posted in, or ValidationFailed outside a channel."""
    activity = turn.activity
    data = teams_get_channel_data(activity)
    if activity.conversation.conversation_type != "channel" or data is None or not data.team or not data.channel:
        raise ValidationFailed(NOT_A_CHANNEL)
    reference = TurnContext.get_conversation_reference(activity)
    reference.conversation.id = data.channel.id  # the channel itself, not the thread this came in
    reference.activity_id = None
    extra = data.team.additional_properties or {}
    return setup.ChannelPlace(
        team_id=data.team.id,
        team_name=data.team.name or "",
        team_aad_group_id=data.team.aad_group_id or extra.get("aadGroupId"),
        channel_id=data.channel.id,
        channel_name=data.channel.name or ("General" if data.channel.id == data.team.id else ""),
        reference_json=json.dumps(reference.serialize(), sort_keys=True),
        service_url=activity.service_url,
        tenant_id=activity.conversation.tenant_id,
    )


@registry.command("setup", usage="setup [incidents|announcements]",
                  summary="Show or set the incidents and announcements channels", in_manifest=False)
async def setup_command(ctx: CommandContext) -> None:
    words = ctx.command.args.lower().split()
    if not words:
        await _show(ctx)
        return
    if len(words) != 1 or words[0] not in setup.PURPOSES:
        raise ValidationFailed("Say `setup` to see the current setup, or `setup incidents` / `setup announcements` "
                               "in the channel you want to use.")
    purpose = words[0]
    place = channel_place(ctx.turn)
    try:
        previous = await ctx.app.service.execute(
            lambda s, now: setup.bind_channel(s, plan=ctx.app.service.plan, purpose=purpose, place=place,
                                              actor=ctx.actor, now=now),
            dedupe=ctx.dedupe, refusal=Refusal(ctx.actor, Source.COMMAND, f"setup {purpose}"),
        )
    except Duplicate:
        return
    where = _channel_label(place.channel_name, place.team_name)
    label, meaning = setup.PURPOSES[purpose]
    was = f" (it was {_channel_label(previous.channel_name, previous.team_name)})" if previous else ""
    await ctx.reply(f"Done: {where} is now {label}{was}. {meaning}")


async def _show(ctx: CommandContext) -> None:
    current = {b.purpose: b for b in await ctx.app.service.read(setup.current_bindings)}
    lines = []
    for purpose, (label, meaning) in setup.PURPOSES.items():
        binding = current.get(purpose)
        if binding is None:
            lines.append(f"**{purpose}**: not set. Say `setup {purpose}` in the channel to use as {label}. {meaning}")
        else:
            when = format_time(binding.set_at, ctx.zone)
            lines.append(f"**{purpose}**: {_channel_label(binding.channel_name, binding.team_name)}, "
                         f"set by {binding.set_by_name} on {when}.")
    plan = ctx.app.service.plan
    known = await ctx.app.service.read(conversations.known_people_emails)
    missing = [p.email for p in plan.people if p.email.lower() not in known]
    found = len(plan.people) - len(missing)
    people = f"People in the plan known in Teams: {found} of {len(plan.people)}."
    if missing:
        people += f" Not seen yet: {', '.join(missing[:10])}{' …' if len(missing) > 10 else ''}."
    lines.append(people)
    lines.append(f"Who may change this: {setup.who_may_configure(plan)}.")
    await ctx.reply_card(message_card("Firebreak setup", lines))


def _channel_label(channel: str, team: str) -> str:
    name = f"#{channel}" if channel else "this channel"
    return f"{name} in {team}" if team else name
