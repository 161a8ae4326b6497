"""Message actions: "Declare incident" and "Add to incident timeline" on any Teams message.

Both are message-extension action commands (`composeExtensions` in the manifest) with
`fetchTask: true`: Teams asks for a form (`composeExtension/fetchTask`), shows it in a task
module, and sends what the person filled in (`composeExtension/submitAction`). The answer to
either is the invoke's HTTP body: another form, or a card saying what happened.

Declaring goes through exactly the path the `declare` command takes; adding a message takes
the path a `note` takes (one transaction, claimed once). Bad input never changes anything: the
form comes back, filled in as submitted, with the reason on top. A submit Teams delivers twice
(the same activity, or a retry with a new id within a minute) records once.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from botbuilder.core import TurnContext
from botbuilder.schema import Attachment
from botbuilder.schema.teams import (
    MessagingExtensionAction,
    MessagingExtensionActionResponse,
    TaskModuleContinueResponse,
    TaskModuleTaskInfo,
)

from bot.domain import authz, incidents, spaces
from bot.domain.formatting import incident_ref, parse_incident_ref, viewer_zone
from bot.domain.model import Actor, IncidentView, Source
from bot.domain.service import CARD_ACTION_WINDOW, Dedupe
from bot.errors import Duplicate, FirebreakError, ValidationFailed
from bot.teams.cards import CARD_CONTENT_TYPE
from bot.teams.context import TeamsServices, activity_tenant, activity_zone
from bot.teams.incident_commands import declare_incident, post_declared
from bot.teams.message_action_cards import (
    DeclareDraft,
    IncidentChoice,
    add_to_timeline_form,
    declare_form,
    no_open_incidents_card,
    outcome_card,
)
from bot.teams.message_payload import QuotedMessage, carried_message, quoted_message

log = logging.getLogger(__name__)

CREATE_INCIDENT = "createIncident"
ADD_TO_TIMELINE = "addToTimeline"
COMMAND_IDS = (CREATE_INCIDENT, ADD_TO_TIMELINE)
NO_SERVICE = "none"
NO_TEXT = "(no text: open the link to see it)"


@dataclass
class MessageActionContext:
    """One message-action invoke: the turn, who invoked it, and what Teams sent."""

    app: TeamsServices
    turn: TurnContext
    action: MessagingExtensionAction
    actor: Actor
    activity_key: Dedupe | None = None

    @property
    def command_id(self) -> str:
        return str(self.action.command_id or "")

    @property
    def data(self) -> dict:
        return self.action.data if isinstance(self.action.data, dict) else {}

    @property
    def message(self) -> QuotedMessage:
        """The message acted on: Teams' own copy when it sent one, else the one the form carried."""
        quoted = quoted_message(self.action.message_payload)
        return quoted if not quoted.empty else carried_message(self.data.get("message"))

    @property
    def tenant_id(self) -> str | None:
        return activity_tenant(self.turn)

    def dedupe(self) -> tuple[Dedupe, ...]:
        """The activity, and the same submit by the same person within a minute (Teams retries a
        submit it got no answer to within five seconds, possibly with a new activity id)."""
        payload = json.dumps({"data": self.data, "message": self.message.message_id}, sort_keys=True, default=str)
        digest = hashlib.sha256(payload.encode()).hexdigest()[:16]
        keys = [Dedupe(f"msgaction:{self.command_id}:{self.actor.aad_id}:{digest}", window=CARD_ACTION_WINDOW)]
        if self.activity_key is not None:
            keys.append(self.activity_key)
        return tuple(keys)


def task(card: dict, *, title: str, height: str = "medium") -> MessagingExtensionActionResponse:
    """A task module showing `card` (a form, or what happened)."""
    info = TaskModuleTaskInfo(title=title, height=height, width="medium",
                              card=Attachment(content_type=CARD_CONTENT_TYPE, content=card))
    return MessagingExtensionActionResponse(task=TaskModuleContinueResponse(value=info))


async def fetch_task(ctx: MessageActionContext) -> MessagingExtensionActionResponse:
    """The form for the command, pre-filled from the message."""
    try:
        if ctx.command_id == CREATE_INCIDENT:
            return _declare_task(ctx, draft_from(ctx.message))
        if ctx.command_id == ADD_TO_TIMELINE:
            return await _timeline_task(ctx)
    except FirebreakError as error:
        return task(outcome_card("That did not work", [str(error)]), title="Firebreak")
    return _unknown(ctx)


