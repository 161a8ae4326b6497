"""The response plan file: the example loads and answers questions; every broken plan is
explained with the exact path, what is wrong and a useful fix; durations read and write back."""
from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml
from pydantic import TypeAdapter, ValidationError

from bot.durations import Delay, Duration, format_duration, parse_duration
from bot.errors import ConfigError, NotFound
from bot.plan import (
    Plan,
    PlanError,
    PlanProblem,
    check_plan_file,
    format_problems,
    load_plan,
    plan_json_schema,
    write_json_schema,
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "plans" / "example.yaml"
SCHEMA = ROOT / "docs" / "plan.schema.json"


@pytest.fixture(scope="module")
def plan() -> Plan:
    return load_plan(EXAMPLE)


@pytest.fixture
def example_data() -> dict:
    return yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))


def write_plan(tmp_path: Path, data: dict) -> Path:
    target = tmp_path / "plan.yaml"
    target.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return target


def problems_for(tmp_path: Path, data: dict) -> dict[str, PlanProblem]:
    problems = check_plan_file(write_plan(tmp_path, data))
    assert problems, "the broken plan was accepted"
    return {p.path: p for p in problems}


def index_of(items: list[dict], wanted: str, *, key: str = "id") -> int:
    return next(i for i, item in enumerate(items) if item[key] == wanted)


# -- the example plan -------------------------------------------------------------------------


def test_example_plan_is_valid():
    assert check_plan_file(EXAMPLE) == []


def test_example_plan_metadata(plan: Plan):
    assert plan.plan.name == "Contoso Field Service"
    assert plan.plan.owner == "priya.raman@contoso.com"
    assert plan.plan.review_every == timedelta(days=90)
    assert plan.plan.next_review == plan.plan.last_reviewed + timedelta(days=90)
    assert isinstance(plan.plan.last_reviewed, date)


def test_severities_in_plan_order_and_lookup(plan: Plan):
    assert plan.severity_ids() == ["sev1", "sev2", "sev3", "sev4"]
    sev1 = plan.severity("SEV1")  # chat users type ids in any case
    assert (sev1.space, sev1.page, sev1.update_every) == ("channel", True, timedelta(minutes=30))
    assert set(sev1.announce_mentions) == {"tier1", "comms"}
    sev4 = plan.severity("sev4")
    assert (sev4.space, sev4.page, sev4.update_every) == ("thread", False, None)


def test_unknown_severity_names_the_valid_ids(plan: Plan):
    with pytest.raises(NotFound) as caught:
        plan.severity("sev9")
    assert "sev9" in str(caught.value)
    assert "sev1, sev2, sev3, sev4" in str(caught.value)


def test_services_groups_and_people(plan: Plan):
    assert plan.service("dataverse").owner_group == "platform"
    assert plan.service("entra-id").supplier is True
    assert plan.service("azure-api").supplier is False
    assert "azure-sql" in plan.service("azure-api").depends_on
    with pytest.raises(NotFound, match="field-service-app"):
        plan.service("crm")
    assert plan.group("security").receives == ("security",)
    assert plan.group("tier1").receives_category("anything")
    assert not plan.group("comms").receives_category("security")
    with pytest.raises(NotFound, match="tier1, platform, security, comms"):
        plan.group("nobody")
    person = plan.person("Tom.Becker@CONTOSO.com")
    assert person is not None and person.time_zone == "Europe/Berlin"
    assert plan.person("stranger@contoso.com") is None


def test_members_and_memberships(plan: Plan):
    assert plan.members_of("security") == frozenset(
        {"sean.obrien@contoso.com", "aisha.patel@contoso.com"}
    )
    assert [g.id for g in plan.groups_of("TOM.BECKER@contoso.com")] == ["tier1", "platform"]
    assert plan.groups_of("stranger@contoso.com") == []
    with pytest.raises(NotFound):
        plan.members_of("ghost")


def test_roles_and_acting_authority(plan: Plan):
    assert plan.role("incident_manager").on_declare == "declarer"
    assert plan.role("postmortem_leader").impartial is True
    assert plan.role("scribe").impartial is False
    assert plan.may_act_as("incident_manager", "marcus.johnson@contoso.com")  # tier1
    assert not plan.may_act_as("incident_manager", "emma.dubois@contoso.com")  # comms only
    assert plan.may_act_as("comms_lead", "Emma.Dubois@contoso.com")
    assert not plan.may_act_as("scribe", "priya.raman@contoso.com")  # no acting groups
    with pytest.raises(NotFound, match="incident_manager, postmortem_leader, comms_lead, scribe"):
        plan.role("commander")


