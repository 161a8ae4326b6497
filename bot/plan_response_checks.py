"""Reference checks for the response sections of the plan: tiers, triage, runbooks,
communications, break-glass, drills and regulatory duties.

Like `bot.plan_checks`, they read plain data and tolerate anything malformed, so one `plan
check` reports every problem at once.
"""
from __future__ import annotations

from typing import Any

from bot.plan_checks import (
    PlanProblem,
    _check_unique,
    _email,
    _ids,
    _items,
    _strings,
    _unknown_group,
    _unknown_person,
    did_you_mean,
    known_list,
)

ROLE_SENDERS = ("incident_manager", "comms_lead", "postmortem_leader", "scribe")


def _section(data: Any, key: str) -> dict:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, dict) else {}


def _unknown(path: str, kind: str, section: str, value: str, known: list[str]) -> PlanProblem:
    return PlanProblem(path, f"unknown {kind} `{value}`{did_you_mean(value, known)}",
                       f"use the id of one under `{section}` ({known_list(known, kind=section)})")


def check_response_refs(data: Any) -> list[PlanProblem]:
    """Every cross-section problem in the response sections."""
    known = {
        "severities": _ids(data, "severities"),
        "services": _ids(data, "services"),
        "groups": _ids(data, "groups"),
        "tiers": _ids(data, "tiers"),
        "runbooks": _ids(data, "runbooks"),
        "people": _ids(data, "people", key="email", email=True),
    }
    problems: list[PlanProblem] = []
    problems += _check_unique(data, "tiers", "tier")
    problems += _check_unique(data, "runbooks", "runbook")
    problems += _tier_refs(data, known)
    problems += _triage_refs(data, known)
    problems += _runbook_refs(data, known)
    problems += _communication_refs(data, known)
    problems += _breakglass_refs(data, known)
    problems += _drill_and_duty_refs(data, known)
    return problems


def _check(problems: list, path: str, value: Any, kind: str, section: str, known: dict) -> None:
    if isinstance(value, str) and value not in known[section]:
        if section == "groups":
            problems.append(_unknown_group(path, value, known["groups"]))
        else:
            problems.append(_unknown(path, kind, section, value, known[section]))


def _tier_refs(data: Any, known: dict) -> list[PlanProblem]:
    problems: list[PlanProblem] = []
    for s, service in _items(data, "services"):
        _check(problems, f"services[{s}].tier", service.get("tier"), "tier", "tiers", known)
        _check(problems, f"services[{s}].runbook", service.get("runbook"), "runbook", "runbooks", known)
    upward: dict[str, str] = {}
    for t, tier in _items(data, "tiers"):
        _check(problems, f"tiers[{t}].graduates_to", tier.get("graduates_to"), "tier", "tiers", known)
        for g, group in _strings(tier, "support"):
            _check(problems, f"tiers[{t}].support[{g}]", group, "group", "groups", known)
        if isinstance(tier.get("id"), str) and isinstance(tier.get("graduates_to"), str):
            upward[tier["id"]] = tier["graduates_to"]
    for t, tier in _items(data, "tiers"):
        start, seen = tier.get("id"), []
        node = start
        while isinstance(node, str) and node in upward and node not in seen:
            seen.append(node)
            node = upward[node]
        if node == start and len(seen) > 1:
            problems.append(PlanProblem(f"tiers[{t}].graduates_to",
                                        f"the graduation path goes round in a circle: {' -> '.join(seen + [start])}",
                                        "graduation leads up, to a more critical tier; remove "
                                        "`graduates_to` from the most critical tier"))
    return problems


def _triage_refs(data: Any, known: dict) -> list[PlanProblem]:
    triage = _section(data, "triage")
    problems: list[PlanProblem] = []
    problems += _check_unique(_section(triage, "impact"), "choices", "impact answer", prefix="triage.impact.")
    problems += _check_unique(triage, "emergency_criteria", "emergency criterion", prefix="triage.")
    for c, choice in _items(_section(triage, "impact"), "choices"):
        _check(problems, f"triage.impact.choices[{c}].severity", choice.get("severity"), "severity", "severities", known)
    for q, question in _items(triage, "dependency_questions"):
        _check(problems, f"triage.dependency_questions[{q}].if_yes", question.get("if_yes"), "service", "services", known)
    for c, criterion in _items(triage, "emergency_criteria"):
        _check(problems, f"triage.emergency_criteria[{c}].severity", criterion.get("severity"), "severity", "severities", known)
    for g, group in _strings(triage, "disaster_notify"):
        _check(problems, f"triage.disaster_notify[{g}]", group, "group", "groups", known)
    return problems


def _runbook_refs(data: Any, known: dict) -> list[PlanProblem]:
    problems: list[PlanProblem] = []
    for r, runbook in _items(data, "runbooks"):
        _check(problems, f"runbooks[{r}].team", runbook.get("team"), "group", "groups", known)
    return problems


def _communication_refs(data: Any, known: dict) -> list[PlanProblem]:
    problems: list[PlanProblem] = []
    comms = _section(data, "communications")
    problems += _check_unique(comms, "audiences", "audience", prefix="communications.")
    for a, audience in _items(comms, "audiences"):
        path = f"communications.audiences[{a}]"
        for s, severity in _strings(audience, "severities"):
            _check(problems, f"{path}.severities[{s}]", severity, "severity", "severities", known)
        for t, tier in _strings(audience, "tiers"):
            _check(problems, f"{path}.tiers[{t}]", tier, "tier", "tiers", known)
        sender = audience.get("sender")
        senders = list(ROLE_SENDERS) + known["groups"]
        if isinstance(sender, str) and sender not in senders:
            problems.append(PlanProblem(f"{path}.sender", f"`{sender}` is neither a role nor a group{did_you_mean(sender, senders)}",
                                        f"use a role key ({', '.join(ROLE_SENDERS)}) or a group id "
                                        f"({known_list(known['groups'], kind='groups')})"))
    return problems


def _breakglass_refs(data: Any, known: dict) -> list[PlanProblem]:
    breakglass = _section(data, "breakglass")
    problems: list[PlanProblem] = []
    _check(problems, "breakglass.notify_group", breakglass.get("notify_group"), "group", "groups", known)
    problems += _check_unique(breakglass, "accounts", "break-glass account", prefix="breakglass.")
    for a, account in _items(breakglass, "accounts"):
        for g, group in _strings(account, "allowed_groups"):
            _check(problems, f"breakglass.accounts[{a}].allowed_groups[{g}]", group, "group", "groups", known)
        for p, person in _strings(account, "allowed_people"):
            if _email(person) not in known["people"]:
                problems.append(_unknown_person(f"breakglass.accounts[{a}].allowed_people[{p}]", person, known["people"]))
    return problems


def _drill_and_duty_refs(data: Any, known: dict) -> list[PlanProblem]:
    problems: list[PlanProblem] = []
    drills = _section(data, "drills")
    problems += _check_unique(drills, "programme", "drill", prefix="drills.")
    for d, drill in _items(drills, "programme"):
        _check(problems, f"drills.programme[{d}].owner_group", drill.get("owner_group"), "group", "groups", known)
    regulatory = _section(data, "regulatory")
    problems += _check_unique(regulatory, "duties", "duty", prefix="regulatory.")
    for d, duty in _items(regulatory, "duties"):
        owner = _email(duty.get("owner"))
        if owner is not None and owner not in known["people"]:
            problems.append(_unknown_person(f"regulatory.duties[{d}].owner", owner, known["people"]))
        problems += _check_unique(duty, "deadlines", "deadline", prefix=f"regulatory.duties[{d}].")
    return problems