async def submit_action(ctx: MessageActionContext) -> MessagingExtensionActionResponse:
    """Do what the form asks, or give the form back with the reason it cannot be done."""
    if ctx.command_id == CREATE_INCIDENT:
        return await _submit_declare(ctx)
    if ctx.command_id == ADD_TO_TIMELINE:
        return await _submit_add(ctx)
    return _unknown(ctx)


def _unknown(ctx: MessageActionContext) -> MessagingExtensionActionResponse:
    log.warning("unknown message action %r", ctx.command_id[:64])
    return task(outcome_card("Unknown action", [
        f"This version of Firebreak does not know the action '{ctx.command_id[:64]}'. "
        "Ask your Teams admin to upload the current app package."]), title="Firebreak")


# -- Declare incident -------------------------------------------------------------------------


def draft_from(message: QuotedMessage) -> DeclareDraft:
    """Title from the message's subject or first line, description from its whole text, both
    within what `incidents.declare` accepts so the form never starts out invalid."""
    first_line = next((line for line in message.text.splitlines() if line.strip()), "")
    title = " ".join((message.subject or first_line).split())
    return DeclareDraft(title=_shorten(title, incidents.MAX_TITLE), description=_shorten(message.text, incidents.MAX_TEXT))


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _declare_task(ctx: MessageActionContext, draft: DeclareDraft, error: str | None = None) -> MessagingExtensionActionResponse:
    return task(declare_form(ctx.app.service.plan, draft, error=error), title="Declare incident", height="large")


def _submitted_draft(data: dict) -> DeclareDraft:
    def text(key: str) -> str:
        value = data.get(key)
        return value if isinstance(value, str) else ""

    severity = text("severity").strip().lower() or None
    service = text("service").strip().lower()
    return DeclareDraft(title=" ".join(text("title").split()), description=text("description").strip(),
                        severity=severity, service_id=None if service in ("", NO_SERVICE) else service)


def _declare_problem(ctx: MessageActionContext, draft: DeclareDraft) -> str | None:
    """What is wrong with a submitted declare form, in words for the person (None: nothing)."""
    plan = ctx.app.service.plan
    if not draft.title:
        return "Give the incident a title."
    if not draft.severity:
        return "Pick a severity."
    if draft.severity not in plan.severity_ids():
        return f"'{draft.severity}' is not a severity in the response plan; pick one of {', '.join(plan.severity_ids())}."
    if draft.service_id and draft.service_id not in {s.id for s in plan.services}:
        return f"'{draft.service_id}' is not a service in the response plan; pick one from the list or leave it empty."
    return None


async def _submit_declare(ctx: MessageActionContext) -> MessagingExtensionActionResponse:
    draft = _submitted_draft(ctx.data)
    problem = _declare_problem(ctx, draft)
    if problem:
        return _declare_task(ctx, draft, problem)
    found = {"title": draft.title, "severity": draft.severity, "service_id": draft.service_id,
             "description": draft.description}
    try:
        view = await declare_incident(ctx.app, ctx.turn, ctx.actor, found, source=Source.MESSAGE_ACTION,
                                      dedupe=ctx.dedupe())
    except FirebreakError as error:  # the domain's own checks (a title too long, ...)
        return _declare_task(ctx, draft, str(error))
    if view is None:
        return await _already_declared(ctx, draft)
    ref = incident_ref(view.id)
    try:
        await post_declared(ctx.app, ctx.turn, ctx.actor, view)
    except Exception as exc:  # declared and committed: say so, and how to find it
        log.exception("declared but could not post the card", extra={"incident_id": view.id})
        return task(outcome_card(f"{ref} declared: {view.incident.title}", [
            f"I could not post its card in this conversation ({type(exc).__name__}); is Firebreak added here? "
            f"Say `status {ref}` to Firebreak in a chat to see it and work on it."]), title="Incident declared")
    return task(await _where_it_lives(ctx, view.id), title="Incident declared")


async def _where_it_lives(ctx: MessageActionContext, incident_id: int) -> dict:
    view = await ctx.app.service.view(incident_id)
    inc = view.incident
    ref = incident_ref(view.id)
    title = f"{ref} declared: {inc.title}"
    if inc.space_url:
        where = "its own channel" if inc.space_kind == "channel" else "a thread in the incidents channel"
        return outcome_card(title, [f"Its space is {where}; commands typed there apply to it."], url=inc.space_url)
    return outcome_card(title, [
        "Its living card is posted in this conversation, and commands typed here apply to it.",
        f"Elsewhere, name it: `status {ref}`."])


