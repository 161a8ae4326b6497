"""The outbox's Teams sender: turns an outbox message into a Bot Connector call.

Messages that say `render` are rendered here, at delivery time, from the current state. An
announcement queued for an incident's first change still shows its latest state when it goes
out, and a later change updates the same message in place. Connector errors are mapped to
outcomes the outbox understands: 429/5xx/timeouts are retryable (Retry-After kept), and so
is a token Entra ID does not give (`bot/teams/bot_token.py`); other 4xx are permanent.
"""
from __future__ import annotations

import asyncio
import json
import logging
from datetime import timezone

import aiohttp

from botbuilder.core import CardFactory, MessageFactory, TurnContext
from botbuilder.schema import ConversationReference

from bot.domain import announcements, conversations, cover, direct_messages, paging, setup, spaces
from bot.domain.outbox import DeliveryOutcome, about_to_send
from bot.domain.service import IncidentService
from bot.domain.formatting import incident_ref
from bot.domain.model import ROLE_LABELS, SYSTEM_ACTOR, Role
from bot.teams.cards import announcement_card, incident_card
from bot.teams import connector_api
from bot.teams.bot_token import TokenUnavailable
from bot.teams.connector_api import ConnectorApi, ConnectorHttpError
from bot.teams.page_cards import cover_card, page_card
from bot.teams.publisher import proactive
from bot.teams.security import is_allowed_service_url
from bot.teams.spaces import SpacePlacer
from bot.teams.untrusted import plain
from bot.teams.transport import http_status_of, retry_after_of
from storage.outbox import OutboxMessage

log = logging.getLogger(__name__)
RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})


