"""On-call commands: `page`, `oncall`, `override`. Each parses, calls one domain function
through the IncidentService, and replies with what happened in the viewer's time zone."""
from __future__ import annotations

from bot.domain import escalation_rules as rules
from bot.domain import cover, overrides, paging
from bot.domain.formatting import format_time, incident_ref
from bot.durations import format_duration
from bot.domain.service import Refusal, find_target
from bot.domain.when import parse_window, split_window
from bot.errors import Duplicate, ValidationFailed
from bot.teams.context import CommandContext
from bot.teams.incident_commands import assignee_of, registry, split_ref

PAGE_USAGE = "page @person|schedule:ID|group:ID|service:ID [message]"


def _names(plan, emails) -> str:
    people = {p.email: p.name for p in plan.people}
    return ", ".join(people.get(e, e) for e in emails) or "nobody"


@registry.command("page", usage=PAGE_USAGE, summary="Page someone, a schedule, a group or a service's policy")
async def page(ctx: CommandContext) -> None:
    explicit, rest = split_ref(ctx.command.args)
    words = rest.split()
    if not words:
        raise ValidationFailed(f"Who should I page? Say `{PAGE_USAGE}`.")
    plan = ctx.app.service.plan
    first = words[0].lower()
    timeout = plan.paging.default_timeout
    if first.startswith("schedule:"):
        schedule = plan.schedule(first.split(":", 1)[1])
        snapshot, who, message = rules.PolicySnapshot.one_level([f"schedule:{schedule.id}"], timeout), \
            f"whoever is on call for {schedule.name}", words[1:]
    elif first.startswith("group:"):
        group = plan.group(first.split(":", 1)[1])
        snapshot, who, message = rules.PolicySnapshot.one_level([f"group:{group.id}"], timeout), \
            f"everyone in {group.name}", words[1:]
    elif first.startswith("service:"):
        service = plan.service(first.split(":", 1)[1])
        if not service.escalation_policy:
            raise ValidationFailed(f"{service.name} names no escalation policy in the plan; page a schedule or "
                                   "a group instead (`page schedule:ID`).")
        snapshot = rules.PolicySnapshot.from_policy(plan.escalation_policy(service.escalation_policy))
        who, message = f"{service.name}'s escalation policy ({service.escalation_policy})", words[1:]
    else:
        person, after = await _person_and_rest(ctx, rest)
        if not person.email:
            raise ValidationFailed(f"I do not know {person.display}'s e-mail yet, so I cannot find how to reach them.")
        snapshot = rules.PolicySnapshot.one_level([f"person:{person.email.lower()}"], timeout)
        who, message = person.display, after.split()
    text = " ".join(message).strip()
    reason = f"{ctx.actor.display} paged {who}" + (f": {text}" if text else "")

    async def op(session, now):
        iid = await find_target(session, conversation_id=ctx.conversation_id, explicit=explicit)
        await paging.start(session, plan=plan, incident_id=iid, snapshot=snapshot, reason=reason, actor=ctx.actor,
                           source=ctx.source, now=now)
        return iid

    try:
        iid = await ctx.app.service.execute(op, dedupe=ctx.dedupe, refusal=Refusal(ctx.actor, ctx.source, "page"))
    except Duplicate:
        return
    wait = format_duration(snapshot.levels[0].after)
    await ctx.reply(f"Paging {who} for {incident_ref(iid)}: {wait} to acknowledge before "
                    f"{'the next level' if len(snapshot.levels) > 1 else 'the incident manager is told'}. "
                    "Acknowledgements show here.")


async def _person_and_rest(ctx: CommandContext, text: str):
    """`me ...` or `@Person ...`: the person, and the text after them."""
    words = text.split()
    if words and words[0].lower() in ("me", "myself"):
        return ctx.actor, " ".join(words[1:])
    if not ctx.command.mentions:
        raise ValidationFailed(f"I can page an @mention, `me`, `schedule:ID`, `group:ID` or `service:ID`. "
                               f"Say `{PAGE_USAGE}`.")
    person = await assignee_of(ctx, [])
    return person, text.replace(f"@{ctx.command.mentions[0].name}", "", 1).strip()


