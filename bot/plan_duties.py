"""Duties in the response plan: who is told what, the tools, break-glass, drills, legal deadlines.

These sections are read by people under pressure (`comms`, `breakglass`, `breach`), so every
word they see is written here by the organisation. Credentials never appear: a break-glass
account names where its procedure lives and who may use it, nothing more.
"""
from __future__ import annotations

import datetime as dt
import string
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.durations import Duration, format_duration
from bot.plan_fields import Email, FieldProblem, Slug, Text
from bot.plan_triage import link

TEMPLATE_FIELDS = {
    "incident": "the incident's name, INC-12",
    "title": "the incident's title",
    "severity": "the severity id, e.g. SEV1",
    "severity_name": "the severity's name, e.g. Critical",
    "status": "declared, investigating, mitigated or resolved",
    "service": "the affected service's name, or \"not yet known\"",
    "declared": "when it was declared, with date and zone",
    "manager": "the incident manager's name",
    "next_update": "when the next update is due, or \"when there is news\"",
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


# -- communications ---------------------------------------------------------------------------


class Audience(_Frozen):
    """Someone who must be told about incidents of certain severities and tiers."""

    id: Slug
    name: Text
    """Who they are, e.g. "Service desk" or "Customers (status page)"."""
    severities: tuple[Slug, ...] = Field(min_length=1)
    """Severity ids for which they must be told."""
    tiers: tuple[Slug, ...] = ()
    """Only for incidents on services of these tiers (tier ids); all tiers when empty."""
    where: Text
    """Where the message goes: a Teams channel, a mailing list, the status page."""
    sender: Text = "comms_lead"
    """Who sends it: a role key (comms_lead, incident_manager) or a group id."""
    within: Duration
    """How soon after declaration the first message is due."""
    template: Text
    """The message, with {placeholders} filled from the incident (see `TEMPLATE_FIELDS`)."""

    @field_validator("template")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        try:
            names = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
        except ValueError as exc:
            raise FieldProblem(f"the template does not parse ({exc})",
                               fix="write placeholders as {title}; double a brace to show one: {{") from None
        unknown = [n for n in names if n not in TEMPLATE_FIELDS]
        if unknown:
            raise FieldProblem(f"unknown placeholder `{{{unknown[0]}}}`",
                               fix=f"use one of: {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)}")
        return value


class Communications(_Frozen):
    """The communication plan: who is told what, when and where."""

    audiences: tuple[Audience, ...] = ()


# -- tools ------------------------------------------------------------------------------------


class Tool(_Frozen):
    """A tool responders use during incidents."""

    name: Text
    url: str
    """Where to open it (a web link)."""
    purpose: Text
    """What it is for during an incident."""
    access: Text | None = None
    """How to get access if you lack it (never a password)."""

    @field_validator("url")
    @classmethod
    def _web_link(cls, value: str) -> str:
        return link(value, what="tool's link")


class Tools(_Frozen):
    """Tools used during incidents, shown by `tools`."""

    links: tuple[Tool, ...] = ()


# -- break-glass ------------------------------------------------------------------------------


class BreakGlassAccount(_Frozen):
    """An emergency access account: where its procedure lives and who may use it. No secrets."""

    id: Slug
    name: Text
    procedure_url: str
    """Where the full procedure is kept (a web link to a protected page, never the password)."""
    steps: tuple[Text, ...] = Field(min_length=1)
    """The procedure step by step, as shown to an allowed person by `breakglass ID`."""
    allowed_groups: tuple[Slug, ...] = ()
    allowed_people: tuple[Email, ...] = ()

    @field_validator("procedure_url")
    @classmethod
    def _web_link(cls, value: str) -> str:
        return link(value, what="procedure's link")

    @model_validator(mode="after")
    def _someone_allowed(self) -> BreakGlassAccount:
        if not self.allowed_groups and not self.allowed_people:
            raise FieldProblem("nobody may use this account",
                               fix="list `allowed_groups` or `allowed_people`")
        return self


class BreakGlass(_Frozen):
    """Break-glass accounts, who is told when one is requested, and what must follow."""

    notify_group: Slug
    """Told at once whenever break-glass is requested (usually security)."""
    follow_up: tuple[Text, ...] = ("Review the use of the account", "Rotate the account's credentials")
    """Items opened after every use; each stays open until someone closes it."""
    accounts: tuple[BreakGlassAccount, ...] = Field(min_length=1)


# -- drills -----------------------------------------------------------------------------------


class Drill(_Frozen):
    """A recurring emergency drill."""

    id: Slug
    name: Text
    scenario: Text
    """What is simulated, e.g. "Entra ID sign-in outage during the morning dispatch"."""
    every: Duration
    owner_group: Slug
    last_run: dt.date | None = None


class Drills(_Frozen):
    """The drill programme."""

    programme: tuple[Drill, ...] = ()


# -- regulatory -------------------------------------------------------------------------------


class Deadline(_Frozen):
    """Something that must be done within a time of the breach being marked."""

    id: Slug
    action: Text
    """What must be done, e.g. "Notify the ICO through its breach reporting form"."""
    within: Duration
    """Counted from when the incident is marked a possible breach, e.g. 72h."""
    remind_before: tuple[Duration, ...] = ()
    """When to remind the owner before the deadline, e.g. [24h, 4h, 1h]."""


class Duty(_Frozen):
    """A legal or contractual duty triggered by a kind of incident."""

    id: Slug
    name: Text
    trigger: Literal["breach"] = "breach"
    """What starts it; `breach` (the only trigger so far): a responder marks the incident a possible personal-data breach."""
    owner: Email
    """The person reminded before each deadline (e.g. the data protection officer)."""
    deadlines: tuple[Deadline, ...] = Field(min_length=1)
    reference: str | None = None
    """A link to the law or policy."""

    @field_validator("reference")
    @classmethod
    def _web_link(cls, value: str | None) -> str | None:
        return link(value, what="reference")

    @model_validator(mode="after")
    def _reminders_before_deadline(self) -> Duty:
        for deadline in self.deadlines:
            late = [r for r in deadline.remind_before if r >= deadline.within]
            if late:
                raise FieldProblem(f"deadline `{deadline.id}` asks for a reminder "
                                   f"{format_duration(late[0])} before it, which is before its clock starts",
                                   fix=f"make every `remind_before` shorter than `within` ({format_duration(deadline.within)})")
        return self


class Regulatory(_Frozen):
    """Legal duties and their deadlines."""

    duties: tuple[Duty, ...] = ()
