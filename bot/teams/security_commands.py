"""`breakglass` and `followups`: emergency account procedures for the people the plan allows,
and the follow-up items every use opens.

The procedure is shown privately: as a reply when asked in the 1:1 chat with the bot, else in
that 1:1 chat through the outbox, with only "sent privately" said where it was asked. In an
incident's space (or naming `INC-n`) the request goes on that incident's timeline; anywhere
else it is still on the audit trail, and security is told either way.
"""
from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import breakglass, follow_ups
from bot.domain.formatting import format_time, incident_ref, looks_like_incident_ref, parse_incident_ref
from bot.domain.service import Refusal, find_target
from bot.errors import Duplicate, NotFound, ValidationFailed
from bot.teams.cards import message_card
from bot.teams.context import CommandContext
from bot.teams.incident_commands import registry, split_ref
from bot.teams.untrusted import plain
from storage import follow_ups as follow_up_store

BREAKGLASS_USAGE = "breakglass [ACCOUNT] [INC-n]"
FOLLOWUPS_USAGE = "followups [all] [INC-n] | followup close N NOTE"


def _in_personal_chat(ctx: CommandContext) -> bool:
    return (ctx.turn.activity.conversation.conversation_type or "") == "personal"


async def _incident_here(session: AsyncSession, ctx: CommandContext, explicit: int | None) -> int | None:
    """The incident named or living in this conversation; None when there is none (the request
    is then on the audit trail only). Several open here: the user must name one."""
    try:
        return await find_target(session, conversation_id=ctx.conversation_id, explicit=explicit)
    except NotFound:
        if explicit is not None:
            raise
        return None


def _words_and_ref(args: str) -> tuple[int | None, list[str]]:
    explicit, rest = split_ref(args)
    words = rest.split()
    if explicit is None and words and looks_like_incident_ref(words[-1]):
        explicit, words = parse_incident_ref(words[-1]), words[:-1]
    return explicit, words


@registry.command("breakglass", usage=BREAKGLASS_USAGE, in_manifest=False,
                  summary="Emergency account procedure (allowed people only; security is told)")
async def breakglass_command(ctx: CommandContext) -> None:
    plan = ctx.app.service.plan
    bg = breakglass.section(plan)
    explicit, words = _words_and_ref(ctx.command.args)
    if not words:
        await ctx.reply_card(_accounts_card(plan, bg, ctx))
        return
    if len(words) > 1:
        raise ValidationFailed(f"Say `breakglass ACCOUNT` with one account id, e.g. `breakglass {bg.accounts[0].id}`.")
    account = breakglass.find_account(plan, words[0], ctx.actor)
    personal = _in_personal_chat(ctx)
    request_key = f"{ctx.conversation_id}:{ctx.turn.activity.id or ''}"
    if not personal and breakglass.may_use(plan, account, ctx.actor.email) and \
            not await ctx.app.service.read(lambda s: breakglass.can_reach_privately(s, ctx.actor)):
        raise ValidationFailed(
            f"I can't send you the procedure privately from here yet (no incidents channel is set up, and we have "
            f"no 1:1 chat). Open your chat with me in Teams and say `breakglass {account.id}` there. Nothing was recorded.")

    async def op(session, now):
        iid = await _incident_here(session, ctx, explicit)
        return await breakglass.request(session, plan=plan, account=account, actor=ctx.actor, incident_id=iid,
                                        request_key=request_key, send_procedure=not personal, source=ctx.source,
                                        now=now)

    try:
        outcome = await ctx.app.service.execute(op, dedupe=ctx.dedupe)
    except Duplicate:
        return
    told = _security_told(plan.group(bg.notify_group).name, outcome)
    where = f" ({incident_ref(outcome.incident_id)})" if outcome.incident_id is not None else \
        " (no incident here: it is on the audit trail)"
    if not outcome.allowed:
        await ctx.reply(f"Sorry {ctx.actor.display}, you may not use the break-glass account `{account.id}`: only "
                        f"{breakglass.who_may(plan, account)} may. Your attempt was recorded{where} and {told}")
        return
    ids = ", ".join(f"#{i}" for i in outcome.follow_up_ids)
    recorded = f"Recorded as a security event{where}; {told} Follow-ups opened: {ids} (say `followups`)."
    if personal:
        await ctx.reply(breakglass.procedure_text(account, incident_id=outcome.incident_id))
        await ctx.reply(recorded)
    else:
        await ctx.reply(f"{ctx.actor.display}, I sent you the break-glass procedure for `{account.id}` privately, "
                        f"in your 1:1 chat with me. {recorded}")


