"""Which sender delivers an outbox row: Teams for everything, except a page's e-mail and
webhook contact attempts, which go to their own senders (they must work when Teams is down)."""
from __future__ import annotations

from bot.domain.outbox import DeliveryOutcome, OutboundSender
from bot.domain.paging import PAGE_RENDER
from storage.outbox import OutboxMessage

NOT_CONFIGURED = {
    "email": "e-mail is not configured (set FIREBREAK_SMTP_HOST; see README, Paging)",
    "webhook": "webhook paging is not configured",
}


class RoutingSender:
    """An OutboundSender that hands each row to the sender for its contact method."""

    starts_itself = True  # every sender behind it calls about_to_send() before it delivers

    def __init__(self, *, teams: OutboundSender, email: OutboundSender | None = None,
                 webhook: OutboundSender | None = None) -> None:
        self._teams = teams
        self._others = {"email": email, "webhook": webhook}

    async def deliver(self, message: OutboxMessage) -> DeliveryOutcome:
        payload = message.payload
        method = payload.get("method") if payload.get("render") == PAGE_RENDER else None
        if method in self._others:
            sender = self._others[method]
            if sender is None:
                return DeliveryOutcome.permanent(NOT_CONFIGURED[method])
            return await sender.deliver(message)
        return await self._teams.deliver(message)
