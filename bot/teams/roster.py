"""Learn who is in a team or chat when Firebreak is installed there.

The plan names people by e-mail (UPN); Teams names them by AAD object id. Reading the roster
once at install time maps the two for everyone at once, so roles can be given to plan people
and group authority checked without asking Teams on every turn.
"""
from __future__ import annotations

import logging

from botbuilder.core import TurnContext
from botbuilder.core.teams import TeamsInfo

from bot.domain import conversations
from bot.domain.service import IncidentService
from bot.teams.identity import account_aad_id, member_email

log = logging.getLogger(__name__)
PAGE_SIZE = 500
MAX_PAGES = 200  # 100,000 members: far beyond any team, and a guard against a looping token


async def learn_roster(turn: TurnContext, service: IncidentService) -> int:
    """Store every member with an AAD id and a UPN; returns how many were stored."""
    people: dict[str, tuple[str, str]] = {}
    token: str | None = None
    for _ in range(MAX_PAGES):
        page = await TeamsInfo.get_paged_members(turn, token, PAGE_SIZE)
        for member in page.members or []:
            aad, email = account_aad_id(member), member_email(member)
            if aad and email and not aad.startswith("29:"):
                people[aad] = (_display_name(member), email)
        next_token = page.continuation_token
        if not next_token or next_token == token:
            break
        token = next_token
    if people:
        await service.execute(lambda s, now: conversations.remember_people(s, people=people, now=now))
    log.info("roster learned: %d people", len(people))
    return len(people)


def _display_name(member: object) -> str:
    name = getattr(member, "name", None)
    if name:
        return name
    extra = getattr(member, "additional_properties", None) or {}
    parts = [getattr(member, "given_name", None) or extra.get("givenName"), getattr(member, "surname", None) or extra.get("surname")]
    return " ".join(p for p in parts if p)
