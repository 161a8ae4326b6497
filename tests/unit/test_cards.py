"""Card renderers: every card valid against the Adaptive Card 1.5 schema, showing the right state."""
import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.domain.formatting import format_age, format_time
from bot.domain.model import IncidentView
from bot.domain.timeline import Kind, describe
from bot.plan import load_plan
from bot.teams.cards import incident_card, message_card, timeline_card
from storage.models import Incident, IncidentRole, TimelineEvent
from tests.support import EXAMPLE_PLAN, assert_valid_card, card_nodes

NOW = datetime(2026, 11, 29, 14, 5, tzinfo=timezone.utc)
PLAN = load_plan(EXAMPLE_PLAN)


def make_view(status="declared", **fields) -> IncidentView:
    inc = Incident(id=7, title="Payments API down", severity="sev1", status=status, declared_at=NOW - timedelta(hours=2, minutes=5),
                   updated_at=NOW, declared_by_name="Adele Vance", **fields)
    roles = {"incident_manager": IncidentRole(incident_id=7, role="incident_manager", aad_object_id="a1",
                                              display_name="Adele Vance", assigned_at=NOW)}
    return IncidentView(incident=inc, roles=roles)


def _texts(card: dict) -> str:
    return json.dumps(card)


def _verbs(card: dict) -> list[str]:
    return [node["verb"] for node in card_nodes(card) if node.get("type") == "Action.Execute"]


@pytest.mark.parametrize("status", ["declared", "acknowledged", "mitigated", "resolved"])
def test_incident_card_is_valid_for_every_status(status):
    card = incident_card(make_view(status, resolved_at=NOW if status == "resolved" else None,
                                   resolution_summary="Rolled back" if status == "resolved" else None), PLAN, now=NOW)
    assert_valid_card(card)


def test_incident_card_shows_state_and_buttons():
    view = make_view(service_id="azure-api", last_update_text="Failing over to West Europe", last_update_at=NOW)
    card = incident_card(view, PLAN, now=NOW)
    text = _texts(card)
    for expected in ["INC-7: Payments API down", "DECLARED", "SEV1", "Adele Vance", "2h 5m",
                     "Failing over to West Europe", "2026-11-29 14:05 UTC", PLAN.service("azure-api").name]:
        assert expected in text, expected
    assert _verbs(card) == ["incident.ack", "incident.triage", "incident.take_role", "incident.set_severity",
                            "incident.resolve", "incident.comms", "incident.breach", "incident.timeline"]
    assert len(card["actions"]) <= 6, "Teams shows at most six buttons"
    assert all(a["data"]["incident_id"] == 7 for a in card["actions"] if a["type"] == "Action.Execute")


def test_acknowledged_card_has_no_ack_button_and_resolved_card_offers_reopen():
    assert "incident.ack" not in _verbs(incident_card(make_view("acknowledged"), PLAN, now=NOW))
    resolved = incident_card(make_view("resolved", resolved_at=NOW - timedelta(minutes=5), resolution_summary="Fixed"), PLAN, now=NOW)
    assert _verbs(resolved) == ["incident.reopen", "incident.timeline"]
    assert "Duration" in _texts(resolved) and "Fixed" in _texts(resolved)


def test_change_severity_offers_the_other_severities():
    card = incident_card(make_view(), PLAN, now=NOW)
    show = next(a for a in card["actions"] if a.get("title") == "Change severity")
    values = [c["value"] for c in show["card"]["body"][0]["choices"]]
    assert values == ["sev2", "sev3", "sev4"]


def _events(n: int) -> list[TimelineEvent]:
    return [TimelineEvent(id=i + 1, incident_id=7, at=NOW + timedelta(minutes=i), kind=Kind.NOTE, source="command",
                          actor_name="Adele", text=f"note {i}") for i in range(n)]


def test_timeline_card_pages_and_zone():
    view = make_view()
    card = timeline_card(view, _events(20), page=2, pages=3, total=55, zone=ZoneInfo("Europe/Berlin"))
    assert_valid_card(card)
    text = _texts(card)
    assert "Page 2 of 3" in text and "55 events" in text
    assert "2026-11-29 15:05 CET" in text  # 14:05 UTC in Berlin
    assert [a["data"]["page"] for a in card["actions"]] == [1, 3]
    last = timeline_card(view, _events(3), page=3, pages=3, total=43)
    assert [a["title"] for a in last.get("actions", [])] == ["Previous page"]


def test_timeline_card_shows_what_people_typed_as_text():
    event = TimelineEvent(id=1, incident_id=7, at=NOW, kind=Kind.NOTE, source="command", actor_name="**Mallory**",
                          text="see [the fix](https://evil.example) <at>everyone</at> _now_")
    card = timeline_card(make_view(), [event], page=1, pages=1, total=1)
    [line] = [n["text"] for n in card_nodes(card) if n.get("type") == "TextBlock" and "everyone" in n["text"]]
    assert "[the fix](https://evil.example)" not in line and "<at>" not in line and "**Mallory**" not in line
    assert "\\[the fix\\]" in line and "‹at›everyone‹/at›" in line and "\\_now\\_" in line



@pytest.mark.parametrize(
    "kind, old, new, text, expected",
    [
        (Kind.DECLARED, None, "sev1", "DB down", "Declared: DB down (sev1)"),
        (Kind.STATUS, "declared", "acknowledged", None, "Status declared → acknowledged"),
        (Kind.STATUS, "acknowledged", "resolved", "rolled back", "Status acknowledged → resolved: rolled back"),
        (Kind.SEVERITY, "sev2", "sev1", None, "Severity sev2 → sev1"),
        (Kind.ROLE, "Adele", "Megan", "Incident manager", "Incident manager: Megan (was Adele)"),
        (Kind.NOTE, None, None, "hello", "Note: hello"),
        (Kind.UPDATE, None, None, "ETA 15m", "Update: ETA 15m"),
        (Kind.REFUSED, None, None, "resolve: only the IM", "Refused: resolve: only the IM"),
    ],
)
def test_describe_events(kind, old, new, text, expected):
    assert describe(TimelineEvent(incident_id=1, at=NOW, kind=kind, source="command", old_value=old, new_value=new, text=text)) == expected


def test_message_card_valid():
    assert_valid_card(message_card("Title", ["a", "b"]))


def test_time_and_age_formats():
    assert format_time(NOW) == "2026-11-29 14:05 UTC"
    assert format_time(datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc), ZoneInfo("America/New_York")) == "2026-07-01 08:00 EDT"
    assert [format_age(timedelta(seconds=s)) for s in (5, 125, 7500, 200000)] == ["5s", "2m", "2h 5m", "2d 7h"]
