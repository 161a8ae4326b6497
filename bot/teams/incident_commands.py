"""The incident commands users type in Teams. Each parses its arguments, calls one domain
function through the IncidentService, then refreshes the living card and replies briefly."""
from __future__ import annotations

import math
from datetime import datetime
from typing import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import incidents, spaces
from bot.domain.formatting import format_age, incident_ref, looks_like_incident_ref, parse_incident_ref
from bot.domain.model import ROLE_ALIASES, ROLE_LABELS, Actor, IncidentView, Role
from bot.domain.service import Refusal, find_target
from bot.errors import Duplicate, ValidationFailed
from bot.teams.cards import incident_card, message_card, timeline_card
from bot.teams.commands import CommandRegistry
from bot.teams.context import CommandContext, activity_tenant

registry: CommandRegistry[CommandContext] = CommandRegistry()
TIMELINE_PAGE_SIZE = 20
Change = Callable[[AsyncSession, datetime, int], Awaitable[object]]


def split_ref(args: str) -> tuple[int | None, str]:
    """A leading `INC-7` names the incident; the rest is the command's own text."""
    first, _, rest = args.strip().partition(" ")
    if first and looks_like_incident_ref(first):
        return parse_incident_ref(first), rest.strip()
    return None, args.strip()


def parse_declare_args(args: str, *, severity_ids: list[str]) -> dict:
    """`<title> [sevN] [service:<id>]` in any order -> {title, severity, service_id}."""
    title_words: list[str] = []
    found: dict = {"title": "", "severity": None, "service_id": None}
    for word in args.split():
        lower = word.lower()
        if lower in severity_ids and found["severity"] is None:
            found["severity"] = lower
        elif lower.startswith("service:") and found["service_id"] is None:
            found["service_id"] = lower.split(":", 1)[1] or None
        else:
            title_words.append(word)
    found["title"] = " ".join(title_words)
    return found


async def target_of(ctx: CommandContext, explicit: int | None) -> int:
    return await ctx.app.service.target(conversation_id=ctx.conversation_id, explicit=explicit)


async def apply_change(
    ctx: CommandContext, explicit: int | None, what: str, change: Change, *, refresh_card: bool = True
) -> int | None:
    """Find the incident and apply one change in one transaction (idempotent on the activity),
    then refresh the card. Returns the incident's number, or None for a duplicate delivery."""

    async def op(session: AsyncSession, now: datetime) -> int:
        iid = await find_target(session, conversation_id=ctx.conversation_id, explicit=explicit)
        await change(session, now, iid)
        return iid

    try:
        iid = await ctx.app.service.execute(op, dedupe=ctx.dedupe, refusal=Refusal(ctx.actor, ctx.source, what))
    except Duplicate:
        return None
    if refresh_card:
        await ctx.app.publisher.refresh(iid, turn=ctx.turn)
    return iid


@registry.command("declare", usage="declare TITLE [sev1|sev2|sev3|sev4] [service:ID]",
                  summary="Declare an incident (asks for what is missing)")
async def declare(ctx: CommandContext) -> None:
    plan = ctx.app.service.plan
    found = parse_declare_args(ctx.command.args, severity_ids=plan.severity_ids())
    if found["service_id"]:
        plan.service(found["service_id"])  # unknown service: NotFound lists the valid ones
    if not found["title"] or not found["severity"]:
        await ctx.app.start_declare_dialog(ctx.turn, found)
        return
    await declare_and_post(ctx.app, ctx.turn, ctx.actor, found, source=ctx.source, dedupe=ctx.dedupe)


async def declare_and_post(app, turn, actor: Actor, found: dict, *, source, dedupe=()) -> IncidentView | None:
    """Declare, open the incident's space, and post the living card there (shared by the command,
    the dialog and the message action). With no incidents channel set up, the space is this
    conversation."""
    view = await declare_incident(app, turn, actor, found, source=source, dedupe=dedupe)
    if view is not None:
        await post_declared(app, turn, actor, view)
    return view


async def declare_incident(app, turn, actor: Actor, found: dict, *, source, dedupe=()) -> IncidentView | None:
    """The declare itself, in one transaction; None for a duplicate delivery. Kept apart from
    posting so a caller can still say which incident it declared if Teams refuses the post."""
    activity = turn.activity
    tenant = activity_tenant(turn)
    try:
        return await app.service.execute(
            lambda s, now: incidents.declare(
                session=s, plan=app.service.plan, title=found["title"], severity=found["severity"],
                service_id=found.get("service_id"), description=found.get("description") or "", actor=actor,
                source=source, now=now, conversation_id=activity.conversation.id, tenant_id=tenant,
            ),
            dedupe=dedupe,
        )
    except Duplicate:
        return None