def test_contacts_default_and_order(plan: Plan):
    emma = plan.person("emma.dubois@contoso.com")
    assert [(c.method, c.after) for c in emma.contact] == [("teams", timedelta(0))]
    tom = plan.person("tom.becker@contoso.com")
    assert [c.method for c in tom.contact] == ["teams", "webhook"]
    assert tom.contact[1].after == timedelta(minutes=5)


def test_plan_is_immutable(plan: Plan):
    with pytest.raises(ValidationError):
        plan.plan.name = "changed"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        plan.severity("sev1").page = False  # type: ignore[misc]
    assert isinstance(plan.severities, tuple)
    assert isinstance(plan.group("tier1").members, tuple)


def test_defaults_for_roles_and_severity(example_data: dict):
    data = copy.deepcopy(example_data)
    data["roles"]["incident_manager"].pop("on_declare")
    data["roles"]["postmortem_leader"].pop("impartial")
    data["severities"][0] = {"id": "sev1", "name": "Critical", "criteria": "Down."}
    plan = Plan.model_validate(data)
    assert plan.role("incident_manager").on_declare == "declarer"
    assert plan.role("postmortem_leader").impartial is True
    sev1 = plan.severity("sev1")
    assert (sev1.space, sev1.page, sev1.update_every, sev1.announce_mentions) == (
        "thread", False, None, ())


def test_emails_are_normalised_to_lowercase(example_data: dict):
    data = copy.deepcopy(example_data)
    data["people"][0]["email"] = "Priya.Raman@Contoso.COM"
    data["plan"]["owner"] = "PRIYA.RAMAN@contoso.com"
    data["groups"][0]["members"][0] = "Priya.Raman@contoso.com"
    plan = Plan.model_validate(data)
    assert plan.people[0].email == "priya.raman@contoso.com"
    assert plan.plan.owner == "priya.raman@contoso.com"
    assert "priya.raman@contoso.com" in plan.members_of("tier1")


def test_durations_serialise_back_to_plan_form(plan: Plan):
    dumped = plan.model_dump(mode="json")
    assert dumped["plan"]["review_every"] == "90d"
    assert dumped["severities"][1]["update_every"] == "1h"
    assert dumped["people"][0]["contact"][0]["after"] == "0s"
    assert Plan.model_validate(dumped) == plan


# -- JSON Schema ------------------------------------------------------------------------------


def test_schema_file_is_current():
    on_disk = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert on_disk == plan_json_schema(), (
        "docs/plan.schema.json is stale; regenerate it with `python -m bot.plan schema`"
    )


def test_write_json_schema_writes_what_plan_json_schema_returns(tmp_path: Path):
    written = write_json_schema(tmp_path / "out" / "plan.schema.json")
    assert json.loads(written.read_text(encoding="utf-8")) == plan_json_schema()


def test_example_validates_against_schema_and_schema_rejects_typos(example_data: dict):
    jsonschema = pytest.importorskip("jsonschema", reason="pip install -r requirements-dev.txt")
    schema = plan_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    as_json = json.loads(json.dumps(example_data, default=str))  # dates -> strings, as editors see
    jsonschema.validate(as_json, schema)
    as_json["services"][0]["ownr_group"] = "platform"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(as_json, schema)


def test_schema_duration_pattern_matches_python_parser():
    pattern = plan_json_schema()["$defs"]["Severity"]["properties"]["update_every"]["anyOf"][0]
    assert pattern["type"] == "string"
    import re

    regex = re.compile(pattern["pattern"])
    assert regex.match("1h30m") and regex.match("45s")
    assert not regex.match("30") and not regex.match("") and not regex.match("30m1h")


# -- broken plans: one problem each, exact path, useful fix ------------------------------------

Mutation = Callable[[dict], None]


def _set_owner_group(d: dict) -> None:
    d["services"][index_of(d["services"], "azure-sql")]["owner_group"] = "databse-team"


def _cycle(d: dict) -> None:
    d["services"][index_of(d["services"], "azure-sql")]["depends_on"] = ["azure", "azure-api"]


def _duplicate_person(d: dict) -> None:
    d["people"].append({**d["people"][0], "email": "PRIYA.RAMAN@contoso.com"})


