"""Monitoring alerts: groups, the alerts in them, silences, and the payloads as received.

An alert group is what a sender groups together (Alertmanager's `groupKey`; an Azure alert
or a PagerDuty dedup key on its own). At most one group per (integration, group key) is open
at a time: a partial unique index says so, so two webhooks racing for the same group settle in
the database, not by luck (the loser's insert fails and it attaches to the winner's group).
An open group maps to at most one incident. A resolved group stays as history; a new firing of
the same key opens a new group, and so a new incident linked to the old one.

Each alert is kept once per group by its dedup key, with its latest state and a count of
state changes (flapping). Every webhook's body is kept as received (`alert_payload`), so the
full payload is one link away from the timeline whatever a card had room for.

Plain SQLAlchemy, portable across SQLite and PostgreSQL.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from sqlalchemy import Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime

OPEN = "open"
RESOLVED = "resolved"


def _utc(nullable: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable))


class AlertGroup(SQLModel, table=True):
    """A sender's group of alerts, and the incident it opened (if its route opens one)."""

    __tablename__ = "alert_group"
    __table_args__ = (
        Index("uq_alert_group_open", "integration_id", "group_key", unique=True,
              sqlite_where=text("status = 'open'"), postgresql_where=text("status = 'open'")),
        Index("ix_alert_group_incident", "incident_id"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    integration_id: str = Field(max_length=100)
    group_key: str = Field(max_length=128)
    """sha256 of the source's group identity (its groupKey can be long)."""
    source_group_key: str = Field(sa_column=Column(Text, nullable=False))
    """The sender's own group key, for people and `alerts`."""
    title: str = Field(max_length=300)
    status: str = Field(default=OPEN, max_length=16)
    route: str = Field(default="", max_length=300)
    record_only: bool = Field(default=False)
    service_id: Optional[str] = Field(default=None, max_length=100)
    severity: Optional[str] = Field(default=None, max_length=32)
    incident_id: Optional[int] = Field(default=None)
    previous_group_id: Optional[int] = Field(default=None)
    """The resolved group of the same key this one follows (its incident is linked)."""
    labels_json: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    """The group's labels (Alertmanager groupLabels, else the first alert's labels)."""
    truncated: int = Field(default=0)
    first_seen_at: datetime = _utc()
    last_seen_at: datetime = _utc()
    resolved_at: Optional[datetime] = _utc(nullable=True)
    flapping_since: Optional[datetime] = _utc(nullable=True)


class AlertRecord(SQLModel, table=True):
    """One alert of a group, by its dedup key, as of the latest webhook that carried it."""

    __tablename__ = "alert"
    __table_args__ = (UniqueConstraint("group_id", "dedup_key", name="uq_alert_group_dedup"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="alert_group.id", index=True)
    dedup_key: str = Field(max_length=1024)
    """Up to 1,024 characters (the parsers hash longer keys)."""
    status: str = Field(max_length=16)
    title: str = Field(max_length=300)
    severity: Optional[str] = Field(default=None, max_length=32)
    labels_json: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    annotations_json: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    links_json: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    starts_at: Optional[datetime] = _utc(nullable=True)
    ends_at: Optional[datetime] = _utc(nullable=True)
    first_seen_at: datetime = _utc()
    last_seen_at: datetime = _utc()
    changed_at: datetime = _utc()
    changes_json: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    """Times of its recent state changes (within the flapping window), oldest first."""
    silenced_by: Optional[int] = Field(default=None)
    payload_id: Optional[int] = Field(default=None)
    """The webhook that last changed it (`alert_payload`)."""


class AlertSilence(SQLModel, table=True):
    """`silence 2h service=checkout`: matching alerts are recorded but open and page nothing."""

    __tablename__ = "alert_silence"

    id: Optional[int] = Field(default=None, primary_key=True)
    matchers_json: str = Field(sa_column=Column(Text, nullable=False))
    """Label -> exact value; empty matches every alert of `incident_id`'s groups."""
    incident_id: Optional[int] = Field(default=None, index=True)
    created_by_aad: str = Field(default="", max_length=100)
    created_by_name: str = Field(default="", max_length=200)
    created_at: datetime = _utc()
    ends_at: datetime = _utc()
    ended_at: Optional[datetime] = _utc(nullable=True)
    """Lifted early by someone (`unsilence`), else None."""


class AlertPayload(SQLModel, table=True):
    """A webhook body as received (bounded by the request size limit)."""

    __tablename__ = "alert_payload"

    id: Optional[int] = Field(default=None, primary_key=True)
    integration_id: str = Field(max_length=100, index=True)
    received_at: datetime = _utc()
    body: str = Field(sa_column=Column(Text, nullable=False))
