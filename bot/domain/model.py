"""Value objects the domain passes around (no database or Teams types)."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bot.alerts.model import Link
from storage.models import Incident, IncidentRole


class Source(StrEnum):
    """Where an action came from, as recorded on the timeline."""

    COMMAND = "command"
    CARD = "card"
    DIALOG = "dialog"
    MESSAGE_ACTION = "message_action"
    ACK_LINK = "ack_link"
    SYSTEM = "system"
    ALERT = "alert"


class Role(StrEnum):
    """Incident roles; values are the plan's `roles` keys."""

    INCIDENT_MANAGER = "incident_manager"
    POSTMORTEM_LEADER = "postmortem_leader"
    COMMS_LEAD = "comms_lead"
    SCRIBE = "scribe"


ROLE_ALIASES: dict[str, Role] = {
    "manager": Role.INCIDENT_MANAGER,
    "im": Role.INCIDENT_MANAGER,
    "incident_manager": Role.INCIDENT_MANAGER,
    "incident-manager": Role.INCIDENT_MANAGER,
    "commander": Role.INCIDENT_MANAGER,
    "postmortem": Role.POSTMORTEM_LEADER,
    "postmortem_leader": Role.POSTMORTEM_LEADER,
    "postmortem-leader": Role.POSTMORTEM_LEADER,
    "pm": Role.POSTMORTEM_LEADER,
    "comms": Role.COMMS_LEAD,
    "comms_lead": Role.COMMS_LEAD,
    "comms-lead": Role.COMMS_LEAD,
    "communications": Role.COMMS_LEAD,
    "scribe": Role.SCRIBE,
}

ROLE_LABELS: dict[Role, str] = {
    Role.INCIDENT_MANAGER: "Incident manager",
    Role.POSTMORTEM_LEADER: "Postmortem leader",
    Role.COMMS_LEAD: "Comms lead",
    Role.SCRIBE: "Scribe",
}


@dataclass(frozen=True)
class Actor:
    """Someone acting on an incident: a Teams user (AAD object id) or the system."""

    aad_id: str
    name: str
    email: str | None = None

    @property
    def display(self) -> str:
        return self.name or self.email or self.aad_id or "someone"


SYSTEM_ACTOR = Actor(aad_id="", name="Firebreak")


@dataclass(frozen=True)
class AlertSummary:
    """What the incident card shows about its alerts (untrusted text: the card escapes it)."""

    firing: int
    resolved: int
    groups: int
    labels: tuple[tuple[str, str], ...]
    """Up to four labels every firing alert shares (else the first alert's), most telling first."""
    links: tuple[Link, ...]
    """Up to three distinct links back to the source (any scheme: the card keeps http/https)."""
    flapping: bool
    payload_id: int | None
    """The latest webhook that changed an alert (its full body is on record)."""



@dataclass(frozen=True)
class IncidentView:
    """An incident with its role holders: everything a card or a reply renders from."""

    incident: Incident
    roles: dict[str, IncidentRole] = field(default_factory=dict)
    alerts: AlertSummary | None = None
    """For an incident alerts opened: what its card shows about them."""

    @property
    def id(self) -> int:
        assert self.incident.id is not None
        return self.incident.id

    def holder(self, role: Role | str) -> IncidentRole | None:
        return self.roles.get(str(role))