async def _already_declared(ctx: MessageActionContext, draft: DeclareDraft) -> MessagingExtensionActionResponse:
    """A repeated submit: point at the incident the first one declared, when it can be found."""
    mine = [i for i in await ctx.app.service.open_incidents()
            if i.declared_by_aad == ctx.actor.aad_id and i.title == draft.title]
    if mine and mine[0].id is not None:
        return task(await _where_it_lives(ctx, mine[0].id), title="Incident declared")
    return task(outcome_card("Already declared", [
        "This request reached me twice and I declared the incident once. Say `list` to Firebreak to see it."]),
        title="Incident declared")


# -- Add to incident timeline ------------------------------------------------------------------


async def _choices(ctx: MessageActionContext) -> list[IncidentChoice]:
    """Open incidents of the invoker's organisation, newest first."""
    return [IncidentChoice(i.id, i.title, i.severity) for i in await ctx.app.service.open_incidents()
            if i.id is not None and authz.same_organisation(i.tenant_id, ctx.tenant_id)]


async def _timeline_task(ctx: MessageActionContext, *, selected: int | None = None,
                         error: str | None = None) -> MessagingExtensionActionResponse:
    choices = await _choices(ctx)
    if not choices:
        card = no_open_incidents_card()
        if error:
            card["body"].insert(0, {"type": "TextBlock", "text": error, "wrap": True, "color": "Attention"})
        return task(card, title="Add to incident timeline", height="small")
    ids = {c.incident_id for c in choices}
    if selected not in ids:
        selected = await _incident_here(ctx, ids)
    zone = viewer_zone(activity_zone(ctx.turn))
    card = add_to_timeline_form(choices, ctx.message, selected=selected, error=error, zone=zone)
    return task(card, title="Add to incident timeline")


async def _incident_here(ctx: MessageActionContext, open_ids: set[int]) -> int | None:
    """The one open incident living in this conversation, to pre-select it."""
    conversation = ctx.turn.activity.conversation.id if ctx.turn.activity.conversation else None
    if not conversation:
        return None
    candidates = spaces.home_candidates(conversation)
    here = [i.id for i in await ctx.app.service.open_incidents()
            if i.id in open_ids and i.home_conversation_id in candidates]
    return here[0] if len(here) == 1 else None


def _chosen_incident(data: dict) -> int:
    raw: Any = data.get("incident_id")
    if isinstance(raw, int) and not isinstance(raw, bool) and raw > 0:
        return raw
    if isinstance(raw, str) and raw.strip():
        return parse_incident_ref(raw)
    raise ValidationFailed("Pick the incident to add the message to.")


async def _submit_add(ctx: MessageActionContext) -> MessagingExtensionActionResponse:
    message = ctx.message
    try:
        incident_id = _chosen_incident(ctx.data)
    except ValidationFailed as error:
        return await _timeline_task(ctx, error=str(error))
    if message.empty:
        return task(outcome_card("Nothing to add", [
            "Teams did not send me the message. Close this and start again from the message's "
            "**More actions** (…) menu."]), title="Add to incident timeline", height="small")
    text = message.text or NO_TEXT
    try:
        await ctx.app.service.execute(lambda s, now: incidents.add_message(
            session=s, incident_id=incident_id, text=text, author=message.author, link=message.link,
            actor=ctx.actor, source=Source.MESSAGE_ACTION, now=now, tenant_id=ctx.tenant_id,
        ), dedupe=ctx.dedupe())
    except Duplicate:
        pass  # recorded by the first delivery; the answer is the same
    except FirebreakError as error:
        return await _timeline_task(ctx, selected=incident_id, error=str(error))
    view: IncidentView = await ctx.app.service.view(incident_id)
    ref = incident_ref(incident_id)
    whose = f"{message.author}'s message" if message.author else "The message"
    return task(outcome_card(f"Added to the timeline of {ref}", [
        f"{whose} is on the timeline of {ref}: {view.incident.title}.",
        f"Say `timeline {ref}` to Firebreak to see it."], url=view.incident.space_url),
        title="Add to incident timeline", height="small")
