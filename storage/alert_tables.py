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

Plain SQLAlchemy Core tables on the shared metadata, portable across SQLite and PostgreSQL.
They are Core, not SQLModel classes, because every incident view reads them (the card's alert
section, `bot.domain.alert_summary`) while only the alert paths change them: a SQLModel table
costs the idle process a pydantic model and an ORM mapper each. The ORM classes the alert paths
use are mapped onto these tables in `storage.alerts`, which loads with the first webhook or
alert command.

The partial unique index on open groups (`uq_alert_group_open`) is declared in `storage.alerts`
too, beside the writes it settles: its `postgresql_where` makes SQLAlchemy import its whole
PostgreSQL dialect (about 2 MiB) to check the argument, which a process on SQLite that only
shows incidents never needs. The database has it from migration 0009; Alembic sees it because
`storage.all_tables` imports every module, and so must anything that calls `create_all`.
"""
from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint
from sqlmodel import SQLModel

from storage.types import UTCDateTime

OPEN = "open"
RESOLVED = "resolved"

alert_group = Table(
    "alert_group", SQLModel.metadata,
    Column("id", Integer, primary_key=True),
    Column("integration_id", String(100), nullable=False),
    Column("group_key", String(128), nullable=False),  # sha256 of the source's group identity (it can be long)
    Column("source_group_key", Text, nullable=False),  # the sender's own group key, for people and `alerts`
    Column("title", String(300), nullable=False),
    Column("status", String(16), nullable=False, default=OPEN),
    Column("route", String(300), nullable=False, default=""),
    Column("record_only", Boolean, nullable=False, default=False),
    Column("service_id", String(100), nullable=True),
    Column("severity", String(32), nullable=True),
    Column("incident_id", Integer, nullable=True),  # the incident it opened, if its route opens one
    Column("previous_group_id", Integer, nullable=True),  # the resolved group of the same key it follows
    Column("labels_json", Text, nullable=False, default="{}"),  # groupLabels, else the first alert's labels
    Column("truncated", Integer, nullable=False, default=0),
    Column("first_seen_at", UTCDateTime(), nullable=False),
    Column("last_seen_at", UTCDateTime(), nullable=False),
    Column("resolved_at", UTCDateTime(), nullable=True),
    Column("flapping_since", UTCDateTime(), nullable=True),
    Index("ix_alert_group_incident", "incident_id"),
)

alert = Table(
    "alert", SQLModel.metadata,
    Column("id", Integer, primary_key=True),
    Column("group_id", Integer, ForeignKey("alert_group.id"), nullable=False, index=True),
    Column("dedup_key", String(1024), nullable=False),  # up to 1,024 characters (the parsers hash longer keys)
    Column("status", String(16), nullable=False),
    Column("title", String(300), nullable=False),
    Column("severity", String(32), nullable=True),
    Column("labels_json", Text, nullable=False, default="{}"),
    Column("annotations_json", Text, nullable=False, default="{}"),
    Column("links_json", Text, nullable=False, default="[]"),
    Column("starts_at", UTCDateTime(), nullable=True),
    Column("ends_at", UTCDateTime(), nullable=True),
    Column("first_seen_at", UTCDateTime(), nullable=False),
    Column("last_seen_at", UTCDateTime(), nullable=False),
    Column("changed_at", UTCDateTime(), nullable=False),
    # times of its recent state changes (within the flapping window), oldest first
    Column("changes_json", Text, nullable=False, default="[]"),
    Column("silenced_by", Integer, nullable=True),
    Column("payload_id", Integer, nullable=True),  # the webhook that last changed it (`alert_payload`)
    UniqueConstraint("group_id", "dedup_key", name="uq_alert_group_dedup"),
)

alert_silence = Table(
    "alert_silence", SQLModel.metadata,
    Column("id", Integer, primary_key=True),
    # label -> exact value; empty matches every alert of `incident_id`'s groups
    Column("matchers_json", Text, nullable=False),
    Column("incident_id", Integer, nullable=True, index=True),
    Column("created_by_aad", String(100), nullable=False, default=""),
    Column("created_by_name", String(200), nullable=False, default=""),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("ends_at", UTCDateTime(), nullable=False),
    Column("ended_at", UTCDateTime(), nullable=True),  # lifted early by someone (`unsilence`), else None
)

alert_payload = Table(
    "alert_payload", SQLModel.metadata,
    Column("id", Integer, primary_key=True),
    Column("integration_id", String(100), nullable=False, index=True),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("body", Text, nullable=False),  # bounded by the request size limit
)
