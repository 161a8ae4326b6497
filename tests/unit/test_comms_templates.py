"""Filling the communication plan's templates from an incident, and picking its audiences (pure)."""
from datetime import datetime, timedelta, timezone

import pytest

from bot.domain import comms
from bot.domain.model import IncidentView
from bot.plan import load_plan
from bot.plan_duties import TEMPLATE_FIELDS
from storage.models import Incident, IncidentRole
from tests.support import EXAMPLE_PLAN

PLAN = load_plan(EXAMPLE_PLAN)
DECLARED = datetime(2026, 11, 29, 14, 5, tzinfo=timezone.utc)


def _incident(**kw) -> Incident:
    base = dict(id=12, title="Work orders fail to sync", severity="sev1", status="declared", service_id="azure-api",
                declared_at=DECLARED, updated_at=DECLARED)
    return Incident(**{**base, **kw})


def _manager(name="Priya Raman") -> dict:
    return {"incident_manager": IncidentRole(incident_id=12, role="incident_manager", display_name=name)}


def test_every_field_is_filled_from_the_incident():
    fields = comms.template_fields(_incident(), PLAN, _manager())
    assert set(fields) == set(TEMPLATE_FIELDS)
    assert fields == {
        "incident": "INC-12",
        "title": "Work orders fail to sync",
        "severity": "SEV1",
        "severity_name": "Critical",
        "status": "declared",
        "service": "Work-order API (Azure App Service, West Europe)",
        "declared": "2026-11-29 14:05 UTC",
        "manager": "Priya Raman",
        "next_update": "2026-11-29 14:35 UTC",  # sev1 updates every 30m, none posted yet
    }


def test_the_example_service_desk_template_reads_as_written():
    service_desk = next(a for a in PLAN.communications.audiences if a.id == "service-desk")
    text = comms.fill(service_desk.template, comms.template_fields(_incident(), PLAN, _manager()))
    assert text == (
        "INC-12 (SEV1 · Critical): Work orders fail to sync\n"
        "Affected: Work-order API (Azure App Service, West Europe). Status: declared. Incident manager: Priya Raman.\n"
        "Please link new tickets about this to INC-12. Next update: 2026-11-29 14:35 UTC.")


@pytest.mark.parametrize("changes, field, expected", [
    ({"service_id": None}, "service", "not yet known"),
    ({"service_id": "retired-service"}, "service", "retired-service"),  # removed from the plan since
    ({"status": "acknowledged"}, "status", "investigating"),
    ({"status": "mitigated"}, "status", "mitigated"),
    ({"severity": "sev4"}, "next_update", "when there is news"),  # sev4 has no update rhythm
    ({"status": "resolved"}, "next_update", "when there is news"),
    ({"last_update_at": DECLARED + timedelta(minutes=20)}, "next_update", "2026-11-29 14:55 UTC"),
    ({"severity": "sev9"}, "severity_name", "SEV9"),  # a severity a reloaded plan dropped
])
def test_fields_follow_the_incident_state(changes, field, expected):
    assert comms.template_fields(_incident(**changes), PLAN, _manager())[field] == expected


def test_no_manager_yet_is_said_plainly():
    assert comms.template_fields(_incident(), PLAN, {})["manager"] == "not yet assigned"


def test_values_are_inserted_as_they_are_never_parsed_again():
    fields = comms.template_fields(_incident(title="Sync {manager} broken *now* <at>all</at>"), PLAN, _manager())
    assert comms.fill("{{literal}} {title}!", fields) == "{literal} Sync {manager} broken *now* <at>all</at>!"


def _ids(**kw) -> list[str]:
    return [a.id for a in comms.audiences_for(PLAN, _incident(**kw))]


def test_audiences_by_severity_and_tier():
    assert _ids() == ["service-desk", "customers", "leadership"]  # sev1 on a critical-tier service
    assert _ids(severity="sev2") == ["service-desk", "customers"]
    assert _ids(severity="sev3") == ["service-desk"]
    assert _ids(severity="sev4") == []
    # customers are told only for critical-tier services: power-automate-flows is important
    assert _ids(service_id="power-automate-flows") == ["service-desk", "leadership"]
    # with no service yet the tier is unknown: shown, flagged on the card
    assert _ids(service_id=None) == ["service-desk", "customers", "leadership"]


def test_why_nobody_is_listed_names_the_severities_that_have_audiences():
    assert comms.none_apply_text(PLAN, _incident(severity="sev4")) == (
        "Nobody must be told about a SEV4 incident on a critical-tier service under the plan. "
        "The communication plan has audiences for: SEV1, SEV2, SEV3.")


def test_the_comms_plan_has_due_times_senders_and_overdue():
    view = IncidentView(incident=_incident(), roles=_manager())
    now = DECLARED + timedelta(minutes=20)
    sent = {"service-desk": comms.Sent(at=DECLARED + timedelta(minutes=10), by="Priya Raman", note=None)}
    items = {i.audience.id: i for i in comms.comms_plan(PLAN, view, now=now, sent=sent)}
    assert items["service-desk"].due == DECLARED + timedelta(minutes=15)
    assert not items["service-desk"].overdue  # sent, so not overdue however late it is now
    assert items["service-desk"].sender == "Priya Raman (Incident manager)"
    assert not items["customers"].overdue  # due at 14:35
    assert items["customers"].sender == "nobody yet: take the comms lead role (Communications lead)"
    assert comms.comms_plan(PLAN, view, now=now + timedelta(minutes=11), sent={})[1].overdue
    assert items["customers"].text.startswith("We are investigating a problem with Work-order API")


def test_a_group_sender_is_shown_with_its_members():
    view = IncidentView(incident=_incident(), roles={})
    assert comms.sender_text(PLAN, view, "comms") == "Customer communications: Emma Dubois, Priya Raman"
