"""The declare dialog: asks for whatever `declare` was missing (title, severity, service).

A waterfall of prompts with choice buttons. Its state lives in the bot state store, so a
restart mid-dialog resumes at the same question. The last step calls one function, injected
by the Teams layer, which declares the incident through the domain and posts its card.
"""
from __future__ import annotations

from typing import Awaitable, Callable

from botbuilder.core import MessageFactory, TurnContext
from botbuilder.dialogs import ComponentDialog, DialogTurnResult, WaterfallDialog, WaterfallStepContext
from botbuilder.dialogs.choices import Choice, ListStyle
from botbuilder.dialogs.prompts import ChoicePrompt, PromptOptions, TextPrompt, PromptValidatorContext
from botbuilder.schema import CardAction, ActionTypes

from bot.plan import Plan

DECLARE_DIALOG = "declare"
NO_SERVICE = "none"
Complete = Callable[[TurnContext, dict], Awaitable[None]]


async def _title_ok(prompt: PromptValidatorContext) -> bool:
    value = (prompt.recognized.value or "").strip() if prompt.recognized.succeeded else ""
    return 0 < len(value) <= 200


class DeclareDialog(ComponentDialog):
    """Collect title, severity and service, then hand them to `on_complete`."""

    def __init__(self, *, plan: Callable[[], Plan], on_complete: Complete) -> None:
        super().__init__(DECLARE_DIALOG)
        self._plan = plan
        self._on_complete = on_complete
        self.add_dialog(TextPrompt("title", _title_ok))
        self.add_dialog(ChoicePrompt("severity"))
        self.add_dialog(ChoicePrompt("service"))
        self.add_dialog(WaterfallDialog("steps", [self._ask_title, self._ask_severity, self._ask_service, self._finish]))
        self.initial_dialog_id = "steps"

    async def _ask_title(self, step: WaterfallStepContext) -> DialogTurnResult:
        step.values.update({k: v for k, v in (step.options or {}).items() if v})
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
        return await step.prompt("severity", PromptOptions(
            prompt=MessageFactory.text(f"How severe is it?\n\n{guide}"),
            retry_prompt=MessageFactory.text(f"Pick one of {', '.join(plan.severity_ids())}, or say `cancel`."),
            choices=[_choice(s.id, f"{s.id.upper()} · {s.name}") for s in plan.severities],
            style=ListStyle.hero_card,
        ))

    async def _ask_service(self, step: WaterfallStepContext) -> DialogTurnResult:
        if step.result is not None:
            step.values["severity"] = step.result.value
        plan = self._plan()
        if step.values.get("service_id") or not plan.services:
            return await step.next(None)
        choices = [_choice(s.id, s.name) for s in plan.services if not s.supplier]
        choices.append(_choice(NO_SERVICE, "Not sure / none"))
        return await step.prompt("service", PromptOptions(
            prompt=MessageFactory.text("Which service is affected?"),
            retry_prompt=MessageFactory.text("Pick a service from the list, or `none`."),
            choices=choices,
            style=ListStyle.hero_card,
        ))

    async def _finish(self, step: WaterfallStepContext) -> DialogTurnResult:
        if step.result is not None:
            step.values["service_id"] = None if step.result.value == NO_SERVICE else step.result.value
        found = {k: step.values.get(k) for k in ("title", "severity", "service_id", "description")}
        await self._on_complete(step.context, found)
        return await step.end_dialog(found)


def _choice(value: str, title: str) -> Choice:
    return Choice(value=value, action=CardAction(type=ActionTypes.im_back, title=title, value=value), synonyms=[title])
