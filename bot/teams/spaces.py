"""Opening an incident's space in Teams: a new thread in the incidents channel, whose first
message is the living card.

If the incidents channel cannot be posted to (the app was removed, Teams refuses or times out),
the incident stays in the conversation where it was declared. The caller says why, and the
fallback is recorded. A dedicated channel per incident (through Microsoft Graph) is chosen
by the same decision, `bot.domain.spaces.decide_space`.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from botbuilder.core import TurnContext
from botbuilder.schema import ConversationParameters, ConversationReference

from bot.domain import setup, spaces
from bot.domain.model import IncidentView
from bot.domain.service import IncidentService
from bot.teams.publisher import CardPublisher, card_activity, proactive
from bot.teams.security import is_allowed_service_url
from bot.teams.transport import http_status_of
from storage.models import ChannelBinding

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpenedSpace:
    """Where the incident now lives, or why it could not get the space it should have."""

    kind: str
    conversation_id: str | None = None
    url: str | None = None
    note: str = ""
    failed: str | None = None


def thread_link(binding: ChannelBinding, root_id: str, tenant_id: str | None) -> str:
    """A Teams deep link to a thread in the bound channel."""
    query = {"parentMessageId": root_id}
    if binding.team_aad_group_id:
        query["groupId"] = binding.team_aad_group_id
    if tenant_id:
        query["tenantId"] = tenant_id
    return f"https://teams.microsoft.com/l/message/{quote(binding.channel_id, safe='')}/{root_id}?{urlencode(query)}"


class SpacePlacer:
    """Decides and opens the space for a newly declared incident."""

    def __init__(self, *, adapter, app_id: str, service: IncidentService, publisher: CardPublisher, dev: bool) -> None:
        self._adapter = adapter
        self._app_id = app_id
        self._service = service
        self._publisher = publisher
        self._dev = dev

    async def open(self, turn: TurnContext, view: IncidentView) -> OpenedSpace:
        """Open the incident's space; kind "chat" means it stays where it was declared."""
        binding = await self._service.read(setup.incidents_channel)
        plan = self._service.plan
        wanted = plan.severity(view.incident.severity).space
        decision = spaces.decide_space(wanted=wanted, incidents_channel_bound=binding is not None, graph_ready=False)
        if decision.kind == "chat" or binding is None:
            return OpenedSpace("chat")
        try:
            thread_id, root_id, reference = await self._post_thread(binding, view)
        except Exception as exc:  # Teams refused or failed: the incident stays where it was declared
            log.warning("could not open a thread in the incidents channel: %s", type(exc).__name__,
                        extra={"incident_id": view.id})
            return OpenedSpace("chat", failed=f"I could not post in the incidents channel ({_why(exc)})")
        reference.conversation.id = thread_id
        await self._publisher.remember_reference(reference, thread_id)
        await self._publisher.remember_card(view.id, thread_id, root_id)
        where = f"a thread in #{binding.channel_name or 'the incidents channel'}"
        note = f"{where} ({decision.fallback_reason})" if decision.fallback_reason else where
        url = thread_link(binding, root_id, view.incident.tenant_id)
        return OpenedSpace("thread", conversation_id=thread_id, url=url, note=note)

    async def _post_thread(self, binding: ChannelBinding, view: IncidentView) -> tuple[str, str, ConversationReference]:
        """Start a new post in the bound channel with the card (Teams' "create conversation"
        in a channel), returning the thread's conversation id, its root message id, and the
        channel's reference."""
        reference = ConversationReference().deserialize(json.loads(binding.reference_json))
        if not is_allowed_service_url(reference.service_url, dev=self._dev):
            raise PermissionError("the incidents channel's serviceUrl is not an allowed Teams host")
        posted: dict[str, str] = {}

        async def post(ctx: TurnContext) -> None:
            client = ctx.turn_state[ctx.adapter.BOT_CONNECTOR_CLIENT_KEY]
            params = ConversationParameters(
                is_group=True, bot=reference.bot, tenant_id=view.incident.tenant_id,
                channel_data={"channel": {"id": binding.channel_id}},
                activity=card_activity(self._publisher.render(view)),
            )
            result = await client.conversations.create_conversation(params)
            posted.update(conversation_id=result.id or "", activity_id=result.activity_id or "")

        await proactive(self._adapter, reference, self._app_id, post)
        root = posted.get("activity_id")
        if not root:
            raise RuntimeError("Teams accepted the post but returned no message id")
        thread = posted.get("conversation_id") or ""
        if spaces.THREAD_SEPARATOR not in thread:
            thread = spaces.thread_conversation_id(binding.channel_id, root)
        return thread, root, reference


def _why(exc: Exception) -> str:
    status = http_status_of(exc)
    if status == 403:
        return "Teams answered 403: is the app still installed in that team?"
    if status:
        return f"Teams answered {status}"
    return type(exc).__name__
