"""Reads and writes over the alert tables (`storage/alert_tables.py` says what they hold), through
the ORM classes of `storage/alerts.py`; loaded only on the alert paths (webhooks, alert commands)."""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.alerts import OPEN, RESOLVED, AlertGroup, AlertPayload, AlertRecord, AlertSilence

__all__ = ["OPEN", "RESOLVED", "add_payload", "active_silences", "open_group", "create_group", "reopen_group",
           "latest_group", "alerts_of", "new_alert", "change_alert", "refresh_alert", "groups_of_incident",
           "carry_changes", "is_flapping",
           "add_silence"]


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


async def add_payload(session: AsyncSession, *, integration_id: str, body: str, now: datetime) -> int:
    row = AlertPayload(integration_id=integration_id, received_at=now, body=body)
    session.add(row)
    await session.flush()
    return row.id


async def active_silences(session: AsyncSession, *, now: datetime) -> Sequence[AlertSilence]:
    stmt = select(AlertSilence).where(AlertSilence.ends_at > now, AlertSilence.ended_at.is_(None))
    return (await session.execute(stmt.order_by(AlertSilence.id))).scalars().all()


async def _open(session: AsyncSession, integration_id: str, group_key: str) -> AlertGroup | None:
    stmt = select(AlertGroup).where(AlertGroup.integration_id == integration_id, AlertGroup.group_key == group_key,
                                    AlertGroup.status == OPEN).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def open_group(session: AsyncSession, *, integration_id: str, group_key: str) -> AlertGroup | None:
    """The open group of this key, locked for this transaction, if any."""
    return await _open(session, integration_id, group_key)


async def create_group(session: AsyncSession, *, integration_id: str, group_key: str, source_group_key: str,
                       title: str, route: str, record_only: bool, service_id: str | None, severity: str | None,
                       labels: dict[str, str], now: datetime) -> tuple[AlertGroup, bool]:
    """A new open group of this key; (group, True). Two transactions racing to create it both
    try the insert; the partial unique index lets one win, and the other (in a savepoint, so
    its transaction goes on) gets the winner's group and False."""
    group = AlertGroup(integration_id=integration_id, group_key=group_key,
                       source_group_key=source_group_key.replace("\x00", ""), title=title[:300], status=OPEN,
                       route=route[:300], record_only=record_only, service_id=service_id,
                       severity=severity, labels_json=_json(labels), first_seen_at=now, last_seen_at=now)
    return await _insert_or_winner(session, group, integration_id, group_key)


async def reopen_group(session: AsyncSession, group: AlertGroup) -> tuple[AlertGroup, bool]:
    """Open a resolved group again (its alerts fired again while its incident is still open);
    (group, False). Racing with a create, the same rule as `create_group` applies."""
    group.status = OPEN
    group.resolved_at = None
    return await _insert_or_winner(session, group, group.integration_id, group.group_key, created=False)


async def _insert_or_winner(session: AsyncSession, group: AlertGroup, integration_id: str, group_key: str,
                            *, created: bool = True) -> tuple[AlertGroup, bool]:
    try:
        async with session.begin_nested():
            session.add(group)
            await session.flush()
    except IntegrityError:
        found = await _open(session, integration_id, group_key)
        if found is None:
            raise
        return found, False
    return group, created


async def latest_group(session: AsyncSession, *, integration_id: str, group_key: str,
                       lock: bool = False) -> AlertGroup | None:
    """The most recent group of this key, whatever its state; `lock` takes its row lock (on
    PostgreSQL a racer waits here and then sees the state the first one committed)."""
    stmt = (select(AlertGroup).where(AlertGroup.integration_id == integration_id, AlertGroup.group_key == group_key)
            .order_by(AlertGroup.id.desc()).limit(1))
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def alerts_of(session: AsyncSession, group_id: int) -> Sequence[AlertRecord]:
    stmt = select(AlertRecord).where(AlertRecord.group_id == group_id).order_by(AlertRecord.id)
    return (await session.execute(stmt)).scalars().all()


