"""The response sections of the plan (tiers, triage, runbooks, communications, tools,
break-glass, drills, regulatory): the example reads as expected, and every broken section is
explained with its exact path and a fix."""
from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from bot.errors import NotFound
from bot.plan import Plan
from tests.test_plan import assert_broken, example_data, plan, problems_for  # noqa: F401 - fixtures

Mutation = Callable[[dict], None]


def test_example_has_every_response_section(plan: Plan):  # noqa: F811
    assert [t.id for t in plan.tiers] == ["productivity", "important", "critical"]
    assert plan.tiers[0].graduates_to == "important" and plan.tiers[0].graduation
    assert plan.tier("critical").response.acknowledge == timedelta(minutes=15)
    assert plan.tier(None) is None and plan.tier("nope") is None
    assert plan.service("power-automate-flows").runbook == "power-automate-flows"
    assert plan.service("entra-id").status_url.startswith("https://")
    assert plan.triage is not None and plan.triage.dr_plan_url.startswith("https://")
    assert [c.severity for c in plan.triage.impact.choices] == ["sev4", "sev3", "sev2", "sev1"]
    gateway = plan.runbook("On-Prem-Data-Gateway")
    assert gateway.steps[1].rollback and gateway.bring_back.check
    with pytest.raises(NotFound, match="power-automate-flows"):
        plan.runbook("flows")
    assert {a.id for a in plan.communications.audiences} == {"service-desk", "customers", "leadership"}
    assert plan.tools.links and plan.breakglass.notify_group == "security"
    assert plan.drills.programme[0].every == timedelta(days=180)
    breach = plan.regulatory.duties[0]
    assert breach.trigger == "breach" and breach.deadlines[1].within == timedelta(hours=72)


