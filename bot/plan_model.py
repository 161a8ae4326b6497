"""The response plan as typed, immutable data, and the questions the bot asks of it.

The models are frozen because one loaded plan is shared by every turn and tick; nothing may
change it behind a running incident's back. `extra="forbid"` turns a misspelt key into an
error instead of a silently ignored setting. Attribute docstrings become the descriptions in
`docs/plan.schema.json`, so they are written for the operator who edits the YAML.

On-call (schedules, escalation_policies, paging) lives in `bot/plan_oncall.py`; monitoring in
`bot/plan_integrations.py`; tiers, triage and runbooks in `bot/plan_triage.py`; communications,
tools, break-glass, drills and regulatory duties in `bot/plan_duties.py`; shared field types in
`bot/plan_fields.py`. Cross-section checks: `bot/plan_checks.py`, `bot/plan_response_checks.py`.
"""
from __future__ import annotations

import datetime as dt
from functools import cached_property
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from bot.durations import Delay, Duration
from bot.errors import NotFound
from bot.plan_checks import PlanError, check_references
from bot.plan_fields import EMAIL_PATTERN, SLUG_PATTERN, Email, FieldProblem, Slug, Text, TimeZoneName  # noqa: F401 - re-exported
from bot.plan_duties import BreakGlass, Communications, Drills, Regulatory, Tools
from bot.plan_integrations import Integration, check_integration_refs
from bot.plan_oncall import EscalationPolicy, Paging, Schedule
from bot.plan_response_checks import check_response_refs
from bot.plan_triage import Runbook, Tier, Triage, link

ROLE_KEYS = ("incident_manager", "postmortem_leader", "comms_lead", "scribe")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class PlanMeta(_Frozen):
    """Who owns the plan and when it was last reviewed."""

    name: Text
    """What this plan covers, e.g. "Contoso Field Service"."""
    owner: Email
    """The person accountable for keeping the plan current; must be listed under `people`."""
    version: Text
    """Your own version label, e.g. "2026.3" (quote it so YAML keeps it as text)."""
    last_reviewed: dt.date
    """The date of the last review, YYYY-MM-DD."""
    review_every: Duration
    """How often the plan must be reviewed, e.g. 90d."""

    @field_validator("version", mode="before")
    @classmethod
    def _whole_number_version(cls, value: object) -> object:
        # `version: 3` is unambiguous; a float such as 1.10 is not (YAML reads 1.1), so it errs.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @property
    def next_review(self) -> dt.date:
        """The date by which the plan is due for review."""
        return self.last_reviewed + self.review_every


class Severity(_Frozen):
    """A severity level. List them most severe first; that order is the plan's order."""

    id: Slug
    """Short id responders type, e.g. sev1."""
    name: Text
    """Display name, e.g. "Critical"."""
    criteria: Text
    """When a responder should pick this severity, in plain words."""
    space: Literal["channel", "thread"] = "thread"
    """Where the incident is worked: its own channel, or a thread in the incidents channel."""
    page: bool = False
    """Whether declaring it pages the on-call responders."""
    update_every: Duration | None = None
    """How often the incident manager is reminded to post a status update; none if omitted."""
    announce_mentions: tuple[Slug, ...] = ()
    """Groups @mentioned when an incident of this severity is announced."""


class Role(_Frozen):
    """An incident role: who holds it is decided per incident; this says what it means."""

    title: Text
    """Display title, e.g. "Incident manager"."""
    duties: Text
    """What the holder is responsible for, shown to whoever takes the role."""
    acting_groups: tuple[Slug, ...] = ()
    """Members of these groups may act with this role's authority without holding it."""
    impartial: bool = False
    """The holder must not have worked the incident (e.g. a postmortem leader)."""


class IncidentManagerRole(Role):
    """The incident manager: runs the response and owns its decisions."""

    on_declare: Literal["declarer", "none"] = "declarer"
    """`declarer`: whoever declares becomes incident manager; `none`: assigned by hand."""


class PostmortemLeaderRole(Role):
    """The postmortem leader: runs the blameless review after resolution."""

    impartial: bool = True
    """Defaults to true so the review is led by someone who did not work the incident."""


class Roles(_Frozen):
    """The four incident roles; all must be described."""

    incident_manager: IncidentManagerRole
    postmortem_leader: PostmortemLeaderRole
    comms_lead: Role
    scribe: Role


class OverflowTeam(_Frozen):
    """A second team for incident channels once the incidents team nears Teams' channel cap."""

    id: Text
    """The team's Microsoft 365 group id (Graph's team id; in Teams: Get link to team, `groupId=`)."""
    name: Text
    """The team's display name, used in messages."""


class Spaces(_Frozen):
    """Where incident channels go when the incidents team fills up."""

    channel_cap_warning: int = Field(900, ge=1, le=1000)
    """Warn the admins once the incidents team lists this many channels. Teams allows 1,000,
    counting channels deleted in the last 30 days, which Graph no longer lists: leave a margin."""
    overflow_team: OverflowTeam | None = None
    """Where new incident channels go past `channel_cap_warning` (the app must be installed there)."""


