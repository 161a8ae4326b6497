"""What the e-mail and webhook senders share: the last check before a page goes out, the facts
a page states, and its signed acknowledge link."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from bot import ack_links
from bot.domain import paging
from bot.domain.formatting import incident_ref
from bot.domain.model import IncidentView, Role
from bot.domain.outbox import DeliveryOutcome
from bot.domain.service import IncidentService
from bot.errors import NotFound
from bot.plan import Plan
from storage.paging import Escalation, PageRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PageFacts:
    """Everything a page message says, read from the current state when it is delivered."""

    page: PageRecord
    escalation: Escalation
    view: IncidentView
    person_name: str
    severity_name: str
    service_name: str | None
    ack_url: str | None
    ack_expires: datetime | None

    @property
    def ref(self) -> str:
        return incident_ref(self.view.id)

    @property
    def severity_label(self) -> str:
        """`SEV1`, as in the subject line."""
        return self.view.incident.severity.upper()

    @property
    def manager(self) -> str | None:
        holder = self.view.holder(Role.INCIDENT_MANAGER)
        return holder.display_name if holder is not None else None


async def page_facts(service: IncidentService, payload: dict, *, public_url: str, ack_secret: str,
                     now: datetime) -> PageFacts | DeliveryOutcome:
    """The page to send, or the outcome when it must not go: a page acknowledged (or an
    escalation stopped) since it was queued is cancelled, exactly as in the Teams sender."""
    page_id = int(payload["page_id"])
    found = await service.read(lambda s: paging.page_and_escalation(s, page_id))
    if found is None:
        return DeliveryOutcome.cancelled("the page no longer exists")
    page, escalation = found
    if page.status == "acknowledged" or escalation.status in ("acknowledged", "stopped"):
        return DeliveryOutcome.cancelled(f"not needed: the escalation is {escalation.status}")
    view = await service.view(page.incident_id)
    plan = service.plan
    url, expires = ack_link(plan, page_id=page.id, public_url=public_url, secret=ack_secret, now=now)
    return PageFacts(page=page, escalation=escalation, view=view, person_name=person_name(plan, page.email),
                     severity_name=_severity_name(plan, view.incident.severity),
                     service_name=_service_name(plan, view.incident.service_id), ack_url=url, ack_expires=expires)


def ack_link(plan: Plan, *, page_id: int, public_url: str, secret: str,
             now: datetime) -> tuple[str | None, datetime | None]:
    """`{public_url}/ack/{token}` valid for `paging.ack_link_valid` from now, or (None, None)
    when links are off (no FIREBREAK_ACK_SECRET or no FIREBREAK_PUBLIC_URL)."""
    if not (public_url and secret):
        return None, None
    expires = now + plan.paging.ack_link_valid
    return f"{public_url.rstrip('/')}/ack/{ack_links.sign(secret, page_id, expires)}", expires


def person_name(plan: Plan, email: str) -> str:
    """The name the plan gives someone, else their e-mail."""
    person = plan.person(email)
    return person.name if person is not None else email


def _severity_name(plan: Plan, severity: str) -> str:
    try:
        return plan.severity(severity).name
    except NotFound:  # the plan was edited since the incident was declared
        return severity.upper()


def _service_name(plan: Plan, service_id: str | None) -> str | None:
    if not service_id:
        return None
    try:
        return plan.service(service_id).name
    except NotFound:
        return service_id