@registry.command("oncall", usage="oncall [SCHEDULE]", summary="Who is on call now and next", aliases=("on-call",))
async def oncall(ctx: CommandContext) -> None:
    plan = ctx.app.service.plan
    if not plan.schedules:
        raise ValidationFailed("The plan has no on-call schedules yet (see `schedules` in plans/example.yaml).")
    named = ctx.command.args.strip()
    schedules = [plan.schedule(named)] if named else list(plan.schedules)
    now = ctx.app.service.clock.now()
    lines = []
    for schedule in schedules:
        view = await ctx.app.service.read(lambda s, sc=schedule: overrides.on_call_now(s, schedule=sc, now=now))
        lines.append(_describe(plan, view, ctx.zone))
    await ctx.reply("\n\n".join(lines))


def _describe(plan, view: overrides.OnCallNow, zone) -> str:
    cur, nxt = view.current, view.following
    head = f"**{view.schedule.name}** (`{view.schedule.id}`)"
    if cur.people:
        line = f"{head}: {_names(plan, cur.people)} until {format_time(cur.end, zone)}"
    else:
        line = f"{head}: ⚠️ **NOBODY is on call** until {format_time(cur.end, zone)}. Pages to this schedule reach no one."
    if nxt is not None:
        line += f"; then {_names(plan, nxt.people) if nxt.people else '⚠️ nobody'} from {format_time(nxt.start, zone)}"
    later_gaps = [g for g in view.gaps if g.start > cur.start]
    if later_gaps:
        first = later_gaps[0]
        line += (f". ⚠️ Gap in the next 7 days: {format_time(first.start, zone)} to {format_time(first.end, zone)}"
                 + (f" (and {len(later_gaps) - 1} more)" if len(later_gaps) > 1 else ""))
    return line


@registry.command("override", usage="override @person|me [SCHEDULE] from .. to ..",
                  summary="Put someone on call for a while", in_manifest=False)
async def override(ctx: CommandContext) -> None:
    head, phrase = split_window(ctx.command.args)
    if not phrase:
        raise ValidationFailed("When? Say `override @person [SCHEDULE] from tomorrow 09:00 to tomorrow 17:00` "
                               "(or `from now for 4h`).")
    person, rest = await _person_and_rest(ctx, head)
    plan = ctx.app.service.plan
    schedule = overrides.pick_schedule(plan, rest.split()[-1] if rest.split() else None,
                                       email=(person.email or "").lower())
    now = ctx.app.service.clock.now()
    window = parse_window(phrase, now=now, zone=ctx.zone)
    if not person.email:
        raise ValidationFailed(f"I do not know {person.display}'s e-mail yet; they need to be in the plan's people.")

    try:
        row = await ctx.app.service.execute(lambda s, now: overrides.add_override(
            s, plan=plan, schedule=schedule, email=person.email, window=window, actor=ctx.actor, now=now),
            dedupe=ctx.dedupe)
    except Duplicate:
        return
    replaced = f" (instead of {_names(plan, row.replaces_email.split(', '))})" if row.replaces_email else ""
    await ctx.reply(f"{person.display} is on call for {schedule.name} from {format_time(window.start, ctx.zone)} "
                    f"to {format_time(window.end, ctx.zone)}{replaced}.")


@registry.command("cover", usage="cover me [SCHEDULE] from .. to ..",
                  summary="Ask your schedule's group to cover you", in_manifest=False)
async def cover_me(ctx: CommandContext) -> None:
    head, phrase = split_window(ctx.command.args)
    words = head.split()
    if not words or words[0].lower() not in ("me", "myself") or not phrase:
        raise ValidationFailed("Say `cover me [SCHEDULE] from tomorrow 09:00 to tomorrow 17:00` (or `from now for 4h`).")
    plan = ctx.app.service.plan
    schedule = overrides.pick_schedule(plan, words[1] if len(words) > 1 else None,
                                       email=(ctx.actor.email or "").lower())
    window = parse_window(phrase, now=ctx.app.service.clock.now(), zone=ctx.zone)
    try:
        request, asked = await ctx.app.service.execute(lambda s, now: cover.ask(
            s, plan=plan, schedule=schedule, window=window, actor=ctx.actor, now=now), dedupe=ctx.dedupe)
    except Duplicate:
        return
    await ctx.reply(f"I asked {', '.join(asked)} to cover you on {schedule.name} from "
                    f"{format_time(window.start, ctx.zone)} to {format_time(window.end, ctx.zone)}. "
                    "The first to accept gets it, and I will tell you who.")
