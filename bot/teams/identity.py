"""Who is acting: the Teams user behind an activity, with their UPN/e-mail for plan lookups.

Teams activities carry the AAD object id and display name but not the e-mail; the plan names
people by e-mail. The first time we see someone we ask the Bot Connector (TeamsInfo.get_member,
bounded by a timeout) and remember the answer in the `person` table.
"""
from __future__ import annotations

import asyncio
import logging
import time

from botbuilder.core import TurnContext
from botbuilder.core.teams import TeamsInfo
from botbuilder.schema import ChannelAccount

from bot.domain import conversations
from bot.domain.model import Actor
from bot.domain.service import IncidentService
from bot.teams.commands import Mention

log = logging.getLogger(__name__)
MEMBER_LOOKUP_TIMEOUT_S = 3.0


def member_email(member: object) -> str | None:
    """UPN or e-mail of a TeamsChannelAccount; also reads `objectId`-style extra keys."""
    email = getattr(member, "user_principal_name", None) or getattr(member, "email", None)
    if not email:
        extra = getattr(member, "additional_properties", None) or {}
        email = extra.get("userPrincipalName") or extra.get("email")
    return email.lower() if isinstance(email, str) and "@" in email else None


def account_aad_id(account: ChannelAccount | object) -> str:
    """The AAD object id of an account; falls back to the channel id (emulators have no AAD ids)."""
    aad = getattr(account, "aad_object_id", None)
    if not aad:
        extra = getattr(account, "additional_properties", None) or {}
        aad = extra.get("objectId") or extra.get("aadObjectId")
    return aad or getattr(account, "id", "") or ""


class IdentityResolver:
    """Turns the sender of an activity (or someone mentioned) into an Actor with an e-mail.

    Known e-mails are also kept in memory for a while: every turn needs the actor, and asking
    the database each time would cost a round trip per turn for a value that rarely changes.
    """

    def __init__(self, service: IncidentService, *, cache_ttl_s: float = 600.0, cache_size: int = 10_000) -> None:
        self._service = service
        self._cache: dict[str, tuple[float, str | None]] = {}
        self._ttl = cache_ttl_s
        self._size = cache_size

    def _cached(self, aad: str) -> tuple[bool, str | None]:
        hit = self._cache.get(aad)
        if hit is None or time.monotonic() - hit[0] > self._ttl:
            return False, None
        return True, hit[1]

    def _remember(self, aad: str, email: str | None) -> None:
        if len(self._cache) >= self._size:
            self._cache.clear()
        self._cache[aad] = (time.monotonic(), email)

    async def actor_for(self, turn: TurnContext, account: ChannelAccount | None = None) -> Actor:
        account = account or turn.activity.from_property
        aad = account_aad_id(account)
        name = getattr(account, "name", None) or ""
        if not aad:
            return Actor(aad_id="", name=name)
        known, email = self._cached(aad)
        if not known:
            known, email = await self._service.read(lambda s: conversations.known_email(s, aad))
        if not known:
            email = await self._lookup_email(turn, account.id)
            await self._service.execute(lambda s, now: conversations.remember_person(
                s, aad_object_id=aad, display_name=name, email=email, now=now))
        self._remember(aad, email)
        return Actor(aad_id=aad, name=name, email=email)

    async def actor_for_mention(self, turn: TurnContext, mention: Mention) -> Actor:
        """A mentioned user: mentions carry only the Teams user id, so ask the roster for the rest."""
        if mention.aad_object_id:
            return await self.actor_for(turn, ChannelAccount(id=mention.id, name=mention.name, aad_object_id=mention.aad_object_id))
        member = await self._member(turn, mention.id)
        if member is None:
            return Actor(aad_id=mention.id, name=mention.name)
        aad = account_aad_id(member) or mention.id
        name = getattr(member, "name", None) or mention.name
        email = member_email(member)
        await self._service.execute(lambda s, now: conversations.remember_person(
            s, aad_object_id=aad, display_name=name, email=email, now=now))
        return Actor(aad_id=aad, name=name, email=email)

    async def _lookup_email(self, turn: TurnContext, member_id: str) -> str | None:
        member = await self._member(turn, member_id)
        return member_email(member) if member is not None else None

    async def _member(self, turn: TurnContext, member_id: str):
        if turn.activity.channel_id != "msteams":
            return None
        try:
            return await asyncio.wait_for(TeamsInfo.get_member(turn, member_id), MEMBER_LOOKUP_TIMEOUT_S)
        except Exception as exc:  # connector down or slow: carry on without the e-mail
            log.warning("member lookup failed: %s", type(exc).__name__)
            return None