class TeamsSender:
    """Delivers outbox messages into stored Teams conversations."""

    starts_itself = True  # calls about_to_send() right before a POST that delivers (a card update's PUT needs none)

    def __init__(self, *, adapter, app_id: str, service: IncidentService, dev: bool, api: ConnectorApi,
                 spaces: SpacePlacer) -> None:
        self._adapter = adapter
        self._app_id = app_id
        self._service = service
        self._dev = dev
        self._api = api
        self._spaces = spaces

    async def deliver(self, message: OutboxMessage) -> DeliveryOutcome:
        """Deliver one message. A timeout is raised, not mapped: the post may have landed, so
        the outbox marks it "delivery unknown" instead of sending it twice."""
        try:
            return await self._deliver(message)
        except aiohttp.ClientConnectorError as exc:  # never connected: nothing was sent
            return DeliveryOutcome.retryable(status_code=None, error=f"cannot connect: {type(exc).__name__}")
        except TokenUnavailable as exc:  # no token (Entra ID down or slow): nothing was sent
            return DeliveryOutcome.retryable(status_code=None, error=f"the bot's token: {exc}")
        except (asyncio.TimeoutError, aiohttp.ClientError):
            raise
        except ConnectorHttpError as exc:
            if exc.status in RETRYABLE:
                return DeliveryOutcome.retryable(status_code=exc.status, retry_after=exc.retry_after)
            log.warning("outbox delivery refused: %s", exc.status, extra={"outbox_id": message.id})
            return DeliveryOutcome.permanent(f"Bot Connector answered {exc.status}", status_code=exc.status)
        except Exception as exc:
            status = http_status_of(exc)
            if status in RETRYABLE:
                return DeliveryOutcome.retryable(status_code=status, retry_after=retry_after_of(exc))
            log.warning("outbox delivery refused: %s %s", status, type(exc).__name__, extra={"outbox_id": message.id})
            return DeliveryOutcome.permanent(f"{type(exc).__name__} ({status or 'no status'})", status_code=status)

    async def _deliver(self, message: OutboxMessage) -> DeliveryOutcome:
        payload = message.payload
        if payload.get("render") == announcements.ROLE_BRIEF:
            return await self._brief(message.conversation_id, payload)
        if payload.get("render") == paging.PAGE_RENDER:
            return await self._page(message.conversation_id, payload)
        if payload.get("render") == cover.COVER_RENDER:
            return await self._cover(message.conversation_id, payload)
        if payload.get("render") == spaces.OPEN_SPACE_RENDER:
            return await self._open_space(int(payload["incident_id"]))
        if payload.get("render") == direct_messages.DIRECT_RENDER:
            via = payload.get("via") or await self._service.read(setup.incidents_channel_id)
            reference = await self._personal_reference(message.conversation_id, payload["user_aad"], via)
            if reference is None:
                return DeliveryOutcome.permanent("no conversation to reach this person through (set up an incidents "
                                                 "channel, or have them message the bot once)")
            return await self._post(reference, message.conversation_id, connector_api.message(payload["text"]))
        stored = await self._service.read(lambda s: conversations.stored_reference(s, message.conversation_id))
        if stored is None:
            return DeliveryOutcome.permanent(f"no stored conversation reference for {message.conversation_id}")
        reference_json, service_url = stored
        if not is_allowed_service_url(service_url, dev=self._dev):
            return DeliveryOutcome.permanent("stored serviceUrl is not an allowed Teams host")
        reference = json.loads(reference_json)
        if payload.get("render") == announcements.RENDER:
            return await self._announce(reference, message.conversation_id, int(payload["incident_id"]))
        if payload.get("render") == conversations.CARD_RENDER:
            return await self._update_card(reference, int(payload["incident_id"]), message.target_activity_id or "")
        digest = payload.get("digest") or {}
        if digest.get("bundle") == announcements.BUNDLE:
            ids = [int(i["incident_id"]) for i in digest.get("items", []) if i.get("incident_id") is not None]
            plan = self._service.plan
            people = await self._service.read(lambda s: announcements.digest_mentions(s, plan=plan, incident_ids=ids))
            payload = {**payload, "mentions": [list(p) for p in people]}
        return await self._post(reference, message.conversation_id, _plain_activity(payload))

    async def _announce(self, reference: dict, channel_id: str, incident_id: int) -> DeliveryOutcome:
        view = await self._service.view(incident_id)
        plan = self._service.plan
        people = await self._service.read(lambda s: announcements.mentions(s, plan=plan, severity=view.incident.severity))
        card = announcement_card(view, plan, mentions=people, space_url=view.incident.space_url)
        existing = await self._service.read(lambda s: announcements.posted(s, incident_id))
        if existing is not None:
            await self._update(reference, existing.activity_id, card)
            return DeliveryOutcome.ok(existing.activity_id)
        outcome = await self._post(reference, channel_id, connector_api.message(cards=[card]))
        if outcome.remote_activity_id:
            name = await self._service.read(announcements.channel_name)
            await self._service.execute(lambda s, now: announcements.remember_posted(
                s, incident_id=incident_id, conversation_id=channel_id, activity_id=outcome.remote_activity_id,
                channel_name=name, now=now))
        return outcome

    async def _open_space(self, incident_id: int) -> DeliveryOutcome:
        """Open the space of an incident declared outside Teams (an alert), as a declare in a
        chat would: its own channel or a thread in the incidents channel, the card first."""
        view = await self._service.view(incident_id)
        if view.incident.home_conversation_id:
            return DeliveryOutcome.cancelled("the incident already has a space")
        if not await about_to_send():
            return DeliveryOutcome.ok(None)
        opened = await self._spaces.open(view)
        plan = self._service.plan
        if opened.cap_warning:
            await self._service.execute(lambda s, now: spaces.warn_channel_cap(
                s, plan=plan, incident_id=incident_id, warning=opened.cap_warning, now=now))
        if opened.kind == "chat":
            reason = opened.failed or "no incidents channel is set up (say `setup incidents` in a team's channel)"
            await self._service.execute(lambda s, now: spaces.no_space(s, incident_id=incident_id, reason=reason,
                                                                       now=now))
            return DeliveryOutcome.ok(None)
        await self._service.execute(lambda s, now: spaces.move_home(
            s, incident_id=incident_id, conversation_id=opened.conversation_id, kind=opened.kind, url=opened.url,
            note=opened.note, actor=SYSTEM_ACTOR, now=now))
        return DeliveryOutcome.ok(None)

    async def _update_card(self, reference: dict, incident_id: int, activity_id: str) -> DeliveryOutcome:
        """Replace a posted living card with one rendered from the incident's state now."""
        view = await self._service.view(incident_id)
        card = incident_card(view, self._service.plan, now=self._service.clock.now(), zone=timezone.utc)
        await self._update(reference, activity_id, card)
        return DeliveryOutcome.ok(activity_id)

    async def _update(self, reference: dict, activity_id: str, card: dict) -> None:
        """Replace a posted card in place (through the SDK: its PUT is retried on 429/5xx).

        No `sending` mark (`about_to_send`): the PUT puts the card as rendered now in place of
        the posted one, so doing it twice is harmless. A PUT that fails, times out or is cut
        off by a crash leaves the row claimed, and it is simply done again (after a restart,
        the claim is handed back), instead of ending "delivery unknown" with a stale card."""
        activity = MessageFactory.attachment(CardFactory.adaptive_card(card))
        activity.id = activity_id

        async def update(ctx: TurnContext) -> None:
            await ctx.update_activity(activity)

        await proactive(self._adapter, ConversationReference().deserialize(reference), self._app_id, update)

    async def _brief(self, personal_key: str, payload: dict) -> DeliveryOutcome:
        """Tell someone given a role, in a 1:1 chat (created through the incident's own
        conversation the first time), what the incident is and what the role expects."""
        view = await self._service.view(int(payload["incident_id"]))
        plan = self._service.plan
        role = Role(payload["role"])
        reference = await self._personal_reference(personal_key, payload["user_aad"], view.incident.home_conversation_id)
        if reference is None:
            return DeliveryOutcome.permanent("no conversation to reach this person through")
        text = (f"You are now **{ROLE_LABELS[role].lower()}** of {incident_ref(view.id)}: {plain(view.incident.title)}. "
                f"What the {ROLE_LABELS[role].lower()} does: {plan.role(role.value).duties}")
        activity = connector_api.message(text, cards=[incident_card(view, plan, now=self._service.clock.now())])
        return await self._post(reference, personal_key, activity)

    async def _page(self, personal_key: str, payload: dict) -> DeliveryOutcome:
        """A page in the person's 1:1 chat: the page card with Acknowledge / Escalate now / I can't.
        Checked against the escalation first, so an acknowledged page is never sent."""
        page_id = int(payload["page_id"])

        async def facts(session):  # one read: the page, its escalation and incident, the chat
            found = await paging.page_to_deliver(session, page_id)
            chat = await conversations.stored_reference(session, personal_key) if found is not None else None
            return found, chat

        found, chat = await self._service.read(facts)
        if found is None:
            return DeliveryOutcome.cancelled("the page no longer exists")
        page, escalation_status, incident = found
        if page.status == "acknowledged" or escalation_status in ("acknowledged", "stopped"):
            return DeliveryOutcome.cancelled(f"not needed: the escalation is {escalation_status}")
        if not payload.get("user_aad"):
            return DeliveryOutcome.permanent(f"{payload.get('email')} has not been seen in Teams yet (install the app "
                                             "for them, or add them to a team where it is installed)")
        if chat is not None:
            reference = json.loads(chat[0])
        else:  # the chat is created through the incident's space, or the incidents channel if it has none yet
            via = incident.home_conversation_id or await self._service.read(setup.incidents_channel_id)
            reference = await self._personal_reference(personal_key, payload["user_aad"], via)
        if reference is None:
            return DeliveryOutcome.permanent("no conversation to reach this person through")
        card = page_card(incident, self._service.plan, escalation_id=page.escalation_id, page_id=page.id,
                         level=page.level, now=page.created_at)
        activity = connector_api.message(f"🚨 You are paged for {incident_ref(incident.id)}: {plain(incident.title)}",
                                         cards=[card])
        return await self._post(reference, personal_key, activity)

    async def _cover(self, personal_key: str, payload: dict) -> DeliveryOutcome:
        """A `cover me` request card to one volunteer, unless it was taken meanwhile."""
        request = await self._service.read(lambda s: cover.load(s, int(payload["request_id"])))
        if request is None or request.status != "open":
            return DeliveryOutcome.cancelled("the cover request was taken or withdrawn")
        via = payload.get("via") or await self._service.read(setup.incidents_channel_id)
        reference = await self._personal_reference(personal_key, payload["user_aad"], via)
        if reference is None:
            return DeliveryOutcome.permanent("no conversation to reach this person through")
        plan = self._service.plan
        requester = plan.person(request.requester_email)
        card = cover_card(request_id=request.id, requester=requester.name if requester else request.requester_email,
                          schedule_name=plan.schedule(request.schedule_id).name, start=request.starts_at,
                          end=request.ends_at)
        return await self._post(reference, personal_key, connector_api.message(cards=[card]))

    async def _personal_reference(self, personal_key: str, user_aad: str, via: str | None) -> dict | None:
        """The stored reference of someone's 1:1 chat with the bot; created the first time through
        the reference of a conversation they share with it (`via`), then stored."""
        stored = await self._service.read(lambda s: conversations.stored_reference(s, personal_key))
        if stored is not None:
            return json.loads(stored[0])
        home = await self._service.read(lambda s: conversations.stored_reference(s, via)) if via else None
        if home is None or not is_allowed_service_url(home[1], dev=self._dev):
            return None
        reference = json.loads(home[0])
        created = await self._api.create_conversation(reference, members=[user_aad])
        tenant = (reference.get("conversation") or {}).get("tenantId")
        personal = {**reference, "conversation": {"id": created["id"], "conversationType": "personal",
                                                  **({"tenantId": tenant} if tenant else {})},
                    "user": {"id": user_aad}}
        personal.pop("activityId", None)
        await self._service.execute(lambda s, now: conversations.remember_conversation(
            s, conversation_id=personal_key, tenant_id=tenant, service_url=home[1], conversation_type="personal",
            reference_json=json.dumps(personal, sort_keys=True), now=now))
        return personal

    async def _post(self, reference: dict, conversation_id: str, activity: dict) -> DeliveryOutcome:
        """A new post: in a channel, a new thread; in a thread (an incident's space) or a chat, a
        new message there."""
        # `about_to_send` runs inside the call, once the token and body are ready; if it says
        # the row is not ours any more, nothing is sent and the worker ignores this outcome
        in_channel = (reference.get("conversation") or {}).get("conversationType") == "channel"
        if in_channel and spaces.THREAD_SEPARATOR not in conversation_id:  # a thread's id: a reply in it
            created = await self._api.create_conversation(reference, channel_id=conversation_id, activity=activity,
                                                          ready=about_to_send)
            return DeliveryOutcome.ok((created or {}).get("activityId") or None)
        return DeliveryOutcome.ok(await self._api.post_message(reference, activity, ready=about_to_send) or None)


def _plain_activity(payload: dict) -> dict:
    """A text message (digests and plain notices) with optional @mentions (`mentions`: pairs of
    AAD id and name, which Teams accepts as the mentioned id) and card attachments."""
    text = payload.get("text") or payload.get("summary") or ""
    people = [(aad, name) for aad, name in payload.get("mentions") or []]
    return connector_api.message(text, cards=payload.get("cards") or [], mentions=people)

