"""`runbook` and the progress card's buttons: walk a team's triage script one step at a time.

`runbook` lists the plan's runbooks and the incident's runs; `runbook ID` starts a run (or shows
the unfinished one) and posts its progress card; `runbook take [ID]` and `runbook release [ID]`
hand it over. The buttons (`runbook.*` verbs) report each step. A change replaces the pressed
card for the presser (the invoke's answer) and updates every copy of the card in this
conversation for everyone else; refusals and stale presses come back as a fresh card with the
reason, to the presser only.
"""
from __future__ import annotations

import logging

from botbuilder.core import TurnContext

from bot.domain import runbooks
from bot.domain.formatting import incident_ref, looks_like_incident_ref, parse_incident_ref
from bot.domain.model import Actor, Source
from bot.domain.runbook_rules import Outcome
from bot.domain.runbooks import RunView
from bot.domain.service import Refusal, find_target
from bot.errors import Duplicate, FirebreakError, NotFound, PermissionDenied, ValidationFailed
from bot.teams.card_actions import ActionContext, actions
from bot.teams.context import CommandContext, TeamsServices
from bot.teams.incident_commands import registry, split_ref
from bot.teams.publisher import card_activity
from bot.teams.runbook_cards import progress_card, runbooks_card

log = logging.getLogger(__name__)
USAGE = "runbook [ID | take [ID] | release [ID]] [INC-n]"


async def start_runbook(app: TeamsServices, turn: TurnContext, *, incident_id: int, runbook_id: str,
                        actor: Actor, source: Source = Source.DIALOG, dedupe=()) -> None:
    """Start a run of the runbook for the incident (or find its unfinished run) and post its
    progress card into the turn's conversation. Used by `runbook ID`, the list's Start buttons
    and the triage dialog."""
    plan = app.service.plan
    try:
        run, created = await app.service.execute(lambda s, now: runbooks.start(
            s, plan=plan, incident_id=incident_id, runbook_id=runbook_id, actor=actor, source=source, now=now),
            dedupe=dedupe)
    except Duplicate:
        return  # Teams redelivered the command: the card was posted the first time
    notice = None if created else (f"{incident_ref(incident_id)} already has an unfinished run of this runbook; "
                                   "here it is, at the step it reached.")
    await post_progress(app, turn, run, notice=notice)


async def post_progress(app: TeamsServices, turn: TurnContext, run: RunView, *, notice: str | None = None) -> None:
    """Post the run's card here and remember it, so later steps update it in place."""
    response = await turn.send_activity(card_activity(progress_card(run, notice=notice)))
    if response is None or not response.id:
        log.warning("runbook card posted without an id", extra={"incident_id": run.incident_id})
        return
    conversation = turn.activity.conversation.id
    await app.service.execute(lambda s, now: runbooks.remember_card(
        s, run_id=run.id, conversation_id=conversation, activity_id=response.id))


async def update_copies(app: TeamsServices, turn: TurnContext, run: RunView) -> None:
    """Show the new state on every copy of the card in this conversation (the pressed one too:
    the invoke's answer replaces it only for the person who pressed). A failure is logged."""
    here = turn.activity.conversation.id
    card = progress_card(run)
    for conversation_id, activity_id in run.cards:
        if conversation_id != here:
            continue
        try:
            await turn.update_activity(card_activity(card, activity_id=activity_id))
        except Exception:
            log.exception("runbook card update failed", extra={"incident_id": run.incident_id})


# -- the command ------------------------------------------------------------------------------


@registry.command("runbook", usage=USAGE, summary="List the runbooks, or walk one step by step (take/release it)",
                  in_manifest=False)
async def runbook(ctx: CommandContext) -> None:
    explicit, rest = split_ref(ctx.command.args)
    words = rest.split()
    if words and explicit is None and looks_like_incident_ref(words[-1]):
        explicit, words = parse_incident_ref(words[-1]), words[:-1]
    if not words:
        await _list(ctx, explicit)
        return
    sub = words[0].lower()
    if sub in ("take", "release"):
        if len(words) > 2:
            raise ValidationFailed(f"Say `runbook {sub} [ID]`, e.g. `runbook {sub} power-automate-flows`.")
        await _hand(ctx, explicit, sub, words[1] if len(words) == 2 else None)
        return
    if len(words) > 1:
        raise ValidationFailed(f"Say `runbook ID` with one runbook id, or `{USAGE}`. Say `runbook` to see the ids.")
    ctx.app.service.plan.runbook(sub)  # an unknown id: NotFound lists the plan's runbooks
    iid = await ctx.app.service.target(conversation_id=ctx.conversation_id, explicit=explicit)
    await start_runbook(ctx.app, ctx.turn, incident_id=iid, runbook_id=sub, actor=ctx.actor, source=ctx.source,
                        dedupe=ctx.dedupe)


async def _list(ctx: CommandContext, explicit: int | None) -> None:
    plan = ctx.app.service.plan
    try:
        iid = await ctx.app.service.target(conversation_id=ctx.conversation_id, explicit=explicit)
    except NotFound:
        if explicit is not None:
            raise
        await ctx.reply_card(runbooks_card(plan, incident_id=None, service_runbook=None, runs=(), zone=ctx.zone))
        return
    await ctx.reply_card(await _list_card(ctx.app, iid, zone=ctx.zone))


