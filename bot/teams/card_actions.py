"""Card buttons: `Action.Execute` verbs routed through a registry, each declaring who may press it.

A handler returns the card that replaces the pressed one (Teams shows the invoke's card in
place). The same button pressed again by the same person within a minute, even with a new
activity id (Teams' retry of a slow invoke), changes state once.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from botbuilder.core import TurnContext

from bot.domain import incidents
from bot.domain.formatting import viewer_zone
from bot.domain.model import Actor, IncidentView, Role, Source
from bot.domain.service import CARD_ACTION_WINDOW, Dedupe, Refusal
from bot.errors import Duplicate, FirebreakError, ValidationFailed
from bot.teams.context import TeamsServices, activity_zone
from bot.teams.incident_commands import render_timeline
from bot.teams.publisher import card_activity


@dataclass
class ActionContext:
    """One button press."""

    app: TeamsServices
    turn: TurnContext
    verb: str
    data: dict
    actor: Actor

    @property
    def incident_id(self) -> int:
        raw = self.data.get("incident_id")
        if not isinstance(raw, int) or raw <= 0:
            raise ValidationFailed("This card is missing its incident id; say `status INC-7` (with its number) for a fresh card.")
        return raw

    def dedupe(self) -> tuple[Dedupe, ...]:
        payload = json.dumps(self.data, sort_keys=True, default=str)
        digest = hashlib.sha256(payload.encode()).hexdigest()[:16]
        keys = [Dedupe(f"card:{self.verb}:{self.actor.aad_id}:{digest}", window=CARD_ACTION_WINDOW)]
        if self.turn.activity.id:
            keys.append(Dedupe(f"activity:{self.turn.activity.conversation.id}:{self.turn.activity.id}"))
        return tuple(keys)


Handler = Callable[[ActionContext], Awaitable[dict]]


@dataclass(frozen=True)
class ActionSpec:
    verb: str
    who: str
    handler: Handler


@dataclass
class CardActionRegistry:
    """verb -> handler; `who` documents who may press it (the domain enforces it)."""

    _specs: dict[str, ActionSpec] = field(default_factory=dict)

    def action(self, verb: str, *, who: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            if verb in self._specs:
                raise ValueError(f"card action {verb!r} registered twice")
            self._specs[verb] = ActionSpec(verb, who, handler)
            return handler

        return register

    def lookup(self, verb: str) -> ActionSpec | None:
        return self._specs.get(verb)

    def specs(self) -> list[ActionSpec]:
        return list(self._specs.values())


actions = CardActionRegistry()


async def _change(ctx: ActionContext, what: str, op) -> dict:
    """Apply one change from a button and return the refreshed living card."""
    iid = ctx.incident_id
    try:
        view: IncidentView = await ctx.app.service.execute(
            op, dedupe=ctx.dedupe(), refusal=Refusal(ctx.actor, Source.CARD, what)
        )
    except Duplicate:
        view = await ctx.app.service.view(iid)
    except FirebreakError as error:
        await ctx.turn.send_activity(str(error))
        view = await ctx.app.service.view(iid)
        return ctx.app.publisher.render(view)
    await ctx.app.publisher.refresh(iid, turn=ctx.turn, skip_activity_id=ctx.turn.activity.reply_to_id)
    return ctx.app.publisher.render(view)


def _transition(action: str) -> Handler:
    async def handler(ctx: ActionContext) -> dict:
        summary = (ctx.data.get("summary") or "").strip() or None
        return await _change(ctx, action, lambda s, now: incidents.transition(
            session=s, plan=ctx.app.service.plan, incident_id=ctx.incident_id, action=action,
            actor=ctx.actor, source=Source.CARD, now=now, text=summary))

    return handler


actions.action("incident.ack", who="anyone in the conversation")(_transition("ack"))
actions.action("incident.resolve", who="the incident manager or the plan's acting groups")(_transition("resolve"))
actions.action("incident.reopen", who="the incident manager or the plan's acting groups")(_transition("reopen"))


@actions.action("incident.take_manager", who="anyone while there is no incident manager; else the manager")
async def take_manager(ctx: ActionContext) -> dict:
    return await _change(ctx, "take incident manager", lambda s, now: incidents.assign_role(
        session=s, plan=ctx.app.service.plan, incident_id=ctx.incident_id, role=Role.INCIDENT_MANAGER,
        assignee=ctx.actor, actor=ctx.actor, source=Source.CARD, now=now))


@actions.action("incident.take_role", who="anyone in the conversation (impartial roles: someone who has not worked it)")
async def take_role(ctx: ActionContext) -> dict:
    """Take the comms lead, scribe or postmortem leader role from the card."""
    try:
        role = Role(str(ctx.data.get("role") or ""))
    except ValueError:
        raise ValidationFailed("Pick a role first.") from None
    if role is Role.INCIDENT_MANAGER:
        return await take_manager(ctx)
    return await _change(ctx, f"take {role.value}", lambda s, now: incidents.assign_role(
        session=s, plan=ctx.app.service.plan, incident_id=ctx.incident_id, role=role,
        assignee=ctx.actor, actor=ctx.actor, source=Source.CARD, now=now))


@actions.action("incident.set_severity", who="anyone in the conversation")
async def set_severity(ctx: ActionContext) -> dict:
    level = str(ctx.data.get("severity") or "").lower()
    if not level:
        raise ValidationFailed("Pick a severity first.")
    return await _change(ctx, "change severity", lambda s, now: incidents.set_severity(
        session=s, plan=ctx.app.service.plan, incident_id=ctx.incident_id, severity=level,
        actor=ctx.actor, source=Source.CARD, now=now))


@actions.action("incident.timeline", who="anyone in the conversation")
async def show_timeline(ctx: ActionContext) -> dict:
    """Post the timeline as a new message and leave the living card as it is."""
    card = await render_timeline(ctx.app, ctx.incident_id, page=1, zone=viewer_zone(activity_zone(ctx.turn)))
    await ctx.turn.send_activity(card_activity(card))
    return ctx.app.publisher.render(await ctx.app.service.view(ctx.incident_id))


@actions.action("timeline.page", who="anyone in the conversation")
async def timeline_page(ctx: ActionContext) -> dict:
    page = ctx.data.get("page")
    if not isinstance(page, int):
        raise ValidationFailed("This button has no page number.")
    return await render_timeline(ctx.app, ctx.incident_id, page=page, zone=viewer_zone(activity_zone(ctx.turn)))


__all__ = ["actions", "ActionContext", "CardActionRegistry"]
