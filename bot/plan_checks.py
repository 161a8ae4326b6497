"""Problems in a response plan, and the checks that span sections (references between ids).

The reference checks read plain data (the parsed YAML, or a validated plan dumped to a dict)
and tolerate anything malformed, because they also run on a plan that failed field
validation: an operator should see every problem in one `plan check`, not fix them in rounds.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bot.errors import ConfigError


@dataclass(frozen=True)
class PlanProblem:
    """One thing wrong in the plan: where (`services[2].owner_group`), what, and how to fix it."""

    path: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message.rstrip('.')}. Fix: {self.fix}"


def format_problems(problems: list[PlanProblem]) -> str:
    """Human-readable list, one problem a line: `path: message. Fix: fix`."""
    return "\n".join(str(problem) for problem in problems)


class PlanError(ConfigError):
    """The response plan cannot be used; `.problems` holds every problem found, not just one."""

    def __init__(self, problems: list[PlanProblem], *, source: str = "") -> None:
        self.problems = list(problems)
        self.source = source
        where = f" {source}" if source else ""
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(
            f"The response plan{where} has {count} {noun}:\n{format_problems(self.problems)}"
        )


def known_list(values: list[str], *, kind: str) -> str:
    """`known groups: a, b, c` (or that there are none), for fix texts."""
    if not values:
        return f"the plan defines no {kind} yet"
    return f"known {kind}: {', '.join(values)}"


def did_you_mean(value: Any, choices: list[str], *, cutoff: float = 0.6) -> str:
    """` (did you mean `x`?)` when a close match exists, else empty."""
    if not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value, choices, n=1, cutoff=cutoff)
    return f" (did you mean `{close[0]}`?)" if close else ""


# -- tolerant readers over plain data ---------------------------------------------------------


def _items(data: Any, key: str) -> Iterator[tuple[int, dict]]:
    section = data.get(key) if isinstance(data, dict) else None
    if isinstance(section, (list, tuple)):
        for index, item in enumerate(section):
            if isinstance(item, dict):
                yield index, item


def _strings(item: Any, key: str) -> Iterator[tuple[int, str]]:
    values = item.get(key) if isinstance(item, dict) else None
    if isinstance(values, (list, tuple)):
        for index, value in enumerate(values):
            if isinstance(value, str):
                yield index, value


def _email(value: Any) -> str | None:
    # Mirrors the model's normalisation so raw and validated data compare the same way.
    return value.strip().lower() if isinstance(value, str) else None


def _ids(data: Any, section: str, *, key: str = "id", email: bool = False) -> list[str]:
    found = []
    for _, item in _items(data, section):
        value = _email(item.get(key)) if email else item.get(key)
        if isinstance(value, str) and value not in found:
            found.append(value)
    return found


# -- the checks -------------------------------------------------------------------------------


def check_references(data: Any) -> list[PlanProblem]:
    """Every cross-section problem: duplicates, unknown references, dependency cycles."""
    problems: list[PlanProblem] = []
    problems += _check_unique(data, "severities", "severity")
    problems += _check_unique(data, "people", "person", key="email", email=True)
    problems += _check_unique(data, "groups", "group")
    problems += _check_unique(data, "services", "service")
    if isinstance(data, dict) and isinstance(data.get("severities"), (list, tuple)):
        if not data["severities"]:
            problems.append(
                PlanProblem(
                    "severities",
                    "the plan defines no severities",
                    "add at least one, e.g. `- {id: sev1, name: Critical, criteria: ...}`",
                )
            )
    problems += _check_unique(data, "schedules", "schedule")
    problems += _check_unique(data, "escalation_policies", "escalation policy")
    problems += _check_people_refs(data)
    problems += _check_group_refs(data)
    problems += _check_dependencies(data)
    problems += _check_oncall_refs(data)
    return problems


def _check_unique(
    data: Any, section: str, kind: str, *, key: str = "id", email: bool = False, prefix: str = ""
) -> list[PlanProblem]:
    first_at: dict[str, int] = {}
    problems = []
    for index, item in _items(data, section):
        value = _email(item.get(key)) if email else item.get(key)
        if not isinstance(value, str):
            continue
        if value in first_at:
            problems.append(
                PlanProblem(
                    f"{prefix}{section}[{index}].{key}",
                    f"duplicate {kind} `{value}` (already used by {prefix}{section}[{first_at[value]}])",
                    f"give each {kind} a unique {key}, or merge the two entries",
                )
            )
        else:
            first_at[value] = index
    return problems


def _unknown_person(path: str, value: str, people: list[str]) -> PlanProblem:
    return PlanProblem(
        path,
        # A high cutoff: addresses share their domain, which makes unrelated ones look close.
        f"`{value}` is not a person in the plan{did_you_mean(value, people, cutoff=0.85)}",
        f"add `{value}` under `people`, or use the e-mail of someone listed there",
    )


def _check_people_refs(data: Any) -> list[PlanProblem]:
    people = _ids(data, "people", key="email", email=True)
    problems = []
    meta = data.get("plan") if isinstance(data, dict) else None
    owner = _email(meta.get("owner")) if isinstance(meta, dict) else None
    if owner is not None and owner not in people:
        problems.append(_unknown_person("plan.owner", owner, people))
    for g, group in _items(data, "groups"):
        for m, member in _strings(group, "members"):
            if _email(member) not in people:
                problems.append(_unknown_person(f"groups[{g}].members[{m}]", member, people))
    return problems


def _unknown_group(path: str, value: str, groups: list[str]) -> PlanProblem:
    return PlanProblem(
        path,
        f"unknown group `{value}`{did_you_mean(value, groups)}",
        f"use the id of a group under `groups` ({known_list(groups, kind='groups')})",
    )


def _check_group_refs(data: Any) -> list[PlanProblem]:
    groups = _ids(data, "groups")
    problems = []
    for s, severity in _items(data, "severities"):
        for m, group_id in _strings(severity, "announce_mentions"):
            if group_id not in groups:
                path = f"severities[{s}].announce_mentions[{m}]"
                problems.append(_unknown_group(path, group_id, groups))
    roles = data.get("roles") if isinstance(data, dict) else None
    if isinstance(roles, dict):
        for key, role in roles.items():
            for a, group_id in _strings(role, "acting_groups"):
                if group_id not in groups:
                    path = f"roles.{key}.acting_groups[{a}]"
                    problems.append(_unknown_group(path, group_id, groups))
    for s, service in _items(data, "services"):
        owner = service.get("owner_group")
        if isinstance(owner, str) and owner not in groups:
            problems.append(_unknown_group(f"services[{s}].owner_group", owner, groups))
    return problems


def _check_dependencies(data: Any) -> list[PlanProblem]:
    services = _ids(data, "services")
    index_of = {}
    for i, item in _items(data, "services"):
        if isinstance(item.get("id"), str):
            index_of.setdefault(item["id"], i)
    problems = []
    edges: dict[str, list[str]] = {}
    for s, service in _items(data, "services"):
        sid = service.get("id")
        for d, dep in _strings(service, "depends_on"):
            path = f"services[{s}].depends_on[{d}]"
            if dep == sid:
                problems.append(
                    PlanProblem(path, f"`{dep}` depends on itself", "remove it from its depends_on")
                )
            elif dep not in services:
                problems.append(
                    PlanProblem(
                        path,
                        f"unknown service `{dep}`{did_you_mean(dep, services)}",
                        f"use the id of a service under `services` "
                        f"({known_list(services, kind='services')}), or add it "
                        "(with `supplier: true` if another company runs it)",
                    )
                )
            elif isinstance(sid, str):
                edges.setdefault(sid, []).append(dep)
    for cycle in _cycles(edges, order=services):
        chain = " -> ".join([*cycle, cycle[0]])
        problems.append(
            PlanProblem(
                f"services[{index_of[cycle[0]]}].depends_on",
                f"dependency cycle: {chain}",
                "remove one of these depends_on links; dependencies must form a tree so impact "
                "can be traced from a failing service to everything it affects",
            )
        )
    return problems


def _cycles(edges: dict[str, list[str]], *, order: list[str]) -> list[list[str]]:
    """Each cycle once, as found by a depth-first walk in plan order."""
    state: dict[str, str] = {}  # "active" while on the stack, "done" once fully explored
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = "active"
        stack.append(node)
        for nxt in edges.get(node, []):
            if state.get(nxt) == "active":
                found.append(stack[stack.index(nxt):])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in order:
        if node not in state:
            visit(node)
    return found


def _check_oncall_refs(data: Any) -> list[PlanProblem]:
    """Schedules name people and a group; policies target people, schedules and groups; services
    name a policy. Each must exist."""
    people = _ids(data, "people", key="email", email=True)
    groups = _ids(data, "groups")
    schedules = _ids(data, "schedules")
    policies = _ids(data, "escalation_policies")
    problems: list[PlanProblem] = []
    for s, schedule in _items(data, "schedules"):
        owner = _email(schedule.get("owner"))
        if owner is not None and owner not in people:
            problems.append(_unknown_person(f"schedules[{s}].owner", owner, people))
        group = schedule.get("group")
        if isinstance(group, str) and group not in groups:
            problems.append(_unknown_group(f"schedules[{s}].group", group, groups))
        for layer_index, layer in _items(schedule, "layers"):
            for p, person in _strings(layer, "participants"):
                if _email(person) not in people:
                    problems.append(_unknown_person(f"schedules[{s}].layers[{layer_index}].participants[{p}]", person, people))
    known = {"person": people, "schedule": schedules, "group": groups}
    for e, policy in _items(data, "escalation_policies"):
        for level_index, level in _items(policy, "levels"):
            for t, target in _strings(level, "targets"):
                problems += _check_target(f"escalation_policies[{e}].levels[{level_index}].targets[{t}]", target, known)
        for t, target in _strings(policy, "finally_notify"):
            problems += _check_target(f"escalation_policies[{e}].finally_notify[{t}]", target, known)
    for s, service in _items(data, "services"):
        policy = service.get("escalation_policy")
        if isinstance(policy, str) and policy not in policies:
            problems.append(PlanProblem(
                f"services[{s}].escalation_policy",
                f"unknown escalation policy `{policy}`{did_you_mean(policy, policies)}",
                f"use the id of a policy under `escalation_policies` ({known_list(policies, kind='escalation policies')})",
            ))
    return problems


def _check_target(path: str, target: str, known: dict[str, list[str]]) -> list[PlanProblem]:
    kind, _, value = target.partition(":")
    if kind == "person" and _email(value) not in known["person"]:
        return [_unknown_person(path, value, known["person"])]
    if kind == "group" and value not in known["group"]:
        return [_unknown_group(path, value, known["group"])]
    if kind == "schedule" and value not in known["schedule"]:
        return [PlanProblem(path, f"unknown schedule `{value}`{did_you_mean(value, known['schedule'])}",
                            f"use the id of a schedule under `schedules` ({known_list(known['schedule'], kind='schedules')})")]
    return []