async def _list_card(app: TeamsServices, iid: int, *, zone=None) -> dict:
    """The runbooks card for an incident: its service's runbook first, and its runs."""
    plan = app.service.plan
    view = await app.service.view(iid)
    service_runbook = None
    if view.incident.service_id:
        try:
            service_runbook = plan.service(view.incident.service_id).runbook
        except NotFound:
            pass  # a service removed from the plan since the incident was declared
    runs = await app.service.read(lambda s: runbooks.runs_of(s, iid))
    return runbooks_card(plan, incident_id=iid, service_runbook=service_runbook, runs=runs,
                         **({"zone": zone} if zone else {}))


async def _hand(ctx: CommandContext, explicit: int | None, sub: str, runbook_id: str | None) -> None:
    async def op(session, now):
        iid = await find_target(session, conversation_id=ctx.conversation_id, explicit=explicit)
        run = await runbooks.pick_unfinished(session, incident_id=iid, runbook_id=runbook_id)
        if sub == "take":
            return (await runbooks.take(session, run_id=run.id, actor=ctx.actor, seen_version=None,
                                        source=ctx.source, now=now))
        return await runbooks.release(session, run_id=run.id, actor=ctx.actor, source=ctx.source, now=now), None, True

    try:
        run, before, changed = await ctx.app.service.execute(
            op, dedupe=ctx.dedupe, refusal=Refusal(ctx.actor, ctx.source, f"runbook {sub}"))
    except Duplicate:
        return
    name = f"“{run.runbook.name}” ({incident_ref(run.incident_id)})"
    if sub == "take":
        said = (f"You already run {name}." if not changed else
                f"You run {name} now" + (f", taken over from {before}" if before else "") + ".")
    else:
        said = f"You released {name}; anyone may take it over with `runbook take {run.runbook.id}`."
    await ctx.reply(said)
    if changed:
        await update_copies(ctx.app, ctx.turn, run)


# -- the buttons ------------------------------------------------------------------------------


def _run_ids(ctx: ActionContext) -> tuple[int, int, str]:
    run_id, step, phase = ctx.data.get("run_id"), ctx.data.get("step"), ctx.data.get("phase")
    if not isinstance(run_id, int) or not isinstance(step, int) or not isinstance(phase, str):
        raise ValidationFailed("This runbook card is missing its run or step; say `runbook` in the incident's chat "
                               "for a fresh one.")
    return run_id, step, phase


async def _fresh(ctx: ActionContext, run_id: int, notice: str | None = None) -> dict:
    run = await ctx.app.service.read(lambda s: runbooks.load(s, run_id))
    return progress_card(run, notice=notice)


async def _apply(ctx: ActionContext, run_id: int, what: str, op) -> dict:
    """Run one change from a button: the new card (and every copy here updated), or the current
    card with the reason when it was refused, stale or a repeat."""
    try:
        run = await ctx.app.service.execute(op, dedupe=ctx.dedupe(), refusal=Refusal(ctx.actor, Source.CARD, what))
    except Duplicate:
        return await _fresh(ctx, run_id)
    except (PermissionDenied, runbooks.StaleCard, runbooks.Conflict, ValidationFailed) as error:
        return await _fresh(ctx, run_id, notice=str(error))
    except FirebreakError:
        raise
    await update_copies(ctx.app, ctx.turn, run)
    return progress_card(run)


def _step(outcome: Outcome):
    async def handler(ctx: ActionContext) -> dict:
        run_id, step, phase = _run_ids(ctx)
        reason = ctx.data.get("reason") if outcome is Outcome.SKIP else None
        return await _apply(ctx, run_id, f"runbook step {outcome.value}", lambda s, now: runbooks.act(
            s, run_id=run_id, outcome=outcome, expect_step=step, expect_phase=phase,
            reason=reason if isinstance(reason, str) else None, actor=ctx.actor, source=Source.CARD, now=now))

    return handler


for _outcome in Outcome:
    actions.action(f"runbook.{_outcome.value}", who="the person running the runbook")(_step(_outcome))


@actions.action("runbook.take", who="anyone in the conversation (one winner if two press at once)")
async def take_over(ctx: ActionContext) -> dict:
    run_id, _, _ = _run_ids(ctx)
    seen = ctx.data.get("version")

    async def op(s, now):
        run, _before, _changed = await runbooks.take(s, run_id=run_id, actor=ctx.actor,
                                                     seen_version=seen if isinstance(seen, int) else None,
                                                     source=Source.CARD, now=now)
        return run

    return await _apply(ctx, run_id, "runbook take over", op)


@actions.action("runbook.release", who="the person running the runbook")
async def release(ctx: ActionContext) -> dict:
    run_id, _, _ = _run_ids(ctx)
    return await _apply(ctx, run_id, "runbook release", lambda s, now: runbooks.release(
        s, run_id=run_id, actor=ctx.actor, source=Source.CARD, now=now))


@actions.action("runbook.start", who="anyone in the conversation")
async def start_from_list(ctx: ActionContext) -> dict:
    """A Start button on the list: post the run's card as a new message; the list stays."""
    runbook_id = ctx.data.get("runbook_id")
    if not isinstance(runbook_id, str) or not runbook_id:
        raise ValidationFailed("This button has no runbook id; say `runbook` for a fresh list.")
    iid = ctx.incident_id
    await start_runbook(ctx.app, ctx.turn, incident_id=iid, runbook_id=runbook_id, actor=ctx.actor,
                        source=Source.CARD, dedupe=ctx.dedupe())
    return await _list_card(ctx.app, iid)
