"""The declare dialog: asks for whatever `declare` was missing (title, severity, service).

A waterfall of prompts with choice buttons (dialogs/choices.py: they work in a channel thread
too, and a press counts only for its own question). Its state lives in the bot state store, so
a restart mid-dialog resumes at the same question. The last step calls one function, injected
by the Teams layer, which declares the incident through the domain and posts its card.
"""
from __future__ import annotations

import uuid
from typing import Awaitable, Callable

from botbuilder.core import MessageFactory, TurnContext
from botbuilder.dialogs import ComponentDialog, DialogTurnResult, WaterfallDialog, WaterfallStepContext
from botbuilder.dialogs.prompts import ChoicePrompt, PromptOptions, TextPrompt, PromptValidatorContext

from bot.plan import Plan
from dialogs.choices import ask, ask_again, choice, pressed_question, question_token, this_question

DECLARE_DIALOG = "declare"
NO_SERVICE = "none"
Complete = Callable[[TurnContext, dict], Awaitable[None]]


async def _title_ok(prompt: PromptValidatorContext) -> bool:
    if pressed_question(prompt.context) is not None:  # a button: this question has none
        await ask_again(prompt)
        return False
    value = (prompt.recognized.value or "").strip() if prompt.recognized.succeeded else ""
    return 0 < len(value) <= 200


class DeclareDialog(ComponentDialog):
    """Collect title, severity and service, then hand them to `on_complete`."""

    def __init__(self, *, plan: Callable[[], Plan], on_complete: Complete) -> None:
        super().__init__(DECLARE_DIALOG)
        self._plan = plan
        self._on_complete = on_complete
        self.add_dialog(TextPrompt("title", _title_ok))
        self.add_dialog(ChoicePrompt("severity", this_question))
        self.add_dialog(ChoicePrompt("service", this_question))
        self.add_dialog(WaterfallDialog("steps", [self._ask_title, self._ask_severity, self._ask_service, self._finish]))
        self.initial_dialog_id = "steps"

    async def _ask_title(self, step: WaterfallStepContext) -> DialogTurnResult:
        step.values.update({k: v for k, v in (step.options or {}).items() if v})
        step.values["run"] = uuid.uuid4().hex[:8]
        if step.values.get("title"):
            return await step.next(step.values["title"])
        return await step.prompt("title", PromptOptions(
            prompt=MessageFactory.text("What is happening? Give the incident a short title (or say `cancel`)."),
            retry_prompt=MessageFactory.text("Please type a title of 1 to 200 characters, or say `cancel`."),
        ))

    async def _ask_severity(self, step: WaterfallStepContext) -> DialogTurnResult:
        step.values["title"] = str(step.result).strip()
        if step.values.get("severity"):
            return await step.next(None)
        plan = self._plan()
        guide = "\n\n".join(f"**{s.id.upper()} · {s.name}**: {s.criteria}" for s in plan.severities)
        return await step.prompt("severity", ask(
            f"How severe is it?\n\n{guide}", [choice(s.id, f"{s.id.upper()} · {s.name}") for s in plan.severities],
            retry=f"Pick one of {', '.join(plan.severity_ids())}.",
            token=question_token(DECLARE_DIALOG, step.values["run"], "severity")))

    async def _ask_service(self, step: WaterfallStepContext) -> DialogTurnResult:
        if step.result is not None:
            step.values["severity"] = step.result.value
        plan = self._plan()
        if step.values.get("service_id") or not plan.services:
            return await step.next(None)
        choices = [choice(s.id, s.name) for s in plan.services if not s.supplier]
        choices.append(choice(NO_SERVICE, "Not sure / none"))
        return await step.prompt("service", ask(
            "Which service is affected?", choices, retry="Pick a service from the list, or `none`.",
            token=question_token(DECLARE_DIALOG, step.values["run"], "service")))

    async def _finish(self, step: WaterfallStepContext) -> DialogTurnResult:
        if step.result is not None:
            step.values["service_id"] = None if step.result.value == NO_SERVICE else step.result.value
        found = {k: step.values.get(k) for k in ("title", "severity", "service_id", "description")}
        await self._on_complete(step.context, found)
        return await step.end_dialog(found)

