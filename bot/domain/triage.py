"""Triage: from what a responder can see to a severity decision, by the plan's rules.

The dialog (dialogs/triage.py) asks; this module decides, as pure functions over the plan, so
every branch is a table test. The proposal is the most severe of what the answers call for:
the impact answer's severity and each emergency criterion answered "yes". A supplier outage
never lowers it; it is named in the reason, because it changes who must be called.
"""
from __future__ import annotations

from dataclasses import dataclass

from bot.errors import ValidationFailed
from bot.plan import Plan, Service

UNKNOWN_SERVICE = "unknown"
NO_SUPPLIER = "no-supplier"


@dataclass(frozen=True)
class Proposal:
    """The severity triage proposes and why, in the plan's words."""

    severity: str
    reasons: tuple[str, ...]

    def reason_text(self) -> str:
        return "; ".join(self.reasons)


def affected_choices(plan: Plan) -> list[Service]:
    """The services a responder picks from: the organisation's own, not suppliers."""
    return [s for s in plan.services if not s.supplier]


def suppliers(plan: Plan, *, for_service: str | None = None) -> list[Service]:
    """Suppliers to ask about: those the service depends on (directly or not), else all."""
    every = [s for s in plan.services if s.supplier]
    if not for_service:
        return every
    needed = set(dependencies(plan, for_service))
    return [s for s in every if s.id in needed] or every


def dependencies(plan: Plan, service_id: str) -> list[str]:
    """Every service this one needs, directly or through others, in plan order."""
    index = {s.id: s for s in plan.services}
    seen: list[str] = []
    stack = list(index[service_id].depends_on) if service_id in index else []
    while stack:
        current = stack.pop(0)
        if current in seen or current not in index:
            continue
        seen.append(current)
        stack.extend(index[current].depends_on)
    return [s.id for s in plan.services if s.id in seen]


def propose(plan: Plan, *, impact: str, criteria_met: list[str] | tuple[str, ...] = (),
            criteria_unknown: list[str] | tuple[str, ...] = (), supplier_down: str | None = None) -> Proposal:
    """The severity the answers call for, with every reason that called for it.

    A criterion answered "I don't know" does not raise the severity (nobody could confirm it),
    but it is named, so whoever decides sees what is still open and may choose higher."""
    triage = plan.triage
    if triage is None:
        raise ValidationFailed("The plan has no `triage` section; add one (see plans/example.yaml).")
    choice = next((c for c in triage.impact.choices if c.id == impact), None)
    if choice is None:
        raise ValidationFailed(f"Unknown impact answer `{impact}`.")
    order = plan.severity_ids()
    candidates = [(choice.severity, f"{choice.label.rstrip('.')} affected")]
    for criterion in triage.emergency_criteria:
        if criterion.id in criteria_met:
            candidates.append((criterion.severity, criterion.text.rstrip(".")))
    most = min(order.index(severity) for severity, _ in candidates)
    severity = order[most]
    reasons = [reason for sev, reason in candidates if sev == severity]
    unknown = [c.text.rstrip(".") for c in triage.emergency_criteria if c.id in criteria_unknown]
    if unknown:
        reasons.append("not known yet: " + "; ".join(unknown))
    if supplier_down and supplier_down != NO_SUPPLIER:
        reasons.append(f"a supplier is down: {_name(plan, supplier_down)} (escalate to the supplier)")
    return Proposal(severity=severity, reasons=tuple(reasons))


def disaster_contacts(plan: Plan) -> list[tuple[str, list[str]]]:
    """Who must be told when the disaster criteria are met: (group name, member names)."""
    if plan.triage is None:
        return []
    out = []
    for group_id in plan.triage.disaster_notify:
        group = plan.group(group_id)
        names = [(plan.person(m).name if plan.person(m) else m) for m in group.members]
        out.append((group.name, names))
    return out


def _name(plan: Plan, service_id: str) -> str:
    try:
        return plan.service(service_id).name
    except Exception:  # noqa: BLE001 - a removed service still reads as its id
        return service_id
