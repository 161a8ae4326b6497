"""The triage dialog: the plan's validation steps, one question at a time, to a severity.

What is affected (or, for "I don't know", the plan's symptom questions and "is a supplier
down?"), who and how many are affected, the emergency checklist, then a proposed severity with
its reason, the disaster criteria and the owning team's runbook. Every answer is recorded on the
incident's timeline as it is given, by whoever gave it: in a channel the whole team may answer.

State lives in the bot state store (dialog state), so a restart mid-triage resumes at the same
question. The Teams layer injects what touches the incident (`TriageActions`); the decisions
themselves are `bot.domain.triage`'s pure functions.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Awaitable, Callable

from botbuilder.core import MessageFactory, TurnContext
from botbuilder.dialogs import ComponentDialog, DialogTurnResult, WaterfallDialog, WaterfallStepContext
from botbuilder.dialogs.choices import Choice
from botbuilder.dialogs.prompts import ChoicePrompt, PromptOptions, PromptValidatorContext, TextPrompt

from bot.domain import triage as rules
from bot.plan import Plan
from bot.plan_triage import Triage
from dialogs.choices import ask, ask_again, choice, pressed_question, question_token, this_question

TRIAGE_DIALOG = "triage"
_SYMPTOMS = "triage.symptoms"
_CRITERIA = "triage.criteria"
_YES, _NO, _DONT_KNOW = "yes", "no", "dont-know"
_CANT_TELL = "cant-tell"


@dataclass(frozen=True)
class TriageActions:
    """What the dialog may do to the incident, supplied by the Teams layer."""

    record: Callable[[TurnContext, int, str], Awaitable[None]]
    """Put one answer or decision on the incident's timeline, as the person who gave it."""
    decide: Callable[[TurnContext, int, str, str], Awaitable[str]]
    """Apply the chosen severity (with its reason); returns what to tell the conversation."""
    start_runbook: Callable[[TurnContext, int, str], Awaitable[None]]
    """Start (or show) the runbook's run for the incident."""


async def _short_text(prompt: PromptValidatorContext) -> bool:
    if pressed_question(prompt.context) is not None:  # a button: this question has none
        await ask_again(prompt)
        return False
    value = (prompt.recognized.value or "").strip() if prompt.recognized.succeeded else ""
    return 0 < len(value) <= 200


