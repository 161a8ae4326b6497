"""The incident timeline: an append-only record of everything that happened, and by whom."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.model import Actor, Source
from storage.models import TimelineEvent


class Kind:
    """Timeline event kinds (strings in the database, stable for reports)."""

    DECLARED = "declared"
    STATUS = "status_changed"
    SEVERITY = "severity_changed"
    ROLE = "role_assigned"
    NOTE = "note"
    UPDATE = "status_update"
    COMMAND = "command"
    CARD_ACTION = "card_action"
    REFUSED = "refused"
    HANDOVER = "handover"
    SPACE = "space"
    SPACE_WARNING = "space_warning"
    UPDATE_DUE = "update_due"
    ANNOUNCED = "announced"
    ESCALATION = "escalation"
    PAGE = "page"
    PAGE_DELIVERY = "page_delivery"
    PAGE_ACK = "page_ack"
    ALERT = "alert"
    TRIAGE = "triage"  # an answer or decision in the triage dialog: `text` says which
    # A Teams message put on the record: `text` is what it said, `old_value` who wrote it and
    # `new_value` the link back to it (kept apart so a report can show or link them itself).
    MESSAGE = "message"
    # A message to an audience of the communication plan marked as sent: `new_value` is the
    # audience id, `old_value` the sender's note, `text` "Audience (where): the text sent".
    COMMS_SENT = "comms_sent"


_INSERT = insert(TimelineEvent.__table__)  # built once: this runs on every turn and every page


async def record(
    session: AsyncSession,
    *,
    incident_id: int,
    kind: str,
    source: Source | str,
    actor: Actor,
    now: datetime,
    old: str | None = None,
    new: str | None = None,
    text: str | None = None,
) -> None:
    """Append one event in the caller's transaction (so state and record commit together).

    A plain INSERT rather than the ORM's unit of work: events are never read back in the same
    transaction, and this runs on every turn.
    """
    await session.execute(_INSERT, [
        event(incident_id=incident_id, kind=kind, source=source, actor=actor, now=now, old=old, new=new, text=text)])


def event(*, incident_id: int, kind: str, source: Source | str, actor: Actor, now: datetime, old: str | None = None,
          new: str | None = None, text: str | None = None) -> dict:
    """One timeline row, for `record_all`."""
    return {"incident_id": incident_id, "at": now, "kind": kind, "source": str(source), "actor_aad": actor.aad_id,
            "actor_name": actor.display, "old_value": old, "new_value": new, "text": text}


async def record_all(session: AsyncSession, events: list[dict]) -> None:
    """Append several events (`event(...)` rows) in one statement, in the caller's transaction."""
    if events:
        await session.execute(_INSERT, events)


_PREFIXED = {
    Kind.NOTE: "Note",
    Kind.UPDATE: "Update",
    Kind.COMMAND: "Command",
    Kind.CARD_ACTION: "Card button",
    Kind.REFUSED: "Refused",
    Kind.ANNOUNCED: "Announcement",
    Kind.UPDATE_DUE: "Missed",
    Kind.SPACE: "Space",
    Kind.SPACE_WARNING: "Warning",
    Kind.ESCALATION: "Paging",
    Kind.PAGE: "Page",
    Kind.PAGE_DELIVERY: "Delivery",
    Kind.PAGE_ACK: "Acknowledged",
    Kind.TRIAGE: "Triage",
    # security events and legal duties (bot.domain.breakglass, follow_ups, breach_clock)
    "security.breakglass": "Break-glass",
    "security.breakglass_refused": "Break-glass refused",
    "follow_up.closed": "Follow-up closed",
    "breach.marked": "Possible data breach",
    "breach.decision": "Breach decision",
    "breach.met": "Breach deadline met",
    "breach.reminder": "Breach clock",
}


def describe(event: TimelineEvent) -> str:
    """One line of plain text for an event (the time and actor are rendered beside it)."""
    k = event.kind
    if k in _PREFIXED:
        return f"{_PREFIXED[k]}: {event.text}"
    if k.startswith("runbook."):  # runbook runs (bot.domain.runbooks.Kind): the text says it all
        return f"Runbook: {event.text}"
    if k == Kind.DECLARED:
        return f"Declared: {event.text or ''} ({event.new_value})".strip()
    if k == Kind.STATUS:
        return f"Status {event.old_value} → {event.new_value}" + (f": {event.text}" if event.text else "")
    if k == Kind.SEVERITY:
        return f"Severity {event.old_value} → {event.new_value}"
    if k == Kind.ROLE:
        old = f" (was {event.old_value})" if event.old_value else ""
        return f"{event.text}: {event.new_value}{old}"
    if k == Kind.MESSAGE:
        link = f" ({event.new_value})" if event.new_value else ""
        return f"Message from {event.old_value or 'someone'}: {event.text}{link}"
    if k == Kind.COMMS_SENT:
        return f"Sent to {event.text}" + (f" (note: {event.old_value})" if event.old_value else "")
    if k == Kind.HANDOVER:
        return f"{event.text}: {event.old_value or 'nobody'} → {event.new_value}"
    return f"{k}: {event.text or event.new_value or ''}"
