"""`triage` and the card's Triage button: start the triage dialog for an incident, and the
actions the dialog takes on it (record an answer, apply the severity, start a runbook)."""
from __future__ import annotations

from botbuilder.core import TurnContext

from bot.domain import incidents, lifecycle
from bot.domain.formatting import incident_ref
from bot.domain.model import Source
from bot.domain.service import find_target
from bot.domain.timeline import Kind, record
from bot.errors import InvalidTransition, ValidationFailed
from dialogs.triage import TRIAGE_DIALOG, TriageActions
from bot.teams.card_actions import ActionContext, actions
from bot.teams.context import CommandContext, TeamsServices
from bot.teams.incident_commands import registry, split_ref


@registry.command("triage", usage="triage [INC-n]",
                  summary="Walk the plan's triage questions to a severity decision", in_manifest=False)
async def triage(ctx: CommandContext) -> None:
    explicit, rest = split_ref(ctx.command.args)
    if rest.strip():
        raise ValidationFailed("Say `triage` in the incident's chat, or `triage INC-7` elsewhere.")
    incident_id = await ctx.app.service.read(
        lambda s: find_target(s, conversation_id=ctx.conversation_id, explicit=explicit))
    await start_triage(ctx.app, ctx.turn, incident_id, dedupe=ctx.dedupe)  # Teams redelivers: start once


@actions.action("incident.triage", who="anyone in the conversation")
async def triage_button(ctx: ActionContext) -> dict:
    await start_triage(ctx.app, ctx.turn, ctx.incident_id, dedupe=ctx.dedupe())  # a retried press: once
    return ctx.app.publisher.render(await ctx.app.service.view(ctx.incident_id))


async def start_triage(app: TeamsServices, turn: TurnContext, incident_id: int, *, dedupe=()) -> None:
    """Begin the dialog in this conversation, once per request (`dedupe`); refused while a
    dialog is in progress here."""
    if app.service.plan.triage is None:
        raise ValidationFailed("The response plan has no `triage` section, so there are no questions to walk. "
                               "Add one (see plans/example.yaml) and reload the plan.")
    view = await app.service.view(incident_id)
    if not lifecycle.is_open(view.incident.status):
        raise InvalidTransition(f"{incident_ref(incident_id)} is resolved; `reopen` it to triage it again.")
    await app.start_dialog(turn, TRIAGE_DIALOG, {
        "incident_id": incident_id, "ref": incident_ref(incident_id),
        "severity": view.incident.severity, "service_id": view.incident.service_id,
    }, once=lambda: app.service.claim(*dedupe))


def triage_actions(app: TeamsServices) -> TriageActions:
    """The dialog's hands on the incident, each in its own transaction and on the timeline."""

    async def record_answer(turn: TurnContext, incident_id: int, text: str) -> None:
        actor = await app.identity.actor_for(turn)
        await app.service.execute(lambda s, now: record(
            s, incident_id=incident_id, kind=Kind.TRIAGE, source=Source.DIALOG, actor=actor, now=now, text=text))

    async def decide(turn: TurnContext, incident_id: int, severity: str, reason: str) -> str:
        actor = await app.identity.actor_for(turn)
        plan = app.service.plan
        sev = plan.severity(severity)

        async def op(session, now):
            view = await incidents.load_view(session, incident_id, lock=True)
            old = view.incident.severity
            if old != sev.id and lifecycle.is_open(view.incident.status):
                await incidents.set_severity(session=session, plan=plan, incident_id=incident_id, severity=sev.id,
                                             actor=actor, source=Source.DIALOG, now=now)
            await record(session, incident_id=incident_id, kind=Kind.TRIAGE, source=Source.DIALOG, actor=actor,
                         now=now, old=old, new=sev.id, text=f"Severity decided: {sev.id.upper()}, because: {reason}")
            return old

        old = await app.service.execute(op)
        ref = incident_ref(incident_id)
        if old == sev.id:
            return f"{ref} stays {sev.id.upper()} · {sev.name}. Recorded with the reason: {reason}."
        await app.publisher.refresh(incident_id, turn=turn)
        return f"{ref} is now {sev.id.upper()} · {sev.name} (was {old.upper()}), because: {reason}."

    async def start_runbook(turn: TurnContext, incident_id: int, runbook_id: str) -> None:
        from bot.teams.runbook_commands import start_runbook as start  # the runbook module, on demand

        await start(app, turn, incident_id=incident_id, runbook_id=runbook_id,
                    actor=await app.identity.actor_for(turn))

    return TriageActions(record=record_answer, decide=decide, start_runbook=start_runbook)
