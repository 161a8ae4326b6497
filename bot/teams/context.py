"""What a command or card-action handler gets: the turn, the actor, and the app's services."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Awaitable, Callable

from botbuilder.core import MessageFactory, TurnContext

from bot.domain.formatting import viewer_zone
from bot.domain.model import Actor, Source
from bot.domain.service import Dedupe, IncidentService
from bot.teams.commands import CommandRegistry, ParsedCommand
from bot.teams.identity import IdentityResolver
from bot.teams.publisher import CardPublisher, card_activity

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from bot.plan_holder import PlanHolder
    from bot.teams.spaces import SpacePlacer


@dataclass
class TeamsServices:
    """The services Teams handlers use, built once by `create_app`."""

    service: IncidentService
    publisher: CardPublisher
    identity: IdentityResolver
    commands: CommandRegistry["CommandContext"]
    spaces: "SpacePlacer" = field(repr=False, default=None)  # type: ignore[assignment]
    start_declare_dialog: Callable[[TurnContext, dict], Awaitable[None]] = field(repr=False, default=None)  # type: ignore[assignment]
    plans: "PlanHolder" = field(repr=False, default=None)  # type: ignore[assignment]  # `plan reload`
    start_dialog: Callable[..., Awaitable[None]] = field(repr=False, default=None)  # type: ignore[assignment]


@dataclass
class CommandContext:
    """One command being handled."""

    app: TeamsServices
    turn: TurnContext
    command: ParsedCommand
    actor: Actor
    dedupe: tuple[Dedupe, ...] = ()
    source: Source = Source.COMMAND

    @property
    def conversation_id(self) -> str:
        return self.turn.activity.conversation.id

    @property
    def zone(self) -> "ZoneInfo":
        return viewer_zone(activity_zone(self.turn))  # type: ignore[return-value]

    async def reply(self, text: str) -> None:
        await self.turn.send_activity(MessageFactory.text(text))

    async def reply_card(self, card: dict) -> None:
        await self.turn.send_activity(card_activity(card))


def activity_zone(turn: TurnContext) -> str | None:
    """The sender's IANA time zone, from the activity or its clientInfo entity."""
    activity = turn.activity
    if activity.local_timezone:
        return activity.local_timezone
    for entity in activity.entities or []:
        props = getattr(entity, "additional_properties", None) or {}
        if getattr(entity, "type", None) == "clientInfo" and props.get("timezone"):
            return props["timezone"]
    return None


def activity_tenant(turn: TurnContext) -> str | None:
    """The Entra ID tenant the turn comes from.

    botbuilder 4.17 maps `ConversationAccount.tenant_id` to the JSON key `tenantID` while Teams
    sends `tenantId`, so `activity.conversation.tenant_id` is None for real Teams traffic and
    the value lands in the account's extra properties; `channelData.tenant.id` carries it too.
    """
    conversation = turn.activity.conversation
    if conversation is not None:
        extra = getattr(conversation, "additional_properties", None) or {}
        for value in (conversation.tenant_id, extra.get("tenantId")):
            if isinstance(value, str) and value:
                return value
    channel_data = turn.activity.channel_data
    if isinstance(channel_data, dict):
        value = (channel_data.get("tenant") or {}).get("id")
        if isinstance(value, str) and value:
            return value
    return None