BROKEN: list[tuple[str, Mutation, str, list[str]]] = [
    ("unknown owner_group lists the valid groups", _set_owner_group,
     "services[5].owner_group", ["databse-team", "tier1, platform, security, comms"]),
    ("bad escalation policy id", lambda d: d["services"][2].update(escalation_policy="Flows P1"),
     "services[2].escalation_policy", ["Flows P1", "lowercase", "flows-p1"]),
    ("group member not in people", lambda d: d["groups"][0]["members"].append("ghost@contoso.com"),
     "groups[0].members[4]", ["ghost@contoso.com", "not a person", "under `people`"]),
    ("plan owner not in people", lambda d: d["plan"].update(owner="cio@contoso.com"),
     "plan.owner", ["cio@contoso.com", "not a person"]),
    ("duplicate severity id", lambda d: d["severities"][1].update(id="sev1"),
     "severities[1].id", ["duplicate", "sev1", "severities[0]"]),
    ("duplicate group id", lambda d: d["groups"][3].update(id="tier1"),
     "groups[3].id", ["duplicate", "groups[0]"]),
    ("duplicate service id", lambda d: d["services"][1].update(id="field-service-app"),
     "services[1].id", ["duplicate", "services[0]"]),
    ("duplicate person e-mail, case-insensitive", _duplicate_person,
     "people[10].email", ["duplicate", "priya.raman@contoso.com", "people[0]"]),
    ("unknown announce group", lambda d: d["severities"][0]["announce_mentions"].append("tier-1"),
     "severities[0].announce_mentions[2]", ["tier-1", "did you mean `tier1`", "tier1, platform"]),
    ("unknown acting group", lambda d: d["roles"]["comms_lead"].update(acting_groups=["pr"]),
     "roles.comms_lead.acting_groups[0]", ["`pr`", "tier1, platform, security, comms"]),
    ("unknown dependency", lambda d: d["services"][0]["depends_on"].append("sharepoint"),
     "services[0].depends_on[5]", ["sharepoint", "supplier: true", "azure-sql"]),
    ("depends on itself", lambda d: d["services"][1]["depends_on"].append("dataverse"),
     "services[1].depends_on[2]", ["dataverse", "itself"]),
    ("dependency cycle", _cycle,
     "services[4].depends_on", ["azure-api -> azure-sql -> azure-api", "remove one"]),
    ("no severities", lambda d: d.update(severities=[]),
     "severities", ["no severities", "at least one"]),
    ("missing severities", lambda d: d.pop("severities"),
     "severities", ["required", "add `severities:`"]),
    ("invalid duration shows the accepted forms",
     lambda d: d["severities"][0].update(update_every="30 minutes"),
     "severities[0].update_every", ["30 minutes", "45s, 5m, 2h, 3d"]),
    ("number without unit", lambda d: d["people"][0]["contact"][1].update(after=10),
     "people[0].contact[1].after", ["no unit", "5m"]),
    ("zero interval", lambda d: d["plan"].update(review_every="0d"),
     "plan.review_every", ["zero", "45s"]),
    ("unknown key names the allowed keys", lambda d: d["groups"][1].update(recieves=["data"]),
     "groups[1].recieves",
     ["did you mean `receives`", "allowed keys here: id, name, members, receives"]),
    ("unknown nested key", lambda d: d["roles"]["incident_manager"].update(on_declar="none"),
     "roles.incident_manager.on_declar", ["on_declare", "allowed keys here: title, duties"]),
    ("unknown top-level section names the allowed ones", lambda d: d.update(runbook=[]),
     "runbook", ["did you mean `runbooks`", "plan, severities, roles"]),
    ("unknown schedule in a policy", lambda d: d["escalation_policies"][0]["levels"][0].update(
        targets=["schedule:platform-primry"]),
     "escalation_policies[0].levels[0].targets[0]", ["unknown schedule `platform-primry`",
                                                     "did you mean `platform-primary`"]),
    ("bad target kind", lambda d: d["escalation_policies"][0]["levels"][0].update(targets=["team:x"]),
     "escalation_policies[0].levels[0].targets[0]", ["team:x"]),
    ("unknown policy for a service", lambda d: d["services"][0].update(escalation_policy="platfrom-critical"),
     "services[0].escalation_policy", ["unknown escalation policy", "did you mean `platform-critical`"]),
    ("custom rotation without length", lambda d: d["schedules"][0]["layers"][0].update(rotation="custom"),
     "schedules[0].layers[0]", ["needs a `length`", "12h"]),
    ("weekly rotation of odd length", lambda d: d["schedules"][0]["layers"][0].update(length="36h"),
     "schedules[0].layers[0]", ["whole weeks"]),
    ("bad handoff time", lambda d: d["schedules"][0]["layers"][0].update(handoff="25:00"),
     "schedules[0].layers[0].handoff", ["not a time of day", "HH:MM"]),
    ("unknown rotation participant", lambda d: d["schedules"][0]["layers"][0].update(
        participants=["nobody@contoso.com"]),
     "schedules[0].layers[0].participants[0]", ["not a person in the plan"]),
    ("empty restriction", lambda d: d["schedules"][0]["layers"][1]["restrictions"][0].update(to="09:00"),
     "schedules[0].layers[1].restrictions[0]", ["window is empty"]),
    ("bad time zone", lambda d: d["people"][0].update(time_zone="Europe/Londn"),
     "people[0].time_zone", ["Europe/Londn", "did you mean `Europe/London`", "IANA"]),
    ("bad space", lambda d: d["severities"][0].update(space="room"),
     "severities[0].space", ["room", "'channel'", "'thread'"]),
    ("bad on_declare", lambda d: d["roles"]["incident_manager"].update(on_declare="me"),
     "roles.incident_manager.on_declare", ["'declarer'", "'none'"]),
    ("bad id", lambda d: d["groups"][2].update(id="Security Team"),
     "groups[2].id", ["Security Team", "security-team"]),
    ("bad e-mail", lambda d: d["people"][4].update(email="emma"),
     "people[4].email", ["emma", "e-mail"]),
    ("webhook without address", lambda d: d["people"][1]["contact"][1].pop("address"),
     "people[1].contact[1]", ["webhook", "https://"]),
    ("bad contact method", lambda d: d["people"][0]["contact"][1].update(method="sms"),
     "people[0].contact[1].method", ["sms", "'teams'", "'webhook'"]),
    ("missing role", lambda d: d["roles"].pop("scribe"),
     "roles.scribe", ["required"]),
    ("bad date", lambda d: d["plan"].update(last_reviewed="last spring"),
     "plan.last_reviewed", ["last spring", "YYYY-MM-DD"]),
    ("receives must be all or a list", lambda d: d["groups"][0].update(receives="everything"),
     "groups[0].receives", ["everything", "`all`", "[security"]),
    ("version read as a float", lambda d: d["plan"].update(version=1.10),
     "plan.version", ["1.1", "quote"]),
    ("section must be a list", lambda d: d.update(services={"id": "x"}),
     "services", ["list"]),
    ("empty text", lambda d: d["severities"][2].update(criteria="  "),
     "severities[2].criteria", ["empty"]),
    ("duplicate integration id", lambda d: d["integrations"][1].update(id="alertmanager"),
     "integrations[1].id", ["duplicate integration `alertmanager`"]),
    ("unknown alert source", lambda d: d["integrations"][0].update(source="nagios"),
     "integrations[0].source", ["nagios", "'alertmanager'", "'generic'"]),
    ("route to an unknown service", lambda d: d["integrations"][0]["routes"][1].update(service="field-service"),
     "integrations[0].routes[1].service", ["unknown service `field-service`",
                                           "did you mean `field-service-app`"]),
    ("route maps to an unknown severity", lambda d: d["integrations"][1]["routes"][1]["severity_map"].update(
        sev0="sev0"), "integrations[1].routes[1].severity_map.sev0", ["unknown severity `sev0`", "sev1"]),
    ("route tells an unknown group", lambda d: d["integrations"][4]["default_route"].update(notify_group="tier-1"),
     "integrations[4].default_route.notify_group", ["unknown group `tier-1`", "did you mean `tier1`"]),
    ("auth without a secret", lambda d: d["integrations"][0]["auth"].pop("secret_env"),
     "integrations[0].auth", ["secret_env", "secret_file"]),
    ("auth with three secrets", lambda d: d["integrations"][0]["auth"].update(secret_env=["A", "B", "C"]),
     "integrations[0].auth.secret_env", ["3 secrets", "at most two"]),
    ("secret written into the plan", lambda d: d["integrations"][0]["auth"].update(secret="hunter2"),
     "integrations[0].auth.secret", ["secret"]),
    ("bad route pattern", lambda d: d["integrations"][0]["routes"][0]["match"].update(labels_re={"instance": "web-("}),
     "integrations[0].routes[0].match.labels_re", ["not a regular expression"]),
]


