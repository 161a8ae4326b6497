"""ORM classes over the alert tables (`storage.alert_tables` says what they hold), for the paths
that change alert rows: ingest, silences, `alerts`; and the partial unique index that settles
two webhooks racing to open the same group.

Imported on the first webhook or alert command, never at start-up: the incident view reads the
tables with Core statements (`bot.domain.alert_summary`), so an idle process, or one whose
plan has no integrations, holds no mapper for them. They are plain classes mapped with
SQLAlchemy's imperative mapping rather than SQLModel tables: the tables already exist in Core,
and nothing reads these rows through pydantic.

`uq_alert_group_open` is declared here rather than with its table because its `postgresql_where`
loads SQLAlchemy's PostgreSQL dialect even on SQLite; the database has it either way (migration
0009), and `storage.all_tables` imports this module so that Alembic compares it.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import Index, Table, text
from sqlalchemy.orm import registry

from storage.alert_tables import OPEN, RESOLVED, alert, alert_group, alert_payload, alert_silence

__all__ = ["OPEN", "RESOLVED", "AlertGroup", "AlertRecord", "AlertSilence", "AlertPayload"]

_mapper_registry = registry()

# At most one open group per (integration, group key): the loser of a race to create it fails
# its insert and attaches to the winner's group (`storage.alert_store.create_group`).
Index("uq_alert_group_open", alert_group.c.integration_id, alert_group.c.group_key, unique=True,
      sqlite_where=text("status = 'open'"), postgresql_where=text("status = 'open'"))


class _Row:
    """Built by keyword like the SQLModel tables were: every column starts at its default (None
    if it has none), so a new row carries the same values whether or not it was flushed yet."""

    __table__: ClassVar[Table]

    def __init__(self, **values: Any) -> None:
        unknown = set(values) - set(self.__table__.columns.keys())
        if unknown:
            raise TypeError(f"{type(self).__name__} has no column {', '.join(sorted(unknown))}")
        for column in self.__table__.columns:
            default = column.default.arg if column.default is not None and column.default.is_scalar else None
            setattr(self, column.key, values.get(column.key, default))


class AlertGroup(_Row):
    """A sender's group of alerts, and the incident it opened (if its route opens one)."""

    __table__ = alert_group
    id: int | None
    integration_id: str
    group_key: str
    source_group_key: str
    title: str
    status: str
    route: str
    record_only: bool
    service_id: str | None
    severity: str | None
    incident_id: int | None
    previous_group_id: int | None
    labels_json: str
    truncated: int
    first_seen_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None
    flapping_since: datetime | None


class AlertRecord(_Row):
    """One alert of a group, by its dedup key, as of the latest webhook that carried it."""

    __table__ = alert
    id: int | None
    group_id: int
    dedup_key: str
    status: str
    title: str
    severity: str | None
    labels_json: str
    annotations_json: str
    links_json: str
    starts_at: datetime | None
    ends_at: datetime | None
    first_seen_at: datetime
    last_seen_at: datetime
    changed_at: datetime
    changes_json: str
    silenced_by: int | None
    payload_id: int | None


class AlertSilence(_Row):
    """`silence 2h service=checkout`: matching alerts are recorded but open and page nothing."""

    __table__ = alert_silence
    id: int | None
    matchers_json: str
    incident_id: int | None
    created_by_aad: str
    created_by_name: str
    created_at: datetime
    ends_at: datetime
    ended_at: datetime | None


class AlertPayload(_Row):
    """A webhook body as received (bounded by the request size limit)."""

    __table__ = alert_payload
    id: int | None
    integration_id: str
    received_at: datetime
    body: str


for _cls in (AlertGroup, AlertRecord, AlertSilence, AlertPayload):
    _mapper_registry.map_imperatively(_cls, _cls.__table__)