async def post_declared(app, turn, actor: Actor, view: IncidentView) -> None:
    """Open a declared incident's space and post its living card there (or in this conversation)."""
    activity = turn.activity
    ref = incident_ref(view.id)
    opened = await app.spaces.open(view)
    if opened.cap_warning:
        await app.service.execute(lambda s, now: spaces.warn_channel_cap(
            s, plan=app.service.plan, incident_id=view.id, warning=opened.cap_warning, now=now))
    if opened.kind == "chat":
        await app.publisher.post_living_card(turn, view)
        if opened.failed:
            note = f"{opened.failed}, so {ref} stays in this chat"
            await app.service.execute(lambda s, now: spaces.move_home(
                s, incident_id=view.id, conversation_id=activity.conversation.id, kind="chat", url=None,
                note=note, actor=actor, now=now))
            await turn.send_activity(f"{note}.")
        return
    await app.service.execute(lambda s, now: spaces.move_home(
        s, incident_id=view.id, conversation_id=opened.conversation_id, kind=opened.kind, url=opened.url,
        note=opened.note, actor=actor, now=now))
    await turn.send_activity(f"{ref} declared: {view.incident.title}. Its space is [{opened.note}]({opened.url}); "
                             "commands typed there apply to it.")
    return view


@registry.command("status", usage="status [INC-n]", summary="Show an incident's card")
async def status(ctx: CommandContext) -> None:
    explicit, _ = split_ref(ctx.command.args)
    view = await ctx.app.service.view(await target_of(ctx, explicit))
    await ctx.reply_card(incident_card(view, ctx.app.service.plan, now=ctx.app.service.clock.now(), zone=ctx.zone))


@registry.command("list", usage="list", summary="List open incidents", aliases=("ls", "incidents"))
async def list_open(ctx: CommandContext) -> None:
    items = await ctx.app.service.open_incidents()
    if not items:
        await ctx.reply("No open incidents. 🎉 Say `declare TITLE` to start one.")
        return
    now = ctx.app.service.clock.now()
    lines = [
        f"**{incident_ref(i.id)}** {i.severity.upper()} · {i.status} · {i.title} ({format_age(now - i.declared_at)} old)"  # type: ignore[arg-type]
        for i in items
    ]
    await ctx.reply_card(message_card(f"Open incidents ({len(items)})", lines))


@registry.command("ack", usage="ack [INC-n]", summary="Acknowledge an incident", aliases=("acknowledge",))
async def ack(ctx: CommandContext) -> None:
    await _transition(ctx, "ack", "acknowledged")


@registry.command("mitigate", usage="mitigate [INC-n] [what was done]", summary="Mark an incident mitigated",
                  in_manifest=False)
async def mitigate(ctx: CommandContext) -> None:
    await _transition(ctx, "mitigate", "mitigated")


@registry.command("resolve", usage="resolve [INC-n] [summary]", summary="Resolve an incident (incident manager)")
async def resolve(ctx: CommandContext) -> None:
    await _transition(ctx, "resolve", "resolved")


@registry.command("reopen", usage="reopen [INC-n]", summary="Reopen a resolved incident (incident manager)",
                  in_manifest=False)
async def reopen(ctx: CommandContext) -> None:
    await _transition(ctx, "reopen", "reopened")


async def _transition(ctx: CommandContext, action: str, done: str) -> None:
    explicit, text = split_ref(ctx.command.args)
    changed = await apply_change(ctx, explicit, action, lambda s, now, iid: incidents.transition(
        session=s, plan=ctx.app.service.plan, incident_id=iid, action=action, actor=ctx.actor,
        source=ctx.source, now=now, text=text or None))
    if changed:
        await ctx.reply(f"{incident_ref(changed)} {done} by {ctx.actor.display}.")
        if action == "resolve":
            from bot.domain import follow_ups  # only resolving needs it

            left_open = await ctx.app.service.read(lambda s: follow_ups.reminder(s, changed))
            if left_open:
                await ctx.reply(left_open)


@registry.command("sev", usage="sev LEVEL [INC-n]", summary="Change an incident's severity", aliases=("severity",),
                  in_manifest=False)
async def sev(ctx: CommandContext) -> None:
    plan = ctx.app.service.plan
    explicit, rest = split_ref(ctx.command.args)
    words = rest.split()
    if explicit is None and len(words) == 2 and looks_like_incident_ref(words[1]):
        explicit, words = parse_incident_ref(words[1]), words[:1]
    if len(words) != 1:
        raise ValidationFailed(f"Say `sev LEVEL` with one of {', '.join(plan.severity_ids())}.")
    level = words[0].lower()
    plan.severity(level)
    changed = await apply_change(ctx, explicit, "change severity", lambda s, now, iid: incidents.set_severity(
        session=s, plan=plan, incident_id=iid, severity=level, actor=ctx.actor, source=ctx.source, now=now))
    if changed:
        await ctx.reply(f"{incident_ref(changed)} is now {level.upper()}.")