@pytest.mark.parametrize(
    ("mutate", "path", "expected"),
    [case[1:] for case in BROKEN],
    ids=[case[0] for case in BROKEN],
)
def test_broken_plan_names_path_and_fix(
    tmp_path: Path, example_data: dict, mutate: Mutation, path: str, expected: list[str]
):
    assert_broken(tmp_path, example_data, mutate, path, expected)


def assert_broken(tmp_path: Path, example_data: dict, mutate: Mutation, path: str, expected: list[str]) -> None:
    """The example with `mutate` applied has a problem at `path` whose text holds `expected`."""
    data = copy.deepcopy(example_data)
    mutate(data)
    problems = problems_for(tmp_path, data)
    assert path in problems, f"expected a problem at {path}, got {sorted(problems)}"
    problem = problems[path]
    text = f"{problem.message} {problem.fix}"
    for fragment in expected:
        assert fragment in text, f"{fragment!r} missing from {text!r}"
    assert problem.fix.strip(), "every problem needs a fix"


def test_every_problem_is_reported_at_once(tmp_path: Path, example_data: dict):
    data = copy.deepcopy(example_data)
    data["plan"]["owner"] = "cio@contoso.com"  # reference
    data["severities"][0]["update_every"] = "soon"  # field
    data["groups"][0]["members"].append("ghost@contoso.com")  # reference
    data["groups"][1]["recieves"] = ["data"]  # unknown key
    data["services"][0]["owner_group"] = "apps"  # reference
    data["people"][3]["time_zone"] = "Mars/Olympus"  # field
    problems = check_plan_file(write_plan(tmp_path, data))
    assert [p.path for p in problems] == [
        "plan.owner",
        "severities[0].update_every",
        "people[3].time_zone",
        "groups[0].members[4]",
        "groups[1].recieves",
        "services[0].owner_group",
    ]