class TriageDialog(ComponentDialog):
    """Walk a responder through the plan's triage; begin with {incident_id, ref, severity, service_id}."""

    def __init__(self, *, plan: Callable[[], Plan], actions: TriageActions) -> None:
        super().__init__(TRIAGE_DIALOG)
        self._plan = plan
        self._do = actions
        self.add_dialog(ChoicePrompt("choice", this_question))
        self.add_dialog(TextPrompt("text", _short_text))
        self.add_dialog(WaterfallDialog(_SYMPTOMS, [self._ask_symptom, self._after_symptom]))
        self.add_dialog(WaterfallDialog(_CRITERIA, [self._ask_criterion, self._after_criterion]))
        self.add_dialog(WaterfallDialog("steps", [
            self._ask_service, self._after_service, self._after_symptoms, self._after_supplier,
            self._after_impact, self._after_how_many, self._propose, self._after_severity,
            self._after_disaster, self._after_runbook_offer,
        ]))
        self.initial_dialog_id = "steps"

    # -- what is affected ---------------------------------------------------------------------

    async def _ask_service(self, step: WaterfallStepContext) -> DialogTurnResult:
        step.values.update(step.options or {})
        plan = self._plan()
        # The questions are the plan's as triage began: a reload mid-triage must not shift them.
        step.values["run"] = uuid.uuid4().hex[:8]
        step.values["triage"] = plan.triage.model_dump(mode="json")
        now = f"{step.values['ref']} is {step.values['severity'].upper()}"
        if step.values.get("service_id"):
            now += f", declared for {_service_name(plan, step.values['service_id'])}"
        choices = [choice(s.id, s.name) for s in rules.affected_choices(plan)]
        choices.append(choice(rules.UNKNOWN_SERVICE, "I don't know"))
        return await step.prompt("choice", ask(
            f"Triage for {now}. I'll ask the plan's questions; every answer goes on the timeline. "
            "Say `cancel` to stop.\n\n**What is affected?**", choices,
            retry="Pick the affected service, or `I don't know`.", token=_token(step.values, "service")))

    async def _after_service(self, step: WaterfallStepContext) -> DialogTurnResult:
        answer = step.result.value
        plan = self._plan()
        await self._record(step, "What is affected?",
                           "I don't know" if answer == rules.UNKNOWN_SERVICE else _service_name(plan, answer))
        if answer == rules.UNKNOWN_SERVICE:
            step.values["service"] = None
            if _triage(step.values).dependency_questions:
                return await step.begin_dialog(_SYMPTOMS, {"index": 0, **_context(step)})
            return await step.next(None)
        step.values["service"] = answer
        return await step.next(None)

    async def _ask_symptom(self, step: WaterfallStepContext) -> DialogTurnResult:
        questions = _triage(step.options).dependency_questions
        index = step.options["index"]
        if index >= len(questions):
            return await step.end_dialog(None)
        return await step.prompt("choice", ask(
            f"**{questions[index].question}**", _yes_no(dont_know=True), retry="Answer Yes, No or I don't know.",
            token=_token(step.options, f"symptom-{index}")))

    async def _after_symptom(self, step: WaterfallStepContext) -> DialogTurnResult:
        index = step.options["index"]
        question = _triage(step.options).dependency_questions[index]
        answer = step.result.value
        await self._record(step, question.question, _YES_NO_TEXT[answer], context=step.options)
        if answer == _YES:
            return await step.end_dialog(question.if_yes)
        return await step.replace_dialog(_SYMPTOMS, {**step.options, "index": index + 1})

    async def _after_symptoms(self, step: WaterfallStepContext) -> DialogTurnResult:
        plan = self._plan()
        if step.values.get("service") is not None:
            return await step.next(None)
        suspect = step.result
        if suspect:
            step.values["service"] = suspect
            await step.context.send_activity(f"That points at **{_service_name(plan, suspect)}**.")
        lines = [f"- {s.name}" + (f": [status page]({s.status_url})" if s.status_url else "")
                 for s in rules.suppliers(plan, for_service=suspect)]
        choices = [choice(s.id, s.name) for s in rules.suppliers(plan, for_service=suspect)]
        choices += [choice(rules.NO_SUPPLIER, "No supplier is down"), choice(_CANT_TELL, "I can't tell")]
        return await step.prompt("choice", ask(
            "**Is a supplier down?** Check their status pages:\n\n" + "\n".join(lines), choices,
            retry="Pick the supplier that is down, `No supplier is down`, or `I can't tell`.",
            token=_token(step.values, "supplier")))

    async def _after_supplier(self, step: WaterfallStepContext) -> DialogTurnResult:
        plan = self._plan()
        if step.result is not None:
            answer = step.result.value
            text = {rules.NO_SUPPLIER: "No supplier is down", _CANT_TELL: "I can't tell"}.get(answer)
            await self._record(step, "Is a supplier down?", text or f"Yes: {_service_name(plan, answer)}")
            if text is None:
                step.values["supplier_down"] = answer
                step.values["service"] = step.values.get("service") or answer
        impact = _triage(step.values).impact
        return await step.prompt("choice", ask(
            f"**{impact.question}**", [choice(c.id, c.label) for c in impact.choices],
            retry=f"Pick one: {', '.join(c.label for c in impact.choices)}.", token=_token(step.values, "impact")))

    # -- who and how many, the emergency checklist ----------------------------------------------

    async def _after_impact(self, step: WaterfallStepContext) -> DialogTurnResult:
        impact = _triage(step.values).impact
        step.values["impact"] = step.result.value
        label = next(c.label for c in impact.choices if c.id == step.result.value)
        await self._record(step, impact.question, label)
        return await step.prompt("text", PromptOptions(
            prompt=MessageFactory.text(f"**{impact.how_many}**"),
            retry_prompt=MessageFactory.text("A short answer please (a number, a rough figure, or `unknown`)."),
        ))

    async def _after_how_many(self, step: WaterfallStepContext) -> DialogTurnResult:
        triage = _triage(step.values)
        await self._record(step, triage.impact.how_many, str(step.result).strip())
        if triage.emergency_criteria:
            return await step.begin_dialog(_CRITERIA, {"index": 0, "met": [], **_context(step)})
        return await step.next({})

    async def _ask_criterion(self, step: WaterfallStepContext) -> DialogTurnResult:
        criteria = _triage(step.options).emergency_criteria
        index = step.options["index"]
        if index >= len(criteria):
            return await step.end_dialog({"met": step.options["met"], "unknown": step.options.get("unknown", [])})
        return await step.prompt("choice", ask(
            f"Emergency checklist, {index + 1} of {len(criteria)}. **Is this true?**\n\n{criteria[index].text}",
            _yes_no(dont_know=True), retry="Answer Yes, No or I don't know.",
            token=_token(step.options, f"criterion-{index}")))

    async def _after_criterion(self, step: WaterfallStepContext) -> DialogTurnResult:
        criterion = _triage(step.options).emergency_criteria[step.options["index"]]
        answer = step.result.value
        await self._record(step, criterion.text, _YES_NO_TEXT[answer], context=step.options)
        met = list(step.options["met"]) + ([criterion.id] if answer == _YES else [])
        unknown = list(step.options.get("unknown", [])) + ([criterion.id] if answer == _DONT_KNOW else [])
        return await step.replace_dialog(_CRITERIA, {**step.options, "index": step.options["index"] + 1,
                                                     "met": met, "unknown": unknown})

    # -- the decision ----------------------------------------------------------------------------

    async def _propose(self, step: WaterfallStepContext) -> DialogTurnResult:
        plan = self._plan().model_copy(update={"triage": _triage(step.values)})
        answers = step.result or {}
        proposal = rules.propose(plan, impact=step.values["impact"], criteria_met=answers.get("met", []),
                                 criteria_unknown=answers.get("unknown", []),
                                 supplier_down=step.values.get("supplier_down"))
        step.values["proposal"] = proposal.severity
        step.values["reason"] = proposal.reason_text()
        proposed = plan.severity(proposal.severity)
        choices = [choice(proposed.id, f"Accept {proposed.id.upper()} · {proposed.name}")]
        choices += [choice(s.id, f"{s.id.upper()} · {s.name}") for s in plan.severities if s.id != proposed.id]
        return await step.prompt("choice", ask(
            f"**Proposed severity: {proposed.id.upper()} · {proposed.name}**, because: {proposal.reason_text()}.\n\n"
            f"{proposed.name}: {proposed.criteria}\n\nAccept it, or pick another.", choices,
            retry=f"Pick a severity: {', '.join(plan.severity_ids())}.", token=_token(step.values, "severity")))

    async def _after_severity(self, step: WaterfallStepContext) -> DialogTurnResult:
        chosen = step.result.value
        reason = step.values["reason"]
        if chosen != step.values["proposal"]:
            reason = f"chosen over the proposed {step.values['proposal'].upper()} ({reason})"
        step.values["decided"] = chosen
        told = await self._do.decide(step.context, step.values["incident_id"], chosen, reason)
        await step.context.send_activity(told)
        triage = _triage(step.values)
        if not triage.disaster_criteria:
            return await step.next(None)
        lines = "\n".join(f"- {c}" for c in triage.disaster_criteria)
        return await step.prompt("choice", ask(
            f"**Are any of the disaster criteria met?**\n\n{lines}", _yes_no(dont_know=False),
            retry="Answer Yes or No.", token=_token(step.values, "disaster")))

    async def _after_disaster(self, step: WaterfallStepContext) -> DialogTurnResult:
        plan = self._plan()
        if step.result is not None:
            answer = step.result.value
            await self._record(step, "Are any of the disaster criteria met?", _YES_NO_TEXT[answer])
            if answer == _YES:
                await step.context.send_activity(_disaster_text(plan, _triage(step.values)))
        runbook = _runbook_of(plan, step.values.get("service"))
        if runbook is None:
            return await step.next(None)
        step.values["runbook"] = runbook.id
        return await step.prompt("choice", ask(
            f"**{runbook.name}** is the {plan.group(runbook.team).name} script for this service "
            f"({len(runbook.steps) + 1} steps). Start it now?", _yes_no(dont_know=False),
            retry="Answer Yes or No.", token=_token(step.values, "runbook")))

    async def _after_runbook_offer(self, step: WaterfallStepContext) -> DialogTurnResult:
        if step.result is not None:
            answer = step.result.value
            await self._record(step, f"Start runbook {step.values['runbook']}?", _YES_NO_TEXT[answer])
            if answer == _YES:
                await self._do.start_runbook(step.context, step.values["incident_id"], step.values["runbook"])
        await step.context.send_activity(
            f"Triage of {step.values['ref']} is done: {step.values['decided'].upper()}. "
            "Every answer is on the timeline (say `timeline`).")
        return await step.end_dialog(step.values["decided"])

    async def _record(self, step: WaterfallStepContext, question: str, answer: str, *, context: dict | None = None) -> None:
        incident_id = (context or step.values)["incident_id"]
        await self._do.record(step.context, incident_id, f"{question.strip()} → {answer}")