def _security_told(security: str, outcome: breakglass.Outcome) -> str:
    """Who in security heard of it, said plainly when nobody could be told in Teams."""
    if outcome.nobody_told and outcome.posted_in_channel:
        return (f"{security} could not be told in Teams (not reachable yet: {', '.join(outcome.untold) or 'nobody else'}"
                "), so I posted it in the incidents channel; call them as well.")
    if outcome.nobody_told:
        why = ("this incident is need-to-know, so it is not posted in the incidents channel" if outcome.need_to_know
               else "no incidents channel is set up")
        return (f"⚠️ {security} could not be told: none of them can be reached in Teams and {why}. "
                f"Call them now: {', '.join(outcome.unreached) or 'nobody else is in the group'}.")
    return f"{security} were told" + (f" ({', '.join(outcome.told)})" if outcome.told else "") + \
        (f"; not reachable in Teams yet: {', '.join(outcome.untold)}" if outcome.untold else "") + "."


def _accounts_card(plan, bg, ctx: CommandContext) -> dict:
    yours = [a for a in bg.accounts if breakglass.may_use(plan, a, ctx.actor.email)]
    others = [a for a in bg.accounts if a not in yours]
    lines = [f"`{a.id}`: {a.name}. Say `breakglass {a.id}` for its procedure." for a in yours] or \
        ["You may not use any break-glass account."]
    if others:
        lines.append("Accounts you may not use:")
        lines += [f"`{a.id}`: {a.name} (only {breakglass.who_may(plan, a)})" for a in others]
    lines.append(f"Every request is recorded and {plan.group(bg.notify_group).name} are told at once.")
    return message_card("Break-glass accounts you may use", lines)


@registry.command("followups", usage=FOLLOWUPS_USAGE, aliases=("followup", "follow-ups"), in_manifest=False,
                  summary="List open follow-up items, or close one with a note")
async def followups_command(ctx: CommandContext) -> None:
    words = ctx.command.args.split()
    if words and words[0].lower() == "close":
        await _close(ctx, words[1:])
        return
    explicit, words = _words_and_ref(ctx.command.args)
    include_closed = bool(words) and words[0].lower() == "all"
    if words[1 if include_closed else 0:]:
        raise ValidationFailed("Say `followups`, `followups all`, `followups INC-7` or `followup close N NOTE`.")
    plan = ctx.app.service.plan
    hide = None if follow_ups.may_see_all(plan, ctx.actor) else follow_ups.BREAKGLASS

    async def read(session):
        listed = await follow_up_store.listed(session, include_closed=include_closed, incident_id=explicit,
                                              hide_kind=hide, shown_to_aad=ctx.actor.aad_id)
        hidden = hide is not None and await follow_up_store.any_hidden(
            session, include_closed=include_closed, incident_id=explicit, hide_kind=hide, shown_to_aad=ctx.actor.aad_id)
        return (*listed, hidden)

    items, total, hidden = await ctx.app.service.read(read)
    scope = f" of {incident_ref(explicit)}" if explicit is not None else ""
    title = f"{'Follow-up items' if include_closed else 'Open follow-up items'}{scope}"
    lines = [item_line(i, zone=ctx.zone) for i in items] or ["None."]
    if total > len(items):
        lines.append(f"… and {total - len(items)} more.")
    if hidden:
        group = plan.group(plan.breakglass.notify_group).name if plan.breakglass else "security"
        lines.append(f"Some break-glass follow-up items are not shown to you: only members of {group} and whoever "
                     "used the account see them.")
    lines.append("Close one with `followup close N NOTE` (the note says what was done).")
    await ctx.reply_card(message_card(title, lines))


def item_line(item: follow_up_store.FollowUp, *, zone) -> str:
    """One item for a list: id, incident, text, what it follows up, and its state. What people
    typed (the close note) and names go through `plain`: text, never Markdown, links or mentions."""
    where = f"{incident_ref(item.incident_id)} · " if item.incident_id is not None else ""
    state = (f"open since {format_time(item.opened_at, zone)}" if item.is_open
             else f"closed by {plain(item.closed_by_name)} at {format_time(item.closed_at, zone)}: "
                  f"{plain(item.close_note, limit=1000)}")
    return f"**#{item.id}** {where}{item.text} ({plain(item.subject, limit=300)}); {state}"


async def _close(ctx: CommandContext, words: list[str]) -> None:
    if not words or not words[0].lstrip("#").isdigit():
        raise ValidationFailed("Say `followup close N NOTE`, e.g. `followup close 3 credentials rotated, sealed again`.")
    item_id, note = int(words[0].lstrip("#")), " ".join(words[1:])
    plan = ctx.app.service.plan
    try:
        item = await ctx.app.service.execute(
            lambda s, now: follow_ups.close(s, plan=plan, item_id=item_id, note=note, actor=ctx.actor,
                                            source=ctx.source, now=now),
            dedupe=ctx.dedupe, refusal=Refusal(ctx.actor, ctx.source, f"close follow-up #{item_id}"))
    except Duplicate:
        return
    where = f" (on {incident_ref(item.incident_id)}'s timeline)" if item.incident_id is not None else ""
    await ctx.reply(f"Follow-up #{item.id} closed by {ctx.actor.display}{where}: {item.text}")