def _loopback_or_https(url: str) -> bool:
    if url.startswith("https://"):
        return True
    return url.startswith(("http://localhost", "http://127.0.0.1", "http://[::1]"))


class Contact(_Frozen):
    """One way to reach a person, tried `after` the page starts."""

    method: Literal["teams", "email", "webhook"]
    """teams: a chat from the bot; email; webhook: an HTTPS POST (e.g. an SMS gateway)."""
    # The schema default is spelt as in the plan; pydantic would otherwise write ISO "PT0S".
    after: Delay = Field(dt.timedelta(0), json_schema_extra={"default": "0s"})
    """How long after the page starts to use this method, e.g. 0s, 5m."""
    address: str | None = None
    """Where to send: required for webhook (an https URL without secrets in it); for email it
    defaults to the person's e-mail; unused for teams."""

    @model_validator(mode="after")
    def _address_fits_method(self) -> Contact:
        if self.method == "webhook" and not (self.address and _loopback_or_https(self.address)):
            raise FieldProblem(
                "a webhook contact needs an https:// `address`",
                fix="add `address: https://...` (keep tokens out of the URL; the plan is not "
                "a place for secrets)",
            )
        if self.method == "email" and self.address and "@" not in self.address:
            raise FieldProblem(
                f"`{self.address}` is not an e-mail address",
                fix="write an address such as name@contoso.com, or omit it to use the "
                "person's own e-mail",
            )
        return self


class Person(_Frozen):
    """Someone the bot may page or assign a role; referred to elsewhere by e-mail/UPN."""

    email: Email
    """E-mail / UPN, as in Entra ID; this is how the rest of the plan refers to the person."""
    name: Text
    time_zone: TimeZoneName
    """Where the person works; times shown to them and their rotations use it."""
    contact: tuple[Contact, ...] = (Contact(method="teams"),)
    """How to reach them, in order; defaults to a Teams chat straight away."""


def _receives_tag(value: object) -> str:
    return "<all>" if isinstance(value, str) else "<categories>"


class Group(_Frozen):
    """A named set of people: a team, a rota pool, a list to @mention."""

    id: Slug
    name: Text
    members: tuple[Email, ...] = ()
    """E-mails of people listed under `people`."""
    receives: Annotated[
        Union[
            Annotated[Literal["all"], Tag("<all>")],
            Annotated[tuple[Slug, ...], Tag("<categories>")],
        ],
        Discriminator(_receives_tag),
    ] = ()
    """Which alerts the group hears about: `all`, or a list of categories such as [security]."""

    def receives_category(self, category: str) -> bool:
        """Whether alerts of this category go to this group."""
        return self.receives == "all" or category in self.receives


class Service(_Frozen):
    """Something that can fail: yours, or a supplier's (`supplier: true`)."""

    id: Slug
    name: Text
    tier: Slug | None = None
    """Solution criticality tier (an id under `tiers`)."""
    owner_group: Slug
    """The group that owns the service (for a supplier: who liaises with the supplier)."""
    escalation_policy: Slug | None = None
    """The escalation policy that pages for this service (an id under `escalation_policies`)."""
    runbook: Slug | None = None
    """The owning team's triage script (an id under `runbooks`), offered by the triage dialog."""
    depends_on: tuple[Slug, ...] = ()
    """Ids of services this one needs; an outage there may cause one here."""
    supplier: bool = False
    """True when another company runs it (Entra ID, Microsoft 365, ...)."""
    status_url: str | None = None
    """Where the supplier publishes its health (a web link), shown when triage asks whether a
    supplier is down."""

    @field_validator("status_url")
    @classmethod
    def _web_link(cls, value: str | None) -> str | None:
        return link(value, what="status page link")


def _key(value: str) -> str:
    # Chat users type `SEV1` or ` Tier1 `; ids are lowercase slugs, so fold before lookups.
    return value.strip().lower()


