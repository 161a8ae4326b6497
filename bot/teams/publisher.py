"""Posting and refreshing the living incident card in Teams.

The card is re-rendered from state after every committed change and updated in place wherever
it was posted: in the acting turn's conversation directly, elsewhere through the outbox. A Teams
failure here is logged and never rolls back the incident change.
"""
from __future__ import annotations

import json
import logging
from datetime import timezone

from botbuilder.core import CardFactory, MessageFactory, TurnContext
from botbuilder.schema import Activity, ConversationReference

from bot.domain import conversations
from bot.domain.model import IncidentView
from bot.domain.service import IncidentService
from bot.teams.cards import incident_card

log = logging.getLogger(__name__)


def card_activity(card: dict, *, activity_id: str | None = None) -> Activity:
    """A message activity carrying one Adaptive Card."""
    activity = MessageFactory.attachment(CardFactory.adaptive_card(card))
    if activity_id:
        activity.id = activity_id
    return activity


async def proactive(adapter, reference: ConversationReference, app_id: str, work) -> None:
    """Run `work(turn)` in a stored conversation and let its exception reach the caller.

    Inside `continue_conversation` an exception would go to the adapter's on_turn_error, which
    apologises in that conversation (a stranger's chat, for a background update) and hides the
    failure from the code that needs to fall back.
    """
    failure: list[BaseException] = []

    async def guarded(ctx: TurnContext) -> None:
        try:
            await work(ctx)
        except Exception as exc:  # handed to the caller below
            failure.append(exc)

    await adapter.continue_conversation(reference, guarded, app_id)
    if failure:
        raise failure[0]


def reference_json(turn: TurnContext) -> str:
    """The turn's conversation reference, serialized for storage."""
    ref = TurnContext.get_conversation_reference(turn.activity)
    return json.dumps(ref.serialize(), sort_keys=True)


class CardPublisher:
    """Posts the living card and keeps every copy of it current."""

    def __init__(self, *, service: IncidentService) -> None:
        self._service = service

    def render(self, view: IncidentView) -> dict:
        """The living card, in UTC because everyone in the conversation sees the same card."""
        return incident_card(view, self._service.plan, now=self._service.clock.now(), zone=timezone.utc)

    async def remember_conversation(self, turn: TurnContext) -> None:
        """Store this conversation's reference (cheap when unchanged)."""
        activity = turn.activity
        ref_json = reference_json(turn)
        tenant = activity.conversation.tenant_id if activity.conversation else None
        await self._service.execute(lambda s, now: conversations.remember_conversation(
            s, conversation_id=activity.conversation.id, tenant_id=tenant, service_url=activity.service_url,
            conversation_type=activity.conversation.conversation_type, reference_json=ref_json, now=now,
        ))

    async def remember_reference(self, reference: ConversationReference, conversation_id: str) -> None:
        """Store a reference built by the bot itself (e.g. for a thread it just started)."""
        ref_json = json.dumps(reference.serialize(), sort_keys=True)
        tenant = reference.conversation.tenant_id if reference.conversation else None
        await self._service.execute(lambda s, now: conversations.remember_conversation(
            s, conversation_id=conversation_id, tenant_id=tenant, service_url=reference.service_url,
            conversation_type=reference.conversation.conversation_type, reference_json=ref_json, now=now,
        ))

    async def remember_card(self, incident_id: int, conversation_id: str, activity_id: str) -> None:
        """Record a posted living card so every later change updates it in place."""
        await self._service.execute(lambda s, now: conversations.remember_card(
            s, incident_id=incident_id, conversation_id=conversation_id, activity_id=activity_id, now=now,
        ))

    async def post_living_card(self, turn: TurnContext, view: IncidentView) -> str | None:
        """Reply with the card and remember where it is; returns its activity id."""
        response = await turn.send_activity(card_activity(self.render(view)))
        activity_id = response.id if response else None
        if not activity_id:
            log.warning("living card posted without an id", extra={"incident": view.id})
            return None
        await self.remember_conversation(turn)
        await self.remember_card(view.id, turn.activity.conversation.id, activity_id)
        return activity_id

    async def refresh(self, incident_id: int, *, turn: TurnContext | None = None, skip_activity_id: str | None = None) -> None:
        """Update every posted copy of the card: the turn's own conversation at once, through
        the turn, so the person acting sees it; every other copy through the outbox (queued
        here, delivered with retries and rate shaping). Failures are logged, never raised."""
        here = turn.activity.conversation.id if turn is not None else None
        try:
            await self._service.execute(lambda s, now: conversations.cards_changed(
                s, incident_id=incident_id, now=now, except_conversation=here, except_activity=skip_activity_id))
        except Exception:
            log.exception("could not queue card updates", extra={"incident": incident_id})
        if turn is None:
            return
        try:
            view = await self._service.view(incident_id)
            locations = await self._service.read(lambda s: conversations.card_locations(s, incident_id))
        except Exception:
            log.exception("could not load incident for card refresh", extra={"incident": incident_id})
            return
        card = self.render(view)
        for loc in locations:
            if loc.conversation_id != here or loc.activity_id == skip_activity_id:
                continue
            try:
                await turn.update_activity(card_activity(card, activity_id=loc.activity_id))
            except Exception:
                log.exception("card update failed", extra={"incident": incident_id, "conversation": loc.conversation_id})
