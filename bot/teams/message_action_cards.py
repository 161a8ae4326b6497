"""The forms the two message actions open (Adaptive Card 1.5, shown in a Teams task module).

Pure functions from what the form should show to a card dict, like `bot.teams.cards`. A form
that comes back with an error is the same form, filled in with what the person submitted and
the reason at the top, so nothing they typed is lost.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timezone
from typing import Sequence
from zoneinfo import ZoneInfo

from bot.domain.formatting import format_time, incident_ref
from bot.domain.incidents import MAX_TEXT, MAX_TITLE
from bot.plan import Plan
from bot.teams.cards import SCHEMA
from bot.teams.message_payload import QuotedMessage

PREVIEW_CHARS = 600  # enough to recognise the message; the whole text is what gets recorded
Zone = ZoneInfo | timezone


@dataclass(frozen=True)
class DeclareDraft:
    """What the declare form shows (first from the message, later what was submitted)."""

    title: str = ""
    description: str = ""
    severity: str | None = None
    service_id: str | None = None


@dataclass(frozen=True)
class IncidentChoice:
    """One open incident the message can be added to."""

    incident_id: int
    title: str
    severity: str

    @property
    def label(self) -> str:
        return f"{incident_ref(self.incident_id)} · {self.severity.upper()} · {self.title}"


def _card(body: list[dict], actions: list[dict] | None = None) -> dict:
    card: dict = {"type": "AdaptiveCard", "$schema": SCHEMA, "version": "1.5", "body": body}
    if actions:
        card["actions"] = actions
    return card


def _text(text: str, **style: object) -> dict:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def _error(error: str | None) -> list[dict]:
    return [_text(error, color="Attention", weight="Bolder")] if error else []


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def declare_form(plan: Plan, draft: DeclareDraft, *, error: str | None = None) -> dict:
    """Title, severity (each with the plan's criteria), service and description; Declare."""
    severity_choices = [
        {"title": f"{s.id.upper()} · {s.name}: {s.criteria}", "value": s.id} for s in plan.severities
    ]
    body: list[dict] = [
        *_error(error),
        {"type": "Input.Text", "id": "title", "label": "Title", "isRequired": True, "maxLength": MAX_TITLE,
         "errorMessage": f"Give the incident a title of 1 to {MAX_TITLE} characters.",
         "placeholder": "What is happening? e.g. Payments API down", "value": draft.title},
        {"type": "Input.ChoiceSet", "id": "severity", "label": "Severity", "style": "expanded", "wrap": True,
         "isRequired": True, "errorMessage": "Pick a severity.", "choices": severity_choices,
         **({"value": draft.severity} if draft.severity else {})},
    ]
    services = [s for s in plan.services if not s.supplier]
    if services:
        body.append({
            "type": "Input.ChoiceSet", "id": "service", "label": "Affected service (optional)",
            "style": "compact", "placeholder": "Not sure / none",
            "choices": [{"title": s.name, "value": s.id} for s in services],
            **({"value": draft.service_id} if draft.service_id else {}),
        })
    body.append({
        "type": "Input.Text", "id": "description", "label": "Description (goes on the timeline)",
        "isMultiline": True, "maxLength": MAX_TEXT, "value": draft.description,
        "placeholder": "What do we know so far?",
    })
    return _card(body, [{"type": "Action.Submit", "title": "Declare incident", "data": {"id": "submitButton"}}])


def add_to_timeline_form(
    choices: Sequence[IncidentChoice], message: QuotedMessage, *, selected: int | None = None,
    error: str | None = None, zone: Zone = timezone.utc,
) -> dict:
    """Pick an open incident; the message (author, time, text) is shown as it will be recorded."""
    byline = f"**{message.author or 'Someone'}**"
    if message.created:
        byline += f" · {format_time(message.created, zone)}"
    preview = _shorten(message.text, PREVIEW_CHARS) if message.text else "(no text: open the link to see it)"
    quote = {"type": "Container", "style": "emphasis", "items": [
        _text(byline, size="Small"),
        _text(preview, spacing="Small"),
    ]}
    if message.link:
        quote["items"].append(_text(f"[Open the message]({message.link})", size="Small", isSubtle=True))
    body: list[dict] = [
        *_error(error),
        _text("Add this message to an incident's timeline", weight="Bolder", size="Medium"),
        quote,
        {"type": "Input.ChoiceSet", "id": "incident_id", "label": "Incident", "style": "compact",
         "isRequired": True, "errorMessage": "Pick the incident to add it to.",
         "placeholder": "Pick an open incident",
         "choices": [{"title": c.label, "value": str(c.incident_id)} for c in choices],
         **({"value": str(selected)} if selected else {})},
    ]
    action = {"type": "Action.Submit", "title": "Add to timeline",
              "data": {"id": "submitButton", "message": message.as_data()}}
    return _card(body, [action])


def no_open_incidents_card() -> dict:
    """Nothing to add to: say so, and how to start an incident instead."""
    return _card([
        _text("There are no open incidents", weight="Bolder", size="Medium"),
        _text("To start one from this message, close this and choose **Declare incident** from the "
              "message's **More actions** (…) menu. Or say `declare TITLE` to Firebreak."),
    ])


def outcome_card(title: str, lines: Sequence[str], *, url: str | None = None, url_title: str = "Open the incident") -> dict:
    """What happened after a submit, with a link to the incident's space when it has one."""
    actions = [{"type": "Action.OpenUrl", "title": url_title, "url": url}] if url else None
    return _card([_text(title, weight="Bolder", size="Medium"), *(_text(line) for line in lines)], actions)
