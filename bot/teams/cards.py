"""Adaptive Card renderers: pure functions from incident state to a card dict (version 1.5).

Buttons are `Action.Execute` with a `verb` routed by the card-action registry; `data` carries
the incident id so a button works wherever the card was posted.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Sequence
from zoneinfo import ZoneInfo

from bot.domain.formatting import format_age, format_time, incident_ref
from bot.domain.lifecycle import Status, is_open
from bot.domain.model import ROLE_LABELS, IncidentView, Role
from bot.domain.timeline import describe
from bot.plan import Plan
from bot.teams.alert_cards import alerts_section
from bot.teams.untrusted import plain
from storage.models import TimelineEvent

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"

_STATUS_COLOR = {
    Status.DECLARED.value: "Attention",
    Status.ACKNOWLEDGED.value: "Warning",
    Status.MITIGATED.value: "Accent",
    Status.RESOLVED.value: "Good",
}

Zone = ZoneInfo | timezone


def _card(body: list[dict], actions: list[dict] | None = None) -> dict:
    card: dict = {"type": "AdaptiveCard", "$schema": SCHEMA, "version": "1.5", "body": body}
    if actions:
        card["actions"] = actions
    return card


def _execute(title: str, verb: str, incident_id: int, **extra: object) -> dict:
    return {"type": "Action.Execute", "title": title, "verb": verb, "data": {"incident_id": incident_id, **extra}}


def _text(text: str, **style: object) -> dict:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def incident_card(view: IncidentView, plan: Plan, *, now: datetime, zone: Zone = timezone.utc) -> dict:
    """The living incident card: what, how bad, who, how old, the last update, and the buttons."""
    inc = view.incident
    ref = incident_ref(view.id)
    sev = plan.severity(inc.severity) if inc.severity in plan.severity_ids() else None
    sev_label = f"{inc.severity.upper()} · {sev.name}" if sev else inc.severity.upper()
    facts = [
        {"title": "Status", "value": inc.status.capitalize()},
        {"title": "Severity", "value": sev_label},
    ]
    if inc.service_id:
        try:
            facts.append({"title": "Service", "value": plan.service(inc.service_id).name})
        except Exception:  # a service removed from the plan since: show its id
            facts.append({"title": "Service", "value": inc.service_id})
    for role in Role:
        holder = view.holder(role)
        facts.append({"title": ROLE_LABELS[role], "value": holder.display_name if holder else "—"})
    end = inc.resolved_at or now
    facts.append({"title": "Declared", "value": f"{format_time(inc.declared_at, zone)} by {inc.declared_by_name or 'someone'}"})
    facts.append({"title": "Age" if is_open(inc.status) else "Duration", "value": format_age(end - inc.declared_at)})
    body: list[dict] = [
        {
            "type": "ColumnSet",
            "columns": [
                {"type": "Column", "width": "stretch", "items": [_text(f"{ref}: {plain(inc.title)}", size="Large", weight="Bolder")]},
                {"type": "Column", "width": "auto", "items": [_text(inc.status.upper(), weight="Bolder", color=_STATUS_COLOR.get(inc.status, "Default"))]},
            ],
        },
        {"type": "FactSet", "facts": facts},
    ]
    if inc.last_update_text:
        when = format_time(inc.last_update_at, zone) if inc.last_update_at else ""
        body.append(_text(f"**Last update** ({when})", spacing="Medium"))
        body.append(_text(inc.last_update_text, isSubtle=True))
    if inc.status == Status.RESOLVED.value and inc.resolution_summary:
        body.append(_text(f"**Resolution:** {inc.resolution_summary}", spacing="Medium"))
    if view.alerts is not None:
        body += alerts_section(view.alerts)
    body.append(_text(f"Updated {format_time(inc.updated_at, zone)}", isSubtle=True, size="Small", spacing="Medium"))
    return _card(body, _incident_actions(view, plan))


def _incident_actions(view: IncidentView, plan: Plan) -> list[dict]:
    inc = view.incident
    iid = view.id
    if not is_open(inc.status):
        return [_execute("Reopen", "incident.reopen", iid), _execute("Timeline", "incident.timeline", iid)]
    # Teams shows at most six buttons on a card: the rarer actions sit under "More".
    actions: list[dict] = []
    if inc.status == Status.DECLARED.value:
        actions.append(_execute("Acknowledge", "incident.ack", iid))
    actions.append(_execute("Triage", "incident.triage", iid))
    actions.append({
        "type": "Action.ShowCard",
        "title": "Take a role",
        "card": _card(
            [{"type": "Input.ChoiceSet", "id": "role", "style": "expanded", "isRequired": True,
              "errorMessage": "Pick a role.", "label": "I'll be the",
              "choices": [{"title": ROLE_LABELS[r], "value": r.value} for r in Role]}],
            [_execute("Take role", "incident.take_role", iid)],
        ),
    })
    choices = [{"title": f"{s.id.upper()} · {s.name}", "value": s.id} for s in plan.severities if s.id != inc.severity]
    actions.append({
        "type": "Action.ShowCard",
        "title": "Change severity",
        "card": _card(
            [{"type": "Input.ChoiceSet", "id": "severity", "style": "expanded", "isRequired": True,
              "errorMessage": "Pick a severity.", "label": "New severity", "choices": choices}],
            [_execute("Change severity", "incident.set_severity", iid)],
        ),
    })
    actions.append({
        "type": "Action.ShowCard",
        "title": "Resolve",
        "card": _card(
            [{"type": "Input.Text", "id": "summary", "isMultiline": True, "maxLength": 1000,
              "label": "Resolution summary (optional)", "placeholder": "What fixed it?"}],
            [_execute("Resolve", "incident.resolve", iid)],
        ),
    })
    actions.append({
        "type": "Action.ShowCard",
        "title": "More",
        "card": _card(
            [_text("Less frequent actions for this incident.", isSubtle=True)],
            [_execute("Communication plan", "incident.comms", iid),
             _execute("Possible data breach", "incident.breach", iid),
             _execute("Timeline", "incident.timeline", iid)],
        ),
    })
    return actions


def timeline_card(
    view: IncidentView, events: Sequence[TimelineEvent], *, page: int, pages: int, total: int, zone: Zone = timezone.utc
) -> dict:
    """One page of the timeline, oldest first, with buttons to the other pages (never cut silently)."""
    ref = incident_ref(view.id)
    body: list[dict] = [_text(f"Timeline of {ref}: {plain(view.incident.title)}", weight="Bolder", size="Medium")]
    body.append(_text(f"Page {page} of {pages} · {total} events", isSubtle=True, size="Small", spacing="None"))
    for event in events:
        body.append({
            "type": "ColumnSet",
            "spacing": "Small",
            "columns": [
                {"type": "Column", "width": "auto", "items": [_text(format_time(event.at, zone), isSubtle=True, size="Small")]},
                {"type": "Column", "width": "stretch", "items": [
                    _text(f"**{plain(event.actor_name or 'Firebreak')}** ({event.source}) {plain(describe(event), limit=1000)}", size="Small")
                ]},
            ],
        })
    actions = []
    if page > 1:
        actions.append(_execute("Previous page", "timeline.page", view.id, page=page - 1))
    if page < pages:
        actions.append(_execute("Next page", "timeline.page", view.id, page=page + 1))
    return _card(body, actions)


def message_card(title: str, lines: Sequence[str]) -> dict:
    """A plain card with a title and lines of text (used for lists and help)."""
    return _card([_text(title, weight="Bolder", size="Medium"), *(_text(line) for line in lines)])


def handover_card(summary, *, zone: Zone = timezone.utc) -> dict:
    """What the incoming role holder needs: the state, the last update, when the next is due, recent notes."""
    view = summary.view
    inc = view.incident
    ref = incident_ref(view.id)
    role = ROLE_LABELS[summary.role]
    facts = [
        {"title": "Status", "value": inc.status.capitalize()},
        {"title": "Severity", "value": inc.severity.upper()},
        {"title": role, "value": f"{summary.previous or 'nobody'} → {summary.incoming}"},
        {"title": "Last update", "value": format_time(summary.last_update_at, zone) if summary.last_update_at else "none yet"},
        {"title": "Next update due", "value": format_time(summary.next_update_due, zone) if summary.next_update_due else "no rhythm set"},
    ]
    body = [
        _text(f"Handover of {ref}: {plain(inc.title)}", weight="Bolder", size="Medium"),
        {"type": "FactSet", "facts": facts},
    ]
    if summary.last_update:
        body.append(_text(f"**Last update:** {summary.last_update}"))
    if summary.recent_notes:
        body.append(_text("**Recent notes**", spacing="Medium"))
        body.extend(_text(f"• {note}", spacing="None") for note in summary.recent_notes)
    body.append(_text(f"**What the {role.lower()} does:** {summary.duties}", spacing="Medium", isSubtle=True))
    return _card(body, [_execute("Timeline", "incident.timeline", view.id)])


def announcement_card(view: IncidentView, plan: Plan, *, mentions: Sequence[tuple[str, str]] = (),
                      space_url: str | None = None) -> dict:
    """The compact announcement: what, how bad, where to go; the plan's people @mentioned."""
    inc = view.incident
    ref = incident_ref(view.id)
    manager = view.holder(Role.INCIDENT_MANAGER)
    line = f"{inc.severity.upper()} · {inc.status.capitalize()}"
    if manager:
        line += f" · Incident manager: {manager.display_name}"
    body = [
        _text(f"{ref}: {plain(inc.title)}", weight="Bolder", color=_STATUS_COLOR.get(inc.status, "Default")),
        _text(line, isSubtle=True, spacing="None"),
    ]
    if inc.last_update_text:
        body.append(_text(inc.last_update_text, size="Small"))
    if mentions:
        body.append(_text("Heads up: " + ", ".join(f"<at>{name}</at>" for _aad, name in mentions), size="Small"))
    card = _card(body, [{"type": "Action.OpenUrl", "title": "Open the incident", "url": space_url}] if space_url else None)
    if mentions:
        card["msteams"] = {"entities": [
            {"type": "mention", "text": f"<at>{name}</at>", "mentioned": {"id": aad, "name": name}}
            for aad, name in mentions
        ]}
    return card
