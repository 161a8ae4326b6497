"""Choice buttons for dialog questions, shared by every dialog.

A question is an Adaptive Card with one `Action.Submit` button per answer. Submit buttons
reach the bot in a channel thread without an @mention (a hero card's imBack is a plain channel
message, which a bot only receives when mentioned), and their `dialog_answer` is read as the
typed answer (bot/teams/router.py); typing the answer works too. Each button names its
question (`dialog_question`: "<dialog>:<run>:<question>"), and the prompt's validator accepts a
press only while that question is open: a second press on an answered card, a double click or
someone else's press on an old card must not answer the next question.
"""
from __future__ import annotations

from botbuilder.core import MessageFactory, TurnContext
from botbuilder.dialogs.choices import Choice, ListStyle
from botbuilder.dialogs.prompts import PromptOptions, PromptValidatorContext
from botbuilder.schema import ActionTypes, Activity, Attachment, CardAction

DIALOG_ANSWER = "dialog_answer"  # the Submit data key a choice button answers with
DIALOG_QUESTION = "dialog_question"  # ...and the question it answers
STALE_BUTTON = "That button answers an earlier question, which has its answer already. The open question is:"


def choice(value: str, title: str) -> Choice:
    """One answer: `value` is what the button (or typing) answers, `title` its label."""
    return Choice(value=value, action=CardAction(type=ActionTypes.im_back, title=title, value=value), synonyms=[title])


def question_token(dialog_id: str, run: str, question: str) -> str:
    """Names one question of one run of a dialog, for its buttons."""
    return f"{dialog_id}:{run}:{question}"


def ask(text: str, choices: list[Choice], *, retry: str, token: str) -> PromptOptions:
    """Prompt options for a ChoicePrompt validated by `this_question`."""
    return PromptOptions(prompt=choice_card(text, choices, token),
                         retry_prompt=choice_card(f"{retry} Or say `cancel`.", choices, token),
                         choices=choices, style=ListStyle.none, validations={"question": token})


def choice_card(text: str, choices: list[Choice], token: str) -> Activity:
    """The question as a card; buttons go in rows of five (Teams shows six actions per set)."""
    buttons = [{"type": "Action.Submit", "title": c.action.title,
                "data": {DIALOG_ANSWER: c.value, DIALOG_QUESTION: token}} for c in choices]
    body: list[dict] = [{"type": "TextBlock", "text": text, "wrap": True}]
    body += [{"type": "ActionSet", "actions": buttons[i:i + 5]} for i in range(0, len(buttons), 5)]
    card = {"type": "AdaptiveCard", "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "version": "1.5", "body": body}
    return MessageFactory.attachment(Attachment(content_type="application/vnd.microsoft.card.adaptive", content=card))


async def this_question(prompt: PromptValidatorContext) -> bool:
    """ChoicePrompt validator: a button counts only for the question it was shown with."""
    pressed = pressed_question(prompt.context)
    if pressed is not None and pressed != (prompt.options.validations or {}).get("question"):
        await ask_again(prompt)
        return False
    return prompt.recognized.succeeded


def pressed_question(turn: TurnContext) -> str | None:
    """The question the pressed button belongs to, or None when the answer was typed."""
    value = turn.activity.value
    return value.get(DIALOG_QUESTION) if isinstance(value, dict) else None


async def ask_again(prompt: PromptValidatorContext) -> None:
    """Say the press was stale and show the open question again (having replied, the prompt
    would not repeat itself)."""
    await prompt.context.send_activity(STALE_BUTTON)
    await prompt.context.send_activity(prompt.options.prompt)