def new_alert(*, group_id: int, alert: Any, now: datetime, payload_id: int, silenced_by: int | None) -> AlertRecord:
    """A row for an alert seen for the first time in its group (`alert`: bot.alerts.model.Alert)."""
    return AlertRecord(group_id=group_id, dedup_key=alert.dedup_key.replace("\x00", ""), status=alert.status,
                       title=alert.title[:300], severity=(alert.severity or None) and alert.severity[:32], labels_json=_json(alert.labels), annotations_json=_json(alert.annotations),
                       links_json=_json([asdict(link) for link in alert.links]), starts_at=alert.starts_at,
                       ends_at=alert.ends_at, first_seen_at=now, last_seen_at=now, changed_at=now,
                       changes_json="[]", silenced_by=silenced_by, payload_id=payload_id)


def refresh_alert(row: AlertRecord, alert: Any, *, now: datetime) -> None:
    """A resend of the same state: only the latest facts and when it was last seen."""
    row.last_seen_at = now
    row.title = alert.title[:300]
    row.labels_json = _json(alert.labels)
    row.annotations_json = _json(alert.annotations)
    row.ends_at = alert.ends_at


def _recent(changes_json: str, now: datetime, window: timedelta) -> list[str]:
    return [c for c in json.loads(changes_json) if datetime.fromisoformat(c) > now - window]


def is_flapping(row: AlertRecord, *, now: datetime, window: timedelta, flapping_at: int) -> bool:
    return len(_recent(row.changes_json, now, window)) >= flapping_at


def carry_changes(row: AlertRecord, previous_json: str, *, now: datetime, window: timedelta, flapping_at: int) -> bool:
    """A new row for an alert that fired again after its group resolved: it keeps the earlier
    changes in the window, and this refire counts as one. True when that makes it flapping."""
    changes = _recent(previous_json, now, window)
    was_flapping = len(changes) >= flapping_at
    changes.append(now.isoformat())
    row.changes_json = _json(changes)
    return not was_flapping and len(changes) >= flapping_at


def change_alert(row: AlertRecord, alert: Any, *, now: datetime, payload_id: int, window: timedelta,
                 flapping_at: int) -> bool:
    """Record a state change; True when it makes the alert flapping (`flapping_at` changes
    within `window`) for the first time in that window."""
    changes = _recent(row.changes_json, now, window)
    was_flapping = len(changes) >= flapping_at
    changes.append(now.isoformat())
    refresh_alert(row, alert, now=now)
    row.status = alert.status
    row.changed_at = now
    row.payload_id = payload_id
    row.changes_json = _json(changes)
    return not was_flapping and len(changes) >= flapping_at


async def groups_of_incident(session: AsyncSession, incident_id: int) -> list[tuple[AlertGroup, list[AlertRecord]]]:
    """The incident's alert groups (oldest first), each with its alerts, in two queries."""
    groups = list((await session.execute(
        select(AlertGroup).where(AlertGroup.incident_id == incident_id).order_by(AlertGroup.id))).scalars())
    if not groups:
        return []
    alerts = (await session.execute(select(AlertRecord).where(AlertRecord.group_id.in_([g.id for g in groups]))
                                    .order_by(AlertRecord.id))).scalars()
    by_group: dict[int, list[AlertRecord]] = {g.id: [] for g in groups}
    for alert in alerts:
        by_group[alert.group_id].append(alert)
    return [(g, by_group[g.id]) for g in groups]


async def add_silence(session: AsyncSession, *, matchers: dict[str, str], incident_id: int | None, by_aad: str,
                      by_name: str, now: datetime, ends_at: datetime) -> AlertSilence:
    row = AlertSilence(matchers_json=_json(matchers), incident_id=incident_id, created_by_aad=by_aad,
                       created_by_name=by_name, created_at=now, ends_at=ends_at)
    session.add(row)
    await session.flush()
    return row