_YES_NO_TEXT = {_YES: "Yes", _NO: "No", _DONT_KNOW: "I don't know"}


def _context(step: WaterfallStepContext) -> dict:
    """What a sub-dialog (symptoms, criteria) needs of the main one."""
    return {key: step.values[key] for key in ("incident_id", "run", "triage")}


def _triage(values: dict) -> Triage:
    """The plan's triage section as it was when this triage began."""
    return Triage.model_validate(values["triage"])


def _token(values: dict, question: str) -> str:
    return question_token(TRIAGE_DIALOG, values["run"], question)


def _service_name(plan: Plan, service_id: str) -> str:
    try:
        return plan.service(service_id).name
    except Exception:  # noqa: BLE001 - a service removed from the plan since: show its id
        return service_id


def _runbook_of(plan: Plan, service_id: str | None):
    if not service_id:
        return None
    try:
        runbook_id = plan.service(service_id).runbook
        return plan.runbook(runbook_id) if runbook_id else None
    except Exception:  # noqa: BLE001 - removed from the plan since: no offer
        return None


def _disaster_text(plan: Plan, triage: Triage) -> str:
    plan = plan.model_copy(update={"triage": triage})
    who = "\n".join(f"- **{group}**: {', '.join(names)}" for group, names in rules.disaster_contacts(plan))
    return (f"**The disaster recovery plan applies.** Open it: [disaster recovery plan]({triage.dr_plan_url})\n\n"
            f"These must be told now:\n\n{who}")


def _yes_no(*, dont_know: bool) -> list[Choice]:
    choices = [choice(_YES, "Yes"), choice(_NO, "No")]
    return choices + ([choice(_DONT_KNOW, "I don't know")] if dont_know else [])
