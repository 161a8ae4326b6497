"""The page card: what a paged person sees in their 1:1 chat, with Acknowledge / Escalate now /
I can't. Rendered when the page is delivered, so it shows the incident as it is then."""
from __future__ import annotations

from datetime import datetime

from bot.domain.formatting import format_time, incident_ref
from bot.plan import Plan
from bot.teams.untrusted import plain
from storage.models import Incident


def page_card(inc: Incident, plan: Plan, *, escalation_id: int, page_id: int, level: int, now: datetime,
              state: str = "active") -> dict:
    """Adaptive Card 1.5 for one page; `state` other than active replaces the buttons with the outcome."""
    sev = plan.severity(inc.severity) if inc.severity in plan.severity_ids() else None
    data = {"escalation_id": escalation_id, "page_id": page_id, "incident_id": inc.id}
    body: list[dict] = [
        {"type": "TextBlock", "text": f"🚨 Page: {incident_ref(inc.id)}", "weight": "Bolder", "size": "Large",
         "color": "Attention", "wrap": True},
        {"type": "TextBlock", "text": plain(inc.title), "wrap": True, "weight": "Bolder"},
        {"type": "FactSet", "facts": [
            {"title": "Severity", "value": f"{inc.severity.upper()} · {sev.name}" if sev else inc.severity.upper()},
            {"title": "Status", "value": inc.status.capitalize()},
            {"title": "Level", "value": str(level + 1)},
            {"title": "Paged at", "value": format_time(now)},
        ]},
    ]
    if inc.space_url:
        body.append({"type": "TextBlock", "text": f"[Open the incident's space]({inc.space_url})", "wrap": True})
    card: dict = {"type": "AdaptiveCard", "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                  "version": "1.5", "body": body}
    if state == "active":
        card["actions"] = [
            {"type": "Action.Execute", "title": "Acknowledge", "verb": "page.ack", "data": data, "style": "positive"},
            {"type": "Action.Execute", "title": "Escalate now", "verb": "page.escalate", "data": data},
            {"type": "Action.Execute", "title": "I can't", "verb": "page.cant", "data": data, "style": "destructive"},
        ]
    else:
        body.append({"type": "TextBlock", "text": state, "wrap": True, "weight": "Bolder", "color": "Good"})
    return card


def cover_card(*, request_id: int, requester: str, schedule_name: str, start: datetime, end: datetime,
               zone=None, outcome: str | None = None) -> dict:
    """A `cover me` request as a volunteer sees it; `outcome` replaces the button once decided."""
    body: list[dict] = [
        {"type": "TextBlock", "text": f"🙋 {requester} asks for cover", "weight": "Bolder", "size": "Medium", "wrap": True},
        {"type": "FactSet", "facts": [
            {"title": "Schedule", "value": schedule_name},
            {"title": "From", "value": format_time(start, zone)},
            {"title": "To", "value": format_time(end, zone)},
        ]},
    ]
    card: dict = {"type": "AdaptiveCard", "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                  "version": "1.5", "body": body}
    if outcome is None:
        card["actions"] = [{"type": "Action.Execute", "title": "I'll cover", "verb": "cover.accept",
                            "data": {"request_id": request_id}, "style": "positive"}]
    else:
        body.append({"type": "TextBlock", "text": outcome, "wrap": True, "weight": "Bolder"})
    return card
