"""Turn routing: message -> active dialog or command; card invoke -> card action; message
action (message extension) -> its form or its submit.

No business logic here: it identifies the actor, picks the handler, and turns typed domain
errors into short replies.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

from botbuilder.core import ConversationState, TurnContext
from botbuilder.dialogs import DialogSet
from botbuilder.schema import Activity, Mention as MentionEntity
from botbuilder.schema.teams import MessagingExtensionAction, MessagingExtensionActionResponse

from bot.domain.service import Dedupe
from bot.errors import FirebreakError, ValidationFailed
from bot.teams.card_actions import ActionContext, CardActionRegistry
from dialogs.choices import DIALOG_ANSWER, DIALOG_QUESTION
from bot.teams.commands import Mention, parse_command
from bot.teams.context import CommandContext, TeamsServices
from bot.teams import message_actions
from bot.teams.roster import learn_roster

log = logging.getLogger(__name__)


def user_mentions(activity: Activity) -> list[Mention]:
    """Users @mentioned in a message, the bot itself left out."""
    bot_id = activity.recipient.id if activity.recipient else None
    found: list[Mention] = []
    for entity in activity.entities or []:
        if getattr(entity, "type", None) != "mention":
            continue
        props = entity.additional_properties or {}
        mentioned = props.get("mentioned") or {}
        if isinstance(entity, MentionEntity) and entity.mentioned:
            mentioned = {"id": entity.mentioned.id, "name": entity.mentioned.name}
        mid = mentioned.get("id")
        if mid and mid != bot_id and not any(m.id == mid for m in found):
            found.append(Mention(id=mid, name=mentioned.get("name") or "", aad_object_id=mentioned.get("aadObjectId")))
    return found


def activity_key(activity: Activity) -> Dedupe | None:
    if not activity.id:
        return None
    return Dedupe(f"activity:{activity.conversation.id}:{activity.id}")


def _dialog_answer(activity: Activity) -> tuple[str | None, str]:
    """The answer a dialog's choice button (Action.Submit) carries and the question it answers
    (`dialog:run:question`), if this is one; the dialog checks the question is still open."""
    value = activity.value
    if isinstance(value, dict) and isinstance(value.get(DIALOG_ANSWER), str):
        return value[DIALOG_ANSWER], str(value.get(DIALOG_QUESTION) or "")
    return None, ""


def _without_bot_mention(text: str | None, bot_name: str) -> str | None:
    """The answer without the @mention Teams puts in front of every channel or group message."""
    if not text:
        return text
    mention = re.compile(r"<at>\s*" + re.escape(bot_name) + r"\s*</at>", re.IGNORECASE) if bot_name else None
    return (mention.sub("", text) if mention else text).strip()


_DIALOG_NAMES = {"declare": "declaration", "triage": "triage"}
_CANCELLED = {
    "declare": "Cancelled. Nothing was declared.",
    "triage": "Triage cancelled. The answers given so far stay on the timeline; say `triage` to start again.",
}


class TurnRouter:
    """Routes each turn to a dialog, a command or a card action."""

    def __init__(self, *, app: TeamsServices, actions: CardActionRegistry, dialogs: DialogSet,
                 conversation_state: ConversationState) -> None:
        self._app = app
        self._actions = actions
        self._dialogs = dialogs
        self._state = conversation_state

    async def on_message(self, turn: TurnContext) -> None:
        activity = turn.activity
        bot_name = activity.recipient.name if activity.recipient else ""
        answer, question = _dialog_answer(activity)
        if answer is not None:
            activity.text = answer  # a choice button pressed: the same as typing its answer
        parsed = parse_command(activity.text or "", mentions=user_mentions(activity), bot_names=[bot_name])
        dialog = await self._dialogs.create_context(turn)
        if answer is not None and (dialog.active_dialog is None
                                   or question.split(":", 1)[0] != dialog.active_dialog.id):
            await turn.send_activity("That question is no longer open (the dialog ended or was cancelled). "
                                     "Say `triage` or `declare` to start again.")
            return
        if dialog.active_dialog is not None:
            if parsed is not None and parsed.name == "cancel" and not parsed.args:
                cancelled = dialog.stack[-1].id if dialog.stack else ""
                await dialog.cancel_all_dialogs()
                await turn.send_activity(_CANCELLED.get(cancelled, "Cancelled."))
                return
            if parsed is not None and parsed.slash and self._app.commands.lookup(parsed.name) is not None:
                # `/status` typed mid-dialog is a command, not an answer (plain words may be answers)
                await turn.send_activity(
                    "I'm still waiting for an answer to my last question. Answer it, or say `cancel` first."
                )
                return
            key = activity_key(activity)
            if key is not None and not await self._app.service.claim(key):
                return  # Teams redelivered an answer the dialog already took
            activity.text = _without_bot_mention(activity.text, bot_name)  # "<at>Firebreak</at> 300" is "300"
            await self._reply_errors(turn, dialog.continue_dialog())
            return
        if parsed is None:
            if activity.value:
                await turn.send_activity("That button belongs to an older card. Say `status` for a fresh one.")
            else:
                await turn.send_activity("Say `help` to see what I can do.")
            return
        spec = self._app.commands.lookup(parsed.name)
        if spec is None:
            await turn.send_activity(self._app.commands.unknown_reply(parsed.name))
            return
        actor = await self._app.identity.actor_for(turn)
        key = activity_key(activity)
        ctx = CommandContext(app=self._app, turn=turn, command=parsed, actor=actor, dedupe=(key,) if key else ())
        await self._reply_errors(turn, spec.handler(ctx))

    async def on_installed(self, turn: TurnContext) -> None:
        """Firebreak was added to a team or chat: remember where, and learn who is there."""
        await self._app.publisher.remember_conversation(turn)
        if turn.activity.conversation.conversation_type in ("channel", "groupChat"):
            try:
                await learn_roster(turn, self._app.service)
            except Exception:  # the roster is a convenience; installing must not fail on it
                log.exception("could not read the roster")

    async def start_declare_dialog(self, turn: TurnContext, found: dict) -> None:
        await self.start_dialog(turn, "declare", found)

    async def start_dialog(self, turn: TurnContext, dialog_id: str, options: dict,
                           once: Callable[[], Awaitable[bool]] | None = None) -> None:
        """Begin a dialog in this conversation; refused while one is in progress here, which
        someone else may be answering (a card button can start one at any time). `once` claims
        the request's idempotency keys, after the refusal, so a refused press is not spent."""
        dialog = await self._dialogs.create_context(turn)
        if dialog.active_dialog is not None:
            raise ValidationFailed(f"A {_DIALOG_NAMES.get(dialog.active_dialog.id, 'dialog')} is in progress in this "
                                   "conversation: answer its last question, or say `cancel` first.")
        if once is not None and not await once():
            return  # Teams delivered it again: begun already
        await dialog.begin_dialog(dialog_id, options)

    async def on_card_action(self, turn: TurnContext, action: dict) -> dict:
        """Run a button's verb and return the card that replaces the pressed one."""
        verb = str(action.get("verb") or "")
        data = action.get("data") or {}
        spec = self._actions.lookup(verb)
        if spec is None:
            raise FirebreakError(f"This button ('{verb}') is not known; say `status` for a fresh card.")
        actor = await self._app.identity.actor_for(turn)
        return await spec.handler(ActionContext(app=self._app, turn=turn, verb=verb, data=dict(data), actor=actor))

    async def on_message_action(
        self, turn: TurnContext, action: MessagingExtensionAction, *, submit: bool
    ) -> MessagingExtensionActionResponse:
        """A message action's form (fetchTask) or its submit (submitAction); the answer is the
        invoke's body."""
        actor = await self._app.identity.actor_for(turn)
        ctx = message_actions.MessageActionContext(
            app=self._app, turn=turn, action=action, actor=actor, activity_key=activity_key(turn.activity))
        if submit:
            return await message_actions.submit_action(ctx)
        return await message_actions.fetch_task(ctx)

    async def _reply_errors(self, turn: TurnContext, work) -> None:
        try:
            await work
        except FirebreakError as error:
            await turn.send_activity(str(error))

    async def clear_state(self, turn: TurnContext) -> None:
        """Forget the conversation's dialog state (after an unexpected error)."""
        if turn.turn_state.get(self._state._context_service_key) is None:
            await self._state.load(turn)  # delete() expects the state loaded in this turn
        await self._state.delete(turn)