class Plan(_Frozen):
    """The whole response plan. Build it with `bot.plan.load_plan`, which explains errors."""

    plan: PlanMeta
    severities: tuple[Severity, ...]
    """Most severe first."""
    roles: Roles
    people: tuple[Person, ...]
    groups: tuple[Group, ...] = ()
    services: tuple[Service, ...] = ()
    spaces: Spaces = Spaces()
    """Incident channels: the channel cap warning and an overflow team."""
    schedules: tuple[Schedule, ...] = ()
    """On-call schedules: layers of rotations (see plans/example.yaml)."""
    escalation_policies: tuple[EscalationPolicy, ...] = ()
    """Who is paged, in which order, and how long each level has to acknowledge."""
    paging: Paging = Paging()
    """Defaults for pages sent by hand."""
    integrations: tuple[Integration, ...] = ()
    """Monitoring senders allowed to post alerts, and where their alerts go."""
    tiers: tuple[Tier, ...] = ()
    """Solution criticality tiers (productivity, important, critical) and their support."""
    triage: Triage | None = None
    """The validation steps of the triage dialog: impact, emergency and disaster criteria."""
    runbooks: tuple[Runbook, ...] = ()
    """Each team's step-by-step triage scripts, with rollbacks."""
    communications: Communications = Communications()
    """Who is told what, when and where, with message templates."""
    tools: Tools = Tools()
    """Tools used during incidents."""
    breakglass: BreakGlass | None = None
    """Emergency access accounts: where the procedure lives and who may use it (no secrets)."""
    drills: Drills = Drills()
    """The drill programme."""
    regulatory: Regulatory = Regulatory()
    """Legal duties with deadlines, e.g. reporting a personal-data breach within 72 hours."""

    @model_validator(mode="after")
    def _references_resolve(self) -> Plan:
        # Raised as PlanError (not ValueError) so it leaves pydantic untouched, problems intact.
        data = self.model_dump()
        problems = check_references(data) + check_integration_refs(data) + check_response_refs(data)
        if problems:
            raise PlanError(problems)
        return self

    @cached_property
    def _severity_index(self) -> dict[str, Severity]:
        return {s.id: s for s in self.severities}

    @cached_property
    def _service_index(self) -> dict[str, Service]:
        return {s.id: s for s in self.services}

    @cached_property
    def _group_index(self) -> dict[str, Group]:
        return {g.id: g for g in self.groups}

    @cached_property
    def _person_index(self) -> dict[str, Person]:
        return {p.email: p for p in self.people}

    @cached_property
    def _schedule_index(self) -> dict[str, Schedule]:
        return {s.id: s for s in self.schedules}

    @cached_property
    def _policy_index(self) -> dict[str, EscalationPolicy]:
        return {p.id: p for p in self.escalation_policies}

    def schedule(self, schedule_id: str) -> Schedule:
        """The schedule with this id (case-insensitive); NotFound lists the valid ids."""
        return _lookup(self._schedule_index, schedule_id, kind="schedule")

    def escalation_policy(self, policy_id: str) -> EscalationPolicy:
        """The escalation policy with this id (case-insensitive); NotFound lists the valid ids."""
        return _lookup(self._policy_index, policy_id, kind="escalation policy")

    def runbook(self, runbook_id: str) -> Runbook:
        """The runbook with this id (case-insensitive); NotFound lists the valid ids."""
        return _lookup({r.id: r for r in self.runbooks}, runbook_id, kind="runbook")

    def tier(self, tier_id: str | None) -> Tier | None:
        """The tier with this id, or None (no tier, or none by that id)."""
        return next((t for t in self.tiers if t.id == tier_id), None)

    def integration(self, integration_id: str) -> Integration | None:
        """The monitoring integration with this id (exact: it is part of a URL), or None."""
        return next((i for i in self.integrations if i.id == integration_id), None)

    def severity(self, severity_id: str) -> Severity:
        """The severity with this id (case-insensitive); NotFound lists the valid ids."""
        return _lookup(self._severity_index, severity_id, kind="severity")

    def severity_ids(self) -> list[str]:
        """Severity ids in plan order, most severe first."""
        return [s.id for s in self.severities]

    def service(self, service_id: str) -> Service:
        """The service with this id (case-insensitive); NotFound lists the valid ids."""
        return _lookup(self._service_index, service_id, kind="service")

    def group(self, group_id: str) -> Group:
        """The group with this id (case-insensitive); NotFound lists the valid ids."""
        return _lookup(self._group_index, group_id, kind="group")

    def person(self, email: str) -> Person | None:
        """The person with this e-mail/UPN (case-insensitive), or None if not in the plan."""
        return self._person_index.get(_key(email))

    def members_of(self, group_id: str) -> frozenset[str]:
        """E-mails of the group's members; NotFound for an unknown group."""
        return frozenset(self.group(group_id).members)

    def groups_of(self, email: str) -> list[Group]:
        """Groups this person belongs to, in plan order (empty if none)."""
        wanted = _key(email)
        return [g for g in self.groups if wanted in g.members]

    def role(self, key: str) -> Role:
        """The role described under `roles.<key>`; NotFound lists the role keys."""
        if _key(key) not in ROLE_KEYS:
            raise NotFound(f"Unknown role `{key}`. Roles are: {', '.join(ROLE_KEYS)}.")
        return getattr(self.roles, _key(key))

    def may_act_as(self, role_key: str, email: str) -> bool:
        """Whether this person is in one of the groups allowed to act with the role's authority."""
        acting = set(self.role(role_key).acting_groups)
        return any(g.id in acting for g in self.groups_of(email))


def _lookup(index: dict, wanted: str, *, kind: str):
    found = index.get(_key(wanted))
    if found is None:
        valid = ", ".join(index) or "none"
        raise NotFound(f"Unknown {kind} `{wanted}`. The plan defines: {valid}.")
    return found