def test_field_and_reference_problem_on_same_path_reported_once(
    tmp_path: Path, example_data: dict
):
    data = copy.deepcopy(example_data)
    data["services"][0]["owner_group"] = "Platform Team"  # bad id, and no such group
    problems = [p for p in check_plan_file(write_plan(tmp_path, data))
                if p.path == "services[0].owner_group"]
    assert len(problems) == 1
    assert "not a valid id" in problems[0].message


def test_load_plan_raises_plan_error_listing_all(tmp_path: Path, example_data: dict):
    data = copy.deepcopy(example_data)
    data["services"][0]["owner_group"] = "apps"
    data["services"][1]["owner_group"] = "data"
    path = write_plan(tmp_path, data)
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    error = caught.value
    assert isinstance(error, ConfigError)
    assert [p.path for p in error.problems] == [
        "services[0].owner_group", "services[1].owner_group"]
    text = str(error)
    assert str(path) in text and "2 problems" in text
    assert "services[0].owner_group: unknown group `apps`. Fix: " in text
    assert "services[1].owner_group: unknown group `data`. Fix: " in text


def test_reference_checks_also_guard_direct_model_validation(example_data: dict):
    data = copy.deepcopy(example_data)
    data["services"][0]["owner_group"] = "apps"
    with pytest.raises(PlanError) as caught:
        Plan.model_validate(data)
    assert [p.path for p in caught.value.problems] == ["services[0].owner_group"]


def test_format_problems_one_line_each():
    problems = [
        PlanProblem("groups[0].members[3]", "`x@y.z` is not a person in the plan.", "add them"),
        PlanProblem("severities", "the plan defines no severities", "add one"),
    ]
    assert format_problems(problems) == (
        "groups[0].members[3]: `x@y.z` is not a person in the plan. Fix: add them\n"
        "severities: the plan defines no severities. Fix: add one"
    )


# -- file-level problems ----------------------------------------------------------------------


def test_yaml_syntax_error_gives_line_and_column(tmp_path: Path):
    path = tmp_path / "plan.yaml"
    path.write_text("plan:\n  name: Contoso\n  owner: [unclosed\nseverities: []\n")
    problems = check_plan_file(path)
    assert len(problems) == 1
    problem = problems[0]
    assert problem.path.startswith(f"{path}:")
    line, column = problem.path.rsplit(":", 2)[1:]
    assert (int(line), int(column)) == (4, 11)
    assert "YAML syntax error at line 4, column 11" in problem.message
    assert "indentation" in problem.fix


