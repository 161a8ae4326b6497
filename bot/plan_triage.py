"""Triage in the response plan: support tiers, the validation questions, and team runbooks.

Support staff must take the same steps every time to validate an issue and decide its
severity, even when they cannot see the underlying cause; each team then works through its own
script, with a rollback for every risky step, before bringing the component back. All the text
a responder reads in the triage dialog and in a runbook comes from here, so an organisation
adapts both without code.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.durations import Duration
from bot.plan_fields import FieldProblem, Slug, Text


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


def _https(url: str, *, what: str) -> str:
    if not url.startswith(("https://", "http://")):
        raise FieldProblem(f"`{url}` is not a web link", fix=f"write the {what} as an https:// address")
    return url


# -- tiers ------------------------------------------------------------------------------------


class TierResponse(_Frozen):
    """What the organisation promises for a solution in this tier."""

    acknowledge: Duration
    """How soon someone must be working on an incident, e.g. 15m."""
    restore: Duration | None = None
    """The target for restoring service, e.g. 4h."""
    hours: Literal["24x7", "business_hours"] = "24x7"
    """When support is given: around the clock, or in working hours only."""


class Tier(_Frozen):
    """A solution criticality tier (e.g. productivity, important, critical) and its support."""

    id: Slug
    name: Text
    description: Text
    """Which solutions belong here, in plain words."""
    response: TierResponse
    support: tuple[Slug, ...] = ()
    """Support tiers in escalation order, as group ids: Tier 1 first, then the teams behind it."""
    graduates_to: Slug | None = None
    """The next tier up, once a solution meets `graduation`."""
    graduation: Text | None = None
    """What a solution must have to move up (owners, monitoring, a runbook, a drill...)."""

    @model_validator(mode="after")
    def _graduation_explained(self) -> Tier:
        if self.graduates_to and not self.graduation:
            raise FieldProblem("`graduates_to` is set without `graduation`",
                               fix="add `graduation:` saying what a solution needs to move up")
        if self.graduates_to == self.id:
            raise FieldProblem(f"tier `{self.id}` graduates to itself",
                               fix="name the next tier up, or remove `graduates_to`")
        return self


# -- triage -----------------------------------------------------------------------------------


class ImpactChoice(_Frozen):
    """One answer to "who is affected?" and the severity it suggests."""

    id: Slug
    label: Text
    """The button text, e.g. "One team or site"."""
    severity: Slug
    """The severity this answer suggests on its own (a severity id)."""


class Impact(_Frozen):
    """The question about who is affected, and the follow-up about how many."""

    question: Text = "Who is affected?"
    choices: tuple[ImpactChoice, ...] = Field(min_length=1)
    """Least to most affected; each suggests a severity."""
    how_many: Text = "Roughly how many people are affected? A number, or `unknown`."
    """A free-text follow-up, recorded as answered."""


class DependencyQuestion(_Frozen):
    """A yes/no question that points at a service when the responder cannot name one."""

    question: Text
    """Asked of someone who sees only symptoms, e.g. "Do sign-ins fail in Outlook too?"."""
    if_yes: Slug
    """The service a "yes" points at (a service id; suppliers too)."""


class EmergencyCriterion(_Frozen):
    """One line of the emergency checklist; when it is true it sets at least `severity`."""

    id: Slug
    text: Text
    """Asked as "Is this true?", so write it as a statement."""
    severity: Slug
    """The severity this criterion calls for (a severity id)."""


class Triage(_Frozen):
    """The validation steps every responder follows to decide a severity."""

    dependency_questions: tuple[DependencyQuestion, ...] = ()
    """Asked, in order, when the responder does not know which service is affected."""
    impact: Impact
    emergency_criteria: tuple[EmergencyCriterion, ...] = ()
    """The emergency checklist, most serious first."""
    disaster_criteria: tuple[Text, ...] = ()
    """When an incident is a disaster: the disaster recovery plan applies."""
    dr_plan_url: str | None = None
    """Where the disaster recovery plan lives (a web link)."""
    disaster_notify: tuple[Slug, ...] = ()
    """Groups that must be told when the disaster criteria are met."""

    @model_validator(mode="after")
    def _dr_plan_when_disasters(self) -> Triage:
        if self.dr_plan_url:
            _https(self.dr_plan_url, what="disaster recovery plan link")
        if self.disaster_criteria and not self.dr_plan_url:
            raise FieldProblem("disaster criteria are listed without `dr_plan_url`",
                               fix="add `dr_plan_url: https://...` so responders can open the "
                               "disaster recovery plan when the criteria are met")
        return self


# -- runbooks ---------------------------------------------------------------------------------


class RunbookStep(_Frozen):
    """One step of a team's triage script."""

    title: Text
    instructions: Text
    """What to do, written for the person at the keyboard."""
    check: Text | None = None
    """How to tell the step worked, e.g. "the flow's last run succeeded"."""
    rollback: Text | None = None
    """How to undo the step if it fails or makes things worse."""


class BringBack(_Frozen):
    """The last step of every runbook: put the component back into the flow, and verify it."""

    title: Text
    instructions: Text
    check: Text
    """How to tell the component is back and healthy: required, this is the step that ends it."""


class Runbook(_Frozen):
    """A team's step-by-step triage script, walked one card at a time with `runbook ID`."""

    id: Slug
    name: Text
    team: Slug
    """The group that owns the script (a group id)."""
    steps: tuple[RunbookStep, ...] = Field(min_length=1)
    bring_back: BringBack
    """Always the last step."""


def link(url: str | None, *, what: str) -> str | None:
    """Validate an optional web link field (shared by other plan sections)."""
    return _https(url, what=what) if url else url
