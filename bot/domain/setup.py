"""Which Teams channels do which job, set from Teams with `setup`.

Binding a channel changes where every later incident and announcement goes, so only the plan
owner and the members of the incident manager's acting groups may do it. Anyone may look at
the current bindings. Every change is written to the audit trail, with what it replaced.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.model import Actor, Role
from bot.errors import PermissionDenied, ValidationFailed
from bot.plan import Plan
from storage import bindings, queries
from storage.models import ChannelBinding

PURPOSES: dict[str, tuple[str, str]] = {
    "incidents": ("the incidents channel", "New incidents get their thread or space from here."),
    "announcements": ("the announcements channel", "Incident announcements are posted here."),
}


@dataclass(frozen=True)
class ChannelPlace:
    """A channel as Teams describes it, with the reference needed to post into it later."""

    team_id: str
    team_name: str
    team_aad_group_id: str | None
    channel_id: str
    channel_name: str
    reference_json: str
    service_url: str = ""
    tenant_id: str | None = None


def may_configure(plan: Plan, actor: Actor) -> bool:
    """The plan owner and the incident manager's acting groups may change the setup."""
    email = (actor.email or "").lower()
    return bool(email) and (email == plan.plan.owner.lower() or plan.may_act_as(Role.INCIDENT_MANAGER.value, email))


def who_may_configure(plan: Plan) -> str:
    groups = [plan.group(g).name for g in plan.role(Role.INCIDENT_MANAGER.value).acting_groups]
    who = f"the plan owner ({plan.plan.owner})"
    return f"{who} or a member of {', '.join(groups)}" if groups else who


async def bind_channel(
    session: AsyncSession, *, plan: Plan, purpose: str, place: ChannelPlace, actor: Actor, now: datetime,
) -> ChannelBinding | None:
    """Make `place` the channel for `purpose`; returns the binding it replaced, if any."""
    if purpose not in PURPOSES:
        raise ValidationFailed(f"'{purpose}' is not something I can set up; say `setup incidents` or `setup announcements`.")
    if not may_configure(plan, actor):
        raise PermissionDenied(
            f"Sorry {actor.display}, only {who_may_configure(plan)} may change where incidents go.",
            action=f"setup {purpose}", allowed=who_may_configure(plan),
        )
    binding = ChannelBinding(
        purpose=purpose, team_id=place.team_id, team_name=place.team_name,
        team_aad_group_id=place.team_aad_group_id, channel_id=place.channel_id,
        channel_name=place.channel_name, reference_json=place.reference_json,
        set_by_aad=actor.aad_id, set_by_name=actor.display, set_at=now,
    )
    previous = await bindings.put_binding(session, binding)
    # the outbox posts by conversation id: keep the channel's own reference with the others
    await queries.upsert_conversation_ref(
        session, conversation_id=place.channel_id, tenant_id=place.tenant_id, service_url=place.service_url,
        conversation_type="channel", reference_json=place.reference_json, now=now,
    )
    await bindings.record_audit(
        session, at=now, action=f"setup {purpose}", actor_aad=actor.aad_id, actor_name=actor.display,
        old_value=_describe(previous), new_value=_describe(binding),
    )
    return previous


async def current_bindings(session: AsyncSession) -> Sequence[ChannelBinding]:
    return await bindings.all_bindings(session)


def _describe(binding: ChannelBinding | None) -> str | None:
    if binding is None:
        return None
    return json.dumps({"team": binding.team_name or binding.team_id, "team_id": binding.team_id,
                       "channel": binding.channel_name or binding.channel_id, "channel_id": binding.channel_id})


async def incidents_channel(session: AsyncSession) -> ChannelBinding | None:
    """The channel where incident threads start, if one was set up."""
    return await bindings.get_binding(session, "incidents")


async def incidents_channel_id(session: AsyncSession) -> str | None:
    """The incidents channel's id, if one is set up (a way to reach people in that team)."""
    binding = await incidents_channel(session)
    return binding.channel_id if binding else None
