"""Cards for the communication plan (`comms`) and the incident tools (`tools`).

Each audience's message sits in a multi-line text input, prefilled: Teams renders an input's
value as it is (never as Markdown), so an incident title stays plain text, and the sender can
copy it, or adjust it before pressing "Mark as sent" (the text in the box is what is recorded).
Text from outside the plan (titles, names, notes) goes into TextBlocks through `plain`.
"""
from __future__ import annotations

from datetime import timezone
from typing import Sequence

from bot.domain.comms import AudienceDue
from bot.domain.formatting import format_time, incident_ref
from bot.domain.model import IncidentView
from bot.durations import format_duration
from bot.plan import Plan
from bot.teams.cards import SCHEMA, Zone, message_card
from bot.teams.untrusted import plain, safe_url

SENT_VERB = "comms.sent"


def _card(body: list[dict]) -> dict:
    return {"type": "AdaptiveCard", "$schema": SCHEMA, "version": "1.5", "body": body}


def _text(text: str, **style: object) -> dict:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def text_input_id(audience_id: str) -> str:
    return f"text_{audience_id}"


def note_input_id(audience_id: str) -> str:
    return f"note_{audience_id}"


def comms_card(view: IncidentView, plan: Plan, items: Sequence[AudienceDue], *, none_text: str | None = None,
               zone: Zone = timezone.utc) -> dict:
    """Who must be told about this incident, by whom and by when, each with its message and a
    "Mark as sent" button; or why nobody is listed."""
    inc = view.incident
    ref = incident_ref(view.id)
    body: list[dict] = [_text(f"Communication plan for {ref}: {plain(inc.title)}", weight="Bolder", size="Medium"),
                        _text(_context_line(view, plan), isSubtle=True, spacing="None")]
    if not items:
        body.append(_text(none_text or "Nobody must be told about this incident under the plan."))
        return _card(body)
    body.append(_text(f"{len(items)} to tell. Copy each message (adjust it if you need to), send it where it "
                      "says, then press **Mark as sent** so the timeline shows it.", size="Small"))
    for item in items:
        body.append(_audience_container(view.id, item, zone))
    return _card(body)


def _context_line(view: IncidentView, plan: Plan) -> str:
    inc = view.incident
    parts = [inc.severity.upper()]
    if inc.severity in plan.severity_ids():
        parts[0] += f" · {plan.severity(inc.severity).name}"
    if inc.service_id and inc.service_id in {s.id for s in plan.services}:
        service = plan.service(inc.service_id)
        tier = plan.tier(service.tier)
        parts.append(f"service: {service.name}" + (f" ({tier.name} tier)" if tier else ""))
    else:
        parts.append("service: not yet known")
    parts.append(f"declared {format_time(inc.declared_at)}")
    return " · ".join(parts)


def _audience_container(incident_id: int, item: AudienceDue, zone: Zone) -> dict:
    audience = item.audience
    due = f"{format_time(item.due, zone)} ({format_duration(audience.within)} after declaration)"
    if item.overdue:
        due += " · ⚠️ overdue"
    facts = [{"title": "Where", "value": audience.where},
             {"title": "Sender", "value": plain(item.sender)},
             {"title": "Due", "value": due}]
    if item.sent is not None:
        sent = f"sent at {format_time(item.sent.at, zone)} by {plain(item.sent.by)}"
        if item.sent.note:
            sent += f" ({plain(item.sent.note)})"
        facts.append({"title": "Last sent", "value": sent})
    else:
        facts.append({"title": "Last sent", "value": "not yet"})
    items: list[dict] = [_text(f"📣 {audience.name}", weight="Bolder"), {"type": "FactSet", "facts": facts}]
    if item.tier_unknown:
        items.append(_text(f"Only for services of the {', '.join(audience.tiers)} tier; this incident's service is "
                           "not known yet, so check before sending.", isSubtle=True, size="Small"))
    items.append({"type": "Input.Text", "id": text_input_id(audience.id), "isMultiline": True, "maxLength": 4000,
                  "label": "Message", "value": item.text})
    items.append({"type": "Input.Text", "id": note_input_id(audience.id), "maxLength": 300,
                  "label": "Note (optional)", "placeholder": "e.g. posted on the status page at 14:05"})
    title = "Mark update as sent" if item.sent is not None else "Mark as sent"
    items.append({"type": "ActionSet", "actions": [{
        "type": "Action.Execute", "title": title, "verb": SENT_VERB,
        "data": {"incident_id": incident_id, "audience": audience.id}}]})
    return {"type": "Container", "separator": True, "spacing": "Medium", "items": items}


def tools_card(plan: Plan) -> dict:
    """The plan's incident tools: each name a link, what it is for, how to get access."""
    links = plan.tools.links
    if not links:
        return message_card("Tools for incidents", [
            "The response plan lists no tools yet. Add them under `tools.links` (name, url, purpose, access)."])
    lines = []
    for tool in links:
        url = safe_url(tool.url)
        name = f"[{tool.name}]({url})" if url else tool.name
        line = f"**{name}**: {tool.purpose}"
        line += f" Access: {tool.access}" if tool.access else " No special access needed."
        lines.append(line)
    return message_card("Tools for incidents", lines)
