"""`handover`: pass a role on, with a summary for the person taking it."""
from __future__ import annotations

from bot.domain import handover as handovers
from bot.domain.formatting import incident_ref, looks_like_incident_ref, parse_incident_ref
from bot.domain.model import ROLE_ALIASES, ROLE_LABELS
from bot.domain.service import Refusal, find_target
from bot.errors import Duplicate, ValidationFailed
from bot.teams.cards import handover_card
from bot.teams.context import CommandContext
from bot.teams.incident_commands import assignee_of, registry, split_ref

ROLES = "manager, postmortem, comms or scribe"


@registry.command("handover", usage="handover manager|postmortem|comms|scribe @person|me [INC-n]",
                  summary="Hand a role over, with a summary for the new holder", in_manifest=False)
async def handover(ctx: CommandContext) -> None:
    explicit, rest = split_ref(ctx.command.args)
    words = rest.split()
    if not words or words[0].lower() not in ROLE_ALIASES:
        raise ValidationFailed(f"Say `handover ROLE @person`; the role is {ROLES}.")
    role = ROLE_ALIASES[words[0].lower()]
    if explicit is None and looks_like_incident_ref(words[-1]):
        explicit, words = parse_incident_ref(words[-1]), words[:-1]
    to = await assignee_of(ctx, words[1:])
    plan = ctx.app.service.plan

    async def op(session, now):
        iid = await find_target(session, conversation_id=ctx.conversation_id, explicit=explicit)
        return await handovers.handover(session=session, plan=plan, incident_id=iid, role=role, to=to,
                                        actor=ctx.actor, source=ctx.source, now=now)

    try:
        summary = await ctx.app.service.execute(
            op, dedupe=ctx.dedupe, refusal=Refusal(ctx.actor, ctx.source, f"hand over {ROLE_LABELS[role].lower()}"))
    except Duplicate:
        return
    await ctx.app.publisher.refresh(summary.view.id, turn=ctx.turn)
    await ctx.reply(f"{ctx.actor.display} handed the {ROLE_LABELS[role].lower()} role of "
                    f"{incident_ref(summary.view.id)} to {to.display}.")
    await ctx.reply_card(handover_card(summary, zone=ctx.zone))