def test_tab_indentation_is_a_syntax_error(tmp_path: Path):
    path = tmp_path / "plan.yaml"
    path.write_text("plan:\n  name: x\n\towner: y\n")
    [problem] = check_plan_file(path)
    assert problem.path == f"{path}:3:1"
    assert "tabs" in problem.fix


def test_duplicate_yaml_key_is_refused(tmp_path: Path):
    path = tmp_path / "plan.yaml"
    path.write_text("plan:\n  name: a\n  name: b\n")
    [problem] = check_plan_file(path)
    assert problem.path == f"{path}:3:3"
    assert "duplicate key `name`" in problem.message
    assert "keep only the last" in problem.fix


def test_missing_file(tmp_path: Path):
    missing = tmp_path / "nope.yaml"
    [problem] = check_plan_file(missing)
    assert problem.path == str(missing)
    assert problem.message == "file not found"
    assert "FIREBREAK_PLAN" in problem.fix
    with pytest.raises(PlanError, match="file not found"):
        load_plan(missing)


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "the file is empty"), ("# only a comment\n", "the file is empty"),
     ("- a\n- b\n", "not a mapping")],
)
def test_file_that_is_not_a_plan(tmp_path: Path, text: str, message: str):
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    [problem] = check_plan_file(path)
    assert problem.path == str(path)
    assert message in problem.message


# -- durations --------------------------------------------------------------------------------

VALID_DURATIONS = [
    ("45s", timedelta(seconds=45)),
    ("5m", timedelta(minutes=5)),
    ("2h", timedelta(hours=2)),
    ("3d", timedelta(days=3)),
    ("1w", timedelta(weeks=1)),
    ("1h30m", timedelta(hours=1, minutes=30)),
    ("1d12h", timedelta(days=1, hours=12)),
    ("2w3d4h5m6s", timedelta(weeks=2, days=3, hours=4, minutes=5, seconds=6)),
    ("1s", timedelta(seconds=1)),
    ("90m", timedelta(minutes=90)),
    (" 5m ", timedelta(minutes=5)),
]

INVALID_DURATIONS = ["", "5", "0s", "0h0m", "-5m", "5 m", "5M", "30m1h", "1.5h", "abc",
                     "h", "5min", "1h 30m", "9" * 30 + "w"]


@pytest.mark.parametrize(("text", "expected"), VALID_DURATIONS)
def test_parse_duration_valid(text: str, expected: timedelta):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", INVALID_DURATIONS)
def test_parse_duration_invalid_shows_accepted_forms(text: str):
    with pytest.raises(ValueError) as caught:
        parse_duration(text)
    assert "45s, 5m, 2h, 3d" in str(caught.value)


def test_zero_allowed_only_when_asked():
    assert parse_duration("0s", allow_zero=True) == timedelta(0)
    with pytest.raises(ValueError, match="zero"):
        parse_duration("0s")


@pytest.mark.parametrize(
    ("value", "text"),
    [(timedelta(0), "0s"), (timedelta(seconds=45), "45s"), (timedelta(minutes=90), "1h30m"),
     (timedelta(days=90), "90d"), (timedelta(days=14), "2w"), (timedelta(days=8), "8d"),
     (timedelta(days=1, seconds=1), "1d1s")],
)
def test_format_duration(value: timedelta, text: str):
    assert format_duration(value) == text
    assert parse_duration(text, allow_zero=True) == value


@pytest.mark.parametrize("value", [timedelta(seconds=-1), timedelta(milliseconds=1500)])
def test_format_duration_refuses_what_the_plan_cannot_express(value: timedelta):
    with pytest.raises(ValueError):
        format_duration(value)


def test_duration_type_round_trips_and_documents_itself():
    adapter = TypeAdapter(Duration)
    assert adapter.validate_python("1h30m") == timedelta(hours=1, minutes=30)
    assert adapter.validate_python(timedelta(minutes=5)) == timedelta(minutes=5)
    assert adapter.dump_python(timedelta(hours=2), mode="json") == "2h"
    assert adapter.dump_json(timedelta(days=3)) == b'"3d"'
    schema = adapter.json_schema()
    assert schema["type"] == "string" and "pattern" in schema
    for bad in ("0s", 30, "soon", timedelta(0)):
        with pytest.raises(ValidationError):
            adapter.validate_python(bad)


def test_delay_type_accepts_zero():
    adapter = TypeAdapter(Delay)
    assert adapter.validate_python("0s") == timedelta(0)
    with pytest.raises(ValidationError):
        adapter.validate_python("-1s")
