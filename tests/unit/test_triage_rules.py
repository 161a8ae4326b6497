"""Triage decisions as tables: the proposed severity and its reasons, suppliers, dependencies."""
from pathlib import Path

import pytest

from bot.domain import triage as rules
from bot.errors import ValidationFailed
from bot.plan import load_plan

PLAN = load_plan(Path(__file__).resolve().parents[2] / "plans" / "example.yaml")


@pytest.mark.parametrize(("impact", "met", "supplier", "severity", "reason_parts"), [
    ("one-person", [], None, "sev4", ["One person affected"]),
    ("one-team", [], None, "sev3", ["One team or one site affected"]),
    ("region", [], None, "sev2", ["A region or a large group of users affected"]),
    ("everyone", [], None, "sev1", ["Most users or customers affected"]),
    # a criterion raises the severity above the impact, and only the deciding reasons are given
    ("one-person", ["data-loss"], None, "sev1", ["Data has been lost or corrupted"]),
    ("one-team", ["data-exposure"], None, "sev2", ["Customer or personal data may have been seen"]),
    ("one-team", ["data-exposure", "field-work-stopped"], None, "sev1", ["Field technicians cannot complete"]),
    # a criterion never lowers it; equal severities give every reason
    ("everyone", ["core-journey"], None, "sev1", ["Most users or customers affected"]),
    ("region", ["core-journey"], None, "sev2", ["A region", "Sign-in, scheduling or work-order sync fails"]),
    # a supplier outage is named, with who to escalate to, and does not change the severity
    ("one-team", [], "entra-id", "sev3", ["a supplier is down: Microsoft Entra ID (sign-in)"]),
    ("one-team", [], rules.NO_SUPPLIER, "sev3", ["One team"]),
])
def test_proposed_severity_and_reasons(impact, met, supplier, severity, reason_parts):
    proposal = rules.propose(PLAN, impact=impact, criteria_met=met, supplier_down=supplier)
    assert proposal.severity == severity
    for part in reason_parts:
        assert part in proposal.reason_text(), (part, proposal.reason_text())


def test_reasons_leave_out_what_did_not_decide():
    proposal = rules.propose(PLAN, impact="one-person", criteria_met=["data-loss"])
    assert "One person" not in proposal.reason_text()
    assert rules.propose(PLAN, impact="one-team").reasons == ("One team or one site affected",)
    assert "supplier" not in rules.propose(PLAN, impact="one-team", supplier_down=rules.NO_SUPPLIER).reason_text()


def test_unknown_answers_and_a_plan_without_triage_are_refused():
    with pytest.raises(ValidationFailed, match="Unknown impact"):
        rules.propose(PLAN, impact="galaxy")
    no_triage = PLAN.model_copy(update={"triage": None})
    with pytest.raises(ValidationFailed, match="no `triage` section"):
        rules.propose(no_triage, impact="one-team")


@pytest.mark.parametrize(("service", "expected"), [
    ("azure-sql", ["azure"]),
    ("azure-api", ["azure-sql", "entra-id", "azure"]),
    ("entra-id", []),
    ("power-automate-flows", ["dataverse", "on-prem-data-gateway", "entra-id", "power-platform", "microsoft-365"]),
    ("nothing-by-this-id", []),
])
def test_dependencies_are_transitive_in_plan_order(service, expected):
    assert rules.dependencies(PLAN, service) == [s.id for s in PLAN.services if s.id in expected]


def test_suppliers_to_ask_about():
    every = [s.id for s in PLAN.services if s.supplier]
    assert [s.id for s in rules.suppliers(PLAN)] == every
    assert [s.id for s in rules.suppliers(PLAN, for_service="azure-sql")] == ["azure"]
    assert [s.id for s in rules.suppliers(PLAN, for_service="entra-id")] == every  # none below it: ask about all
    assert "entra-id" not in [s.id for s in rules.affected_choices(PLAN)]


def test_disaster_contacts_name_groups_and_people():
    contacts = dict(rules.disaster_contacts(PLAN))
    assert contacts["Security operations"] == ["Seán O'Brien", "Aisha Patel"]
    assert set(contacts) == {"Tier 1 responders", "Power Platform and Azure engineering", "Security operations",
                             "Customer communications"}