BROKEN: list[tuple[str, Mutation, str, list[str]]] = [
    ("service names an unknown tier", lambda d: d["services"][0].update(tier="crtical"),
     "services[0].tier", ["unknown tier `crtical`", "did you mean `critical`", "productivity, important"]),
    ("service names an unknown runbook", lambda d: d["services"][2].update(runbook="flows"),
     "services[2].runbook", ["unknown runbook `flows`", "power-automate-flows"]),
    ("tier graduates to an unknown tier", lambda d: d["tiers"][0].update(graduates_to="importent"),
     "tiers[0].graduates_to", ["unknown tier", "did you mean `important`"]),
    ("graduation without criteria", lambda d: d["tiers"][0].pop("graduation"),
     "tiers[0]", ["without `graduation`", "add `graduation:`"]),
    ("graduation in a circle", lambda d: d["tiers"][2].update(graduates_to="productivity", graduation="x"),
     "tiers[0].graduates_to", ["circle", "productivity -> important -> critical -> productivity"]),
    ("tier supported by an unknown group", lambda d: d["tiers"][1]["support"].append("tier2"),
     "tiers[1].support[2]", ["unknown group `tier2`"]),
    ("tier without a response", lambda d: d["tiers"][1].pop("response"),
     "tiers[1].response", ["required"]),
    ("bad support hours", lambda d: d["tiers"][1]["response"].update(hours="9-5"),
     "tiers[1].response.hours", ["9-5", "'24x7'", "'business_hours'"]),
    ("duplicate tier", lambda d: d["tiers"][1].update(id="critical"),
     "tiers[2].id", ["duplicate tier `critical`"]),
    ("impact suggests an unknown severity", lambda d: d["triage"]["impact"]["choices"][0].update(severity="sev5"),
     "triage.impact.choices[0].severity", ["unknown severity `sev5`", "sev1, sev2"]),
    ("impact without choices", lambda d: d["triage"]["impact"].update(choices=[]),
     "triage.impact.choices", ["at least 1"]),
    ("dependency question points nowhere", lambda d: d["triage"]["dependency_questions"][0].update(if_yes="entra"),
     "triage.dependency_questions[0].if_yes", ["unknown service `entra`", "did you mean `entra-id`"]),
    ("criterion calls for an unknown severity", lambda d: d["triage"]["emergency_criteria"][1].update(severity="p1"),
     "triage.emergency_criteria[1].severity", ["unknown severity `p1`"]),
    ("duplicate impact answer", lambda d: d["triage"]["impact"]["choices"][1].update(id="one-person"),
     "triage.impact.choices[1].id", ["duplicate impact answer `one-person`", "triage.impact.choices[0]"]),
    ("duplicate emergency criterion", lambda d: d["triage"]["emergency_criteria"][3].update(id="data-loss"),
     "triage.emergency_criteria[3].id", ["duplicate emergency criterion `data-loss`"]),
    ("disaster criteria without a DR plan", lambda d: d["triage"].pop("dr_plan_url"),
     "triage", ["without `dr_plan_url`", "https://"]),
    ("DR plan that is not a link", lambda d: d["triage"].update(dr_plan_url="S:\\DR\\plan.docx"),
     "triage", ["not a web link", "https://"]),
    ("disaster notifies an unknown group", lambda d: d["triage"]["disaster_notify"].append("board"),
     "triage.disaster_notify[4]", ["unknown group `board`"]),
    ("runbook of an unknown team", lambda d: d["runbooks"][0].update(team="platfrom"),
     "runbooks[0].team", ["unknown group `platfrom`", "did you mean `platform`"]),
    ("runbook without steps", lambda d: d["runbooks"][0].update(steps=[]),
     "runbooks[0].steps", ["at least 1"]),
    ("runbook without bring-back step", lambda d: d["runbooks"][1].pop("bring_back"),
     "runbooks[1].bring_back", ["required", "add `bring_back:`"]),
    ("bring-back without its check", lambda d: d["runbooks"][1]["bring_back"].pop("check"),
     "runbooks[1].bring_back.check", ["required"]),
    ("runbook step with a typo", lambda d: d["runbooks"][0]["steps"][0].update(rolback="x"),
     "runbooks[0].steps[0].rolback", ["did you mean `rollback`", "title, instructions, check, rollback"]),
    ("duplicate runbook", lambda d: d["runbooks"][3].update(id="work-order-api"),
     "runbooks[3].id", ["duplicate runbook `work-order-api`"]),
    ("template with an unknown placeholder", lambda d: d["communications"]["audiences"][0].update(
        template="{incident}: {titel}"),
     "communications.audiences[0].template", ["unknown placeholder `{titel}`", "{title}"]),
    ("template that does not parse", lambda d: d["communications"]["audiences"][0].update(template="{incident"),
     "communications.audiences[0].template", ["does not parse", "{{"]),
    ("audience for an unknown severity", lambda d: d["communications"]["audiences"][1]["severities"].append("sev0"),
     "communications.audiences[1].severities[2]", ["unknown severity `sev0`"]),
    ("audience for an unknown tier", lambda d: d["communications"]["audiences"][1].update(tiers=["gold"]),
     "communications.audiences[1].tiers[0]", ["unknown tier `gold`"]),
    ("audience sent by nobody known", lambda d: d["communications"]["audiences"][2].update(sender="comms-lead"),
     "communications.audiences[2].sender", ["neither a role nor a group", "did you mean `comms_lead`"]),
    ("duplicate audience", lambda d: d["communications"]["audiences"][2].update(id="customers"),
     "communications.audiences[2].id", ["duplicate audience `customers`"]),
    ("tool link that is not a link", lambda d: d["tools"]["links"][0].update(url="admin center"),
     "tools.links[0].url", ["not a web link"]),
    ("break-glass notifies an unknown group", lambda d: d["breakglass"].update(notify_group="secops"),
     "breakglass.notify_group", ["unknown group `secops`"]),
    ("break-glass account nobody may use", lambda d: d["breakglass"]["accounts"][1].pop("allowed_groups"),
     "breakglass.accounts[1]", ["nobody may use", "allowed_groups"]),
    ("break-glass allowed to a stranger", lambda d: d["breakglass"]["accounts"][0]["allowed_people"].append(
        "eve@contoso.com"),
     "breakglass.accounts[0].allowed_people[1]", ["not a person in the plan"]),
    ("a password in the break-glass section", lambda d: d["breakglass"]["accounts"][0].update(password="x"),
     "breakglass.accounts[0].password", ["unknown key `password`"]),
    ("break-glass without steps", lambda d: d["breakglass"]["accounts"][0].update(steps=[]),
     "breakglass.accounts[0].steps", ["at least 1"]),
    ("drill owned by an unknown group", lambda d: d["drills"]["programme"][0].update(owner_group="sec"),
     "drills.programme[0].owner_group", ["unknown group `sec`"]),
    ("duplicate drill", lambda d: d["drills"]["programme"][1].update(id="entra-outage"),
     "drills.programme[1].id", ["duplicate drill"]),
    ("duty owned by a stranger", lambda d: d["regulatory"]["duties"][0].update(owner="dpo@contoso.com"),
     "regulatory.duties[0].owner", ["dpo@contoso.com", "not a person in the plan"]),
    ("reminder before the clock starts", lambda d: d["regulatory"]["duties"][0]["deadlines"][0].update(
        remind_before=["2d"]),
     "regulatory.duties[0]", ["reminder 2d before it", "shorter than `within` (1d)"]),
    ("duty without deadlines", lambda d: d["regulatory"]["duties"][0].update(deadlines=[]),
     "regulatory.duties[0].deadlines", ["at least 1"]),
    ("duplicate deadline", lambda d: d["regulatory"]["duties"][0]["deadlines"][1].update(id="assess"),
     "regulatory.duties[0].deadlines[1].id", ["duplicate deadline `assess`"]),
    ("duty with a trigger nothing starts", lambda d: d["regulatory"]["duties"][0].update(trigger="outage"),
     "regulatory.duties[0].trigger", ["`outage` is not allowed", "'breach'"]),
]


@pytest.mark.parametrize(("mutate", "path", "expected"), [case[1:] for case in BROKEN],
                         ids=[case[0] for case in BROKEN])
def test_broken_response_section_names_path_and_fix(
    tmp_path: Path, example_data: dict, mutate: Mutation, path: str, expected: list[str]  # noqa: F811
):
    assert_broken(tmp_path, example_data, mutate, path, expected)


def test_reference_problems_in_response_sections_show_beside_field_problems(tmp_path: Path, example_data: dict):  # noqa: F811
    """A field error elsewhere must not hide a wrong reference in a response section."""
    data = copy.deepcopy(example_data)
    data["people"][4]["email"] = "emma"  # a field problem
    data["runbooks"][0]["team"] = "platfrom"  # a reference problem
    data["integrations"][0]["routes"][1]["service"] = "field-service"
    problems = problems_for(tmp_path, data)
    assert {"people[4].email", "runbooks[0].team", "integrations[0].routes[1].service"} <= set(problems)