@registry.command("assign", usage="assign manager|postmortem|comms|scribe @person|me [INC-n]",
                  summary="Give an incident role to someone")
async def assign(ctx: CommandContext) -> None:
    explicit, rest = split_ref(ctx.command.args)
    words = rest.split()
    roles = "manager, postmortem, comms or scribe"
    if not words:
        raise ValidationFailed(f"Say `assign ROLE @person` or `assign ROLE me`; the role is {roles}.")
    role = ROLE_ALIASES.get(words[0].lower())
    if role is None:
        raise ValidationFailed(f"'{words[0]}' is not a role; use {roles}.")
    if explicit is None and words and looks_like_incident_ref(words[-1]):
        explicit, words = parse_incident_ref(words[-1]), words[:-1]
    assignee = await assignee_of(ctx, words[1:])
    changed = await apply_change(ctx, explicit, f"assign {ROLE_LABELS[role].lower()}", lambda s, now, iid: incidents.assign_role(
        session=s, plan=ctx.app.service.plan, incident_id=iid, role=role, assignee=assignee, actor=ctx.actor,
        source=ctx.source, now=now))
    if changed:
        await ctx.reply(f"{assignee.display} is now {ROLE_LABELS[role].lower()} of {incident_ref(changed)}.")


async def assignee_of(ctx: CommandContext, words: list[str]) -> Actor:
    """`me`, or the one @mentioned person, as an Actor."""
    if len(words) == 1 and words[0].lower() in ("me", "myself"):
        return ctx.actor
    if len(ctx.command.mentions) == 1:
        mention = ctx.command.mentions[0]
        return await ctx.app.identity.actor_for_mention(ctx.turn, mention)
    if len(ctx.command.mentions) > 1:
        raise ValidationFailed("Mention one person at a time.")
    raise ValidationFailed("Who? @mention them (type @ and pick the name), or say `me`.")


@registry.command("note", usage="note [INC-n] TEXT", summary="Add a note to the timeline", in_manifest=False)
async def note(ctx: CommandContext) -> None:
    await _text_event(ctx, "note", incidents.add_note, "Noted on", refresh_card=False)


@registry.command("update", usage="update [INC-n] TEXT", summary="Post a status update on the card")
async def update(ctx: CommandContext) -> None:
    await _text_event(ctx, "update", incidents.post_update, "Update posted to", refresh_card=True)


async def _text_event(ctx: CommandContext, what: str, fn, done: str, *, refresh_card: bool) -> None:
    explicit, text = split_ref(ctx.command.args)
    if not text:
        raise ValidationFailed(f"Say `{what} TEXT`, e.g. `{what} rolled back the 14:00 deploy`.")
    changed = await apply_change(ctx, explicit, what, lambda s, now, iid: fn(
        session=s, incident_id=iid, text=text, actor=ctx.actor, source=ctx.source, now=now),
        refresh_card=refresh_card)
    if changed:
        await ctx.reply(f"{done} {incident_ref(changed)}.")


@registry.command("timeline", usage="timeline [INC-n] [page N]", summary="Show an incident's timeline",
                  in_manifest=False)
async def timeline(ctx: CommandContext) -> None:
    explicit, rest = split_ref(ctx.command.args)
    words = rest.lower().split()
    page = 1
    if words:
        if len(words) == 2 and words[0] == "page" and words[1].isdigit():
            page = int(words[1])
        elif len(words) == 1 and words[0].isdigit():
            page = int(words[0])
        else:
            raise ValidationFailed("Say `timeline`, `timeline INC-7` or `timeline INC-7 page 2`.")
    iid = await target_of(ctx, explicit)
    await ctx.reply_card(await render_timeline(ctx.app, iid, page=page, zone=ctx.zone))


async def render_timeline(app, incident_id: int, *, page: int, zone) -> dict:
    """A timeline page as a card; pages past the end show the last page."""
    view = await app.service.view(incident_id)
    _events, total = await app.service.timeline_page(incident_id, page=1, per_page=1)
    pages = max(1, math.ceil(total / TIMELINE_PAGE_SIZE))
    page = min(max(1, page), pages)
    events, total = await app.service.timeline_page(incident_id, page=page, per_page=TIMELINE_PAGE_SIZE)
    return timeline_card(view, events, page=page, pages=pages, total=total, zone=zone)


@registry.command("cancel", usage="cancel", summary="Leave the current question", in_manifest=False)
async def cancel(ctx: CommandContext) -> None:
    await ctx.reply("Nothing to cancel.")


@registry.command("help", usage="help", summary="Show what I can do", aliases=("?",))
async def help_(ctx: CommandContext) -> None:
    lines = ctx.app.commands.help_lines()
    lines.append("A leading `/` works too. In an incident's chat, commands apply to its incident.")
    await ctx.reply_card(message_card("Firebreak commands", lines))


__all__ = ["registry", "declare_and_post", "declare_incident", "post_declared", "render_timeline", "Role"]
