"""The Teams activity handler: hands each kind of activity to the router, nothing more."""
from __future__ import annotations

import logging
import uuid

from botbuilder.core import ConversationState, TurnContext
from botbuilder.core.teams import TeamsActivityHandler
from botbuilder.schema import AdaptiveCardInvokeResponse, AdaptiveCardInvokeValue, ChannelAccount
from botbuilder.schema.teams import MessagingExtensionAction, MessagingExtensionActionResponse

from bot.errors import FirebreakError
from bot.teams.cards import CARD_CONTENT_TYPE
from bot.teams.router import TurnRouter

log = logging.getLogger(__name__)

WELCOME = (
    "Hi, I'm Firebreak. I help you run incidents here: `declare Payments API down sev1` starts one, "
    "`list` shows open ones, and `help` lists everything I can do. In a team, an admin says "
    "`setup incidents` in the channel where incidents should start."
)


class FirebreakBot(TeamsActivityHandler):
    """Routes activities and saves dialog state at the end of every turn."""

    def __init__(self, *, router: TurnRouter, conversation_state: ConversationState) -> None:
        self._router = router
        self._state = conversation_state

    async def on_turn(self, turn_context: TurnContext) -> None:
        await super().on_turn(turn_context)
        await self._state.save_changes(turn_context)

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        await self._router.on_message(turn_context)

    async def on_adaptive_card_invoke(
        self, turn_context: TurnContext, invoke_value: AdaptiveCardInvokeValue
    ) -> AdaptiveCardInvokeResponse:
        action = invoke_value.action if isinstance(invoke_value.action, dict) else vars(invoke_value.action)
        try:
            card = await self._router.on_card_action(turn_context, action)
        except FirebreakError as error:
            # A plain dict: the SDK's model declares `value` a dict and cannot serialize the
            # text a message response carries.
            return {"statusCode": 200, "type": "application/vnd.microsoft.activity.message", "value": str(error)}  # type: ignore[return-value]
        return AdaptiveCardInvokeResponse(status_code=200, type=CARD_CONTENT_TYPE, value=card)

    async def on_teams_messaging_extension_fetch_task(
        self, turn_context: TurnContext, action: MessagingExtensionAction
    ) -> MessagingExtensionActionResponse:
        return await self._router.on_message_action(turn_context, action, submit=False)

    async def on_teams_messaging_extension_submit_action(
        self, turn_context: TurnContext, action: MessagingExtensionAction
    ) -> MessagingExtensionActionResponse:
        return await self._router.on_message_action(turn_context, action, submit=True)

    async def on_members_added_activity(self, members_added: list[ChannelAccount], turn_context: TurnContext) -> None:
        bot_id = turn_context.activity.recipient.id if turn_context.activity.recipient else None
        if any(m.id == bot_id for m in members_added):
            await self._router.on_installed(turn_context)
            await turn_context.send_activity(WELCOME)


async def on_turn_error(router: TurnRouter, turn_context: TurnContext, error: Exception) -> None:
    """The one error handler: log with ids, apologise with a correlation id, clear dialog state."""
    correlation = uuid.uuid4().hex[:8]
    activity = turn_context.activity
    log.error(
        "turn failed",
        exc_info=error,
        extra={"correlation_id": correlation, "activity_id": activity.id,
               "conversation_id": activity.conversation.id if activity.conversation else None},
    )
    try:
        await turn_context.send_activity(
            f"Sorry, something went wrong on my side (reference {correlation}). "
            "Nothing you typed before this was lost; please try again, or say `help`."
        )
    except Exception:
        log.exception("could not send the apology", extra={"correlation_id": correlation})
    try:
        await router.clear_state(turn_context)
    except Exception:
        log.exception("could not clear dialog state", extra={"correlation_id": correlation})
