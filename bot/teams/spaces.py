"""Opening an incident's space in Teams: a channel of its own (through Microsoft Graph) or a new
thread in the incidents channel, whose first message is the living card.

The plan picks per severity (`bot.domain.spaces.decide_space`). When the channel cannot be had
(Graph not configured, refusing, throttling past the budget, the team at its channel cap), the
incident gets a thread, and the reason goes with it. If the incidents channel cannot be posted
to either (the app was removed, Teams refuses or times out), the incident stays in the
conversation where it was declared. The caller says why, once, and the fallback is recorded.
"""
from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from botbuilder.core import TurnContext
from botbuilder.schema import ConversationParameters, ConversationReference

from bot.domain import setup, spaces
from bot.domain.formatting import incident_ref
from bot.domain.model import IncidentView
from bot.domain.service import IncidentService
from bot.teams.incident_channels import IncidentChannels, Team
from bot.teams.publisher import CardPublisher, card_activity, proactive
from bot.teams.security import is_allowed_service_url
from bot.teams.transport import http_status_of, retry_after_of
from storage.models import ChannelBinding

log = logging.getLogger(__name__)
POST_RETRY_BUDGET_S = 4.0  # of a declare's ~15 s turn, what a throttled post in the space may wait


@dataclass(frozen=True)
class OpenedSpace:
    """Where the incident now lives, or why it could not get the space it should have."""

    kind: str
    conversation_id: str | None = None
    url: str | None = None
    note: str = ""
    failed: str | None = None
    cap_warning: str | None = None


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

    def __init__(self, *, adapter, app_id: str, service: IncidentService, publisher: CardPublisher,
                 channels: IncidentChannels, dev: bool) -> None:
        self._adapter = adapter
        self._app_id = app_id
        self._service = service
        self._publisher = publisher
        self._channels = channels
        self._dev = dev

    async def open(self, view: IncidentView) -> OpenedSpace:
        """Open the incident's space; kind "chat" means it stays where it was declared."""
        binding = await self._service.read(setup.incidents_channel)
        plan = self._service.plan
        wanted = plan.severity(view.incident.severity).space
        decision = spaces.decide_space(wanted=wanted, incidents_channel_bound=binding is not None,
                                       graph_ready=self._channels.ready)
        if decision.kind == "chat" or binding is None:
            return OpenedSpace("chat")
        fallback, warning = decision.fallback_reason, None
        if decision.kind == "channel":
            opened = await self._open_channel(binding, view)
            if opened.kind == "channel":
                return opened
            fallback, warning = f"{opened.failed}, so it got a thread in the incidents channel", opened.cap_warning
        try:
            thread_id, root_id, reference = await self._post_card(binding, binding.channel_id, view)
        except Exception as exc:  # Teams refused or failed: the incident stays where it was declared
            log.warning("could not open a thread in the incidents channel: %s", type(exc).__name__,
                        extra={"incident_id": view.id})
            return OpenedSpace("chat", failed=f"I could not post in the incidents channel ({_why(exc)})",
                               cap_warning=warning)
        reference.conversation.id = thread_id
        await self._publisher.remember_reference(reference, thread_id)
        await self._publisher.remember_card(view.id, thread_id, root_id)
        where = f"a thread in #{binding.channel_name or 'the incidents channel'}"
        note = f"{where} ({fallback})" if fallback else where
        url = thread_link(binding, root_id, view.incident.tenant_id)
        return OpenedSpace("thread", conversation_id=thread_id, url=url, note=note, cap_warning=warning)

    async def _open_channel(self, binding: ChannelBinding, view: IncidentView) -> OpenedSpace:
        """The incident's own channel with the card as its first post; kind "thread" (with the
        reason in `failed`) when it cannot be had."""
        if not binding.team_aad_group_id:
            return OpenedSpace("thread", failed=(
                f"I do not know the Microsoft 365 group id of the team {binding.team_name or binding.team_id} "
                "(say `setup incidents` in its incidents channel again)"))
        incident = view.incident
        result = await self._channels.open(
            number=view.id, title=incident.title, home=Team(binding.team_aad_group_id, binding.team_name or "the incidents team"),
            description=f"{incident_ref(view.id)}: {incident.title} ({incident.severity}). Opened by Firebreak.",
            spaces=self._service.plan.spaces,
        )
        if result.channel is None:
            return OpenedSpace("thread", failed=result.reason, cap_warning=result.cap_warning)
        channel = result.channel
        try:
            thread_id, root_id, reference = await self._post_card(binding, channel.id, view)
        except Exception as exc:
            log.warning("could not post in the new incident channel: %s", type(exc).__name__, extra={"incident_id": view.id})
            return OpenedSpace("thread", cap_warning=result.cap_warning, failed=(
                f"its channel #{channel.display_name} was created in {result.team.name}, but I could not post in it "
                f"({_why(exc)})"))
        thread_reference = ConversationReference().deserialize(reference.serialize())
        thread_reference.conversation.id = thread_id
        await self._publisher.remember_reference(thread_reference, thread_id)
        reference.conversation.id = channel.id  # later posts to the space start new threads in the channel
        await self._publisher.remember_reference(reference, channel.id)
        await self._publisher.remember_card(view.id, thread_id, root_id)
        url = channel.web_url or thread_link(binding, root_id, incident.tenant_id)
        return OpenedSpace("channel", conversation_id=channel.id, url=url, cap_warning=result.cap_warning,
                           note=f"its own channel #{channel.display_name} in {result.team.name}")

    async def _post_card(self, binding: ChannelBinding, channel_id: str,
                         view: IncidentView) -> tuple[str, str, ConversationReference]:
        """Start a new post in a channel of the bound team with the card (Teams' "create
        conversation" in a channel), returning the thread's conversation id, its root message
        id, and the channel's reference."""
        reference = ConversationReference().deserialize(json.loads(binding.reference_json))
        if not is_allowed_service_url(reference.service_url, dev=self._dev):
            raise PermissionError("the incidents channel's serviceUrl is not an allowed Teams host")
        posted: dict[str, str] = {}

        async def post(ctx: TurnContext) -> None:
            client = ctx.turn_state[ctx.adapter.BOT_CONNECTOR_CLIENT_KEY]
            params = ConversationParameters(
                is_group=True, bot=reference.bot, tenant_id=view.incident.tenant_id,
                channel_data={"channel": {"id": channel_id}},
                activity=card_activity(self._publisher.render(view)),
            )
            result = await client.conversations.create_conversation(params)
            posted.update(conversation_id=result.id or "", activity_id=result.activity_id or "")

        await self._throttle_aware(lambda: proactive(self._adapter, reference, self._app_id, post))
        root = posted.get("activity_id")
        if not root:
            raise RuntimeError("Teams accepted the post but returned no message id")
        thread = posted.get("conversation_id") or ""
        if spaces.THREAD_SEPARATOR not in thread:
            thread = spaces.thread_conversation_id(channel_id, root)
        return thread, root, reference


    async def _throttle_aware(self, attempt) -> None:
        """Run `attempt`, again after a 429 (Teams did not take it, so a retry cannot make a
        second post) when its Retry-After fits in the declare's budget; else raise."""
        waited = 0.0
        while True:
            try:
                return await attempt()
            except Exception as exc:
                wait = retry_after_of(exc)
                if http_status_of(exc) != 429 or wait is None or waited + wait > POST_RETRY_BUDGET_S:
                    raise
                waited += wait
                await asyncio.sleep(wait)


def _why(exc: Exception) -> str:
    status = http_status_of(exc)
    if status == 429:
        return "Teams is throttling posts there (429) for longer than a declare can wait"
    if status == 403:
        return "Teams answered 403: is the app still installed in that team?"
    if status:
        return f"Teams answered {status}"
    return type(exc).__name__
