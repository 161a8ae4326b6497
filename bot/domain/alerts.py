"""An incident's alerts as responders see them (the card, `alerts`), and silences (`silence`).

A silence mutes alerts for a while: matching alerts are still recorded, but open no incident
and page nobody until it ends. `silence 2h service=checkout` matches by labels, across
integrations; `silence 2h` alone mutes the alerts of this incident's groups. Each silence is
on the incident's timeline, shown by `alerts`, and ends by itself.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.alerts.model import FIRING
from bot.domain import authz
from bot.domain.incidents import load_view
from bot.domain.formatting import format_time, incident_ref
from bot.domain.model import Actor, Source
from bot.domain.timeline import Kind, record
from bot.durations import format_duration
from bot.errors import ValidationFailed
from bot.plan import Plan
from storage import alert_store as store
from storage.alerts import AlertPayload
from storage.models import TimelineEvent

MAX_SILENCE = timedelta(days=7)


@dataclass(frozen=True)
class AlertLine:
    status: str
    title: str
    labels: dict[str, str]
    silenced: bool
    since: datetime


async def listing(session: AsyncSession, incident_id: int, *, now: datetime) -> tuple[list[AlertLine], list[str]]:
    """(the incident's alerts, firing first, then the newest; descriptions of the active silences)."""
    lines = [AlertLine(status=a.status, title=a.title, labels=json.loads(a.labels_json), silenced=a.silenced_by is not None,
                       since=a.changed_at)
             for _group, alerts in await store.groups_of_incident(session, incident_id) for a in alerts]
    lines.sort(key=lambda line: (line.status != FIRING, -line.since.timestamp()))
    silences = []
    for silence in await store.active_silences(session, now=now):
        matchers = json.loads(silence.matchers_json)
        if not matchers and silence.incident_id != incident_id:
            continue
        what = " ".join(f"{k}={v}" for k, v in sorted(matchers.items())) or f"the alerts of {incident_ref(incident_id)}"
        silences.append(f"{what} until {format_time(silence.ends_at)} (by {silence.created_by_name or 'someone'})")
    return lines, silences


def parse_matchers(words: list[str]) -> dict[str, str]:
    """`service=checkout instance=web-1` -> labels; anything else is explained."""
    matchers: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key or not value:
            raise ValidationFailed(f"`{word}` is not a label matcher. Say `silence 2h service=checkout` (label=value, "
                                   "as many as you like), or `silence 2h` for this incident's alerts.")
        matchers[key] = value
    return matchers


async def silence(session: AsyncSession, *, plan: Plan, incident_id: int, duration: timedelta,
                  matchers: dict[str, str], actor: Actor, source: Source, now: datetime) -> datetime:
    """Mute matching alerts (or, with no matchers, this incident's) until now + duration; the end.
    Only the incident manager (or the plan's acting groups) may: a silence can keep a real
    outage from paging anyone."""
    authz.require_manager(await load_view(session, incident_id), plan, actor, action="silence")
    if duration <= timedelta(0) or duration > MAX_SILENCE:
        raise ValidationFailed(f"A silence lasts between 1 minute and {format_duration(MAX_SILENCE)}; "
                               f"say e.g. `silence 2h service=checkout`.")
    ends = now + duration
    await store.add_silence(session, matchers=matchers, incident_id=incident_id, by_aad=actor.aad_id,
                            by_name=actor.display, now=now, ends_at=ends)
    what = " ".join(f"{k}={v}" for k, v in sorted(matchers.items())) or f"the alerts of {incident_ref(incident_id)}"
    await record(session, incident_id=incident_id, kind=Kind.ALERT, source=source, actor=actor, now=now,
                 new="silenced", text=f"silenced {what} for {format_duration(duration)} (until {format_time(ends)})")
    return ends


async def payload_for(session: AsyncSession, *, incident_id: int, payload_id: int) -> str | None:
    """The body of a webhook this incident's timeline names, as received (pretty-printed when it
    is JSON), else None: a payload is shown only where it is on record, never another
    incident's. The caller shows it a page at a time."""
    named = await session.execute(select(TimelineEvent.id).where(  # named by Firebreak itself, not in a note
        TimelineEvent.incident_id == incident_id, TimelineEvent.kind == Kind.ALERT,
        TimelineEvent.source == Source.ALERT.value,
        TimelineEvent.text.like(f"%`alerts payload {payload_id}`%")).limit(1))
    if named.first() is None:
        return None
    row = await session.get(AlertPayload, payload_id)
    if row is None:
        return None
    try:
        return json.dumps(json.loads(row.body), indent=2, ensure_ascii=False)
    except ValueError:
        return row.body
