"""SQLModel tables. Schema changes only through Alembic migrations (storage/migrations)."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import Boolean, Column, Index, Text, UniqueConstraint, false
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


def _utc(**kwargs) -> Field:  # type: ignore[valid-type]
    nullable = kwargs.pop("nullable", False)
    return Field(sa_column=Column(UTCDateTime(), nullable=nullable, **kwargs))


class Incident(SQLModel, table=True):
    """One incident; its id is the number users see as INC-<id>."""

    __tablename__ = "incident"

    id: Optional[int] = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    severity: str = Field(max_length=32)
    status: str = Field(max_length=32, index=True)
    service_id: Optional[str] = Field(default=None, max_length=100)
    tenant_id: Optional[str] = Field(default=None, max_length=100)
    home_conversation_id: Optional[str] = Field(default=None, max_length=400, index=True)
    space_kind: str = Field(default="chat", max_length=20)
    space_url: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    declared_by_aad: str = Field(default="", max_length=100)
    declared_by_name: str = Field(default="", max_length=200)
    declared_at: datetime = _utc()
    acknowledged_at: Optional[datetime] = _utc(nullable=True)
    mitigated_at: Optional[datetime] = _utc(nullable=True)
    resolved_at: Optional[datetime] = _utc(nullable=True)
    updated_at: datetime = _utc()
    last_update_text: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    last_update_at: Optional[datetime] = _utc(nullable=True)
    resolution_summary: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    need_to_know: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, default=False,
                                                                server_default=false()))
    """Never announced (a security event opened it: only the groups its route names are told)."""


class IncidentRole(SQLModel, table=True):
    """Who holds a role in an incident; one holder per role."""

    __tablename__ = "incident_role"
    __table_args__ = (UniqueConstraint("incident_id", "role", name="uq_incident_role"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    role: str = Field(max_length=40)
    aad_object_id: str = Field(default="", max_length=100)
    display_name: str = Field(default="", max_length=200)
    email: Optional[str] = Field(default=None, max_length=320)
    assigned_at: datetime = _utc()


class TimelineEvent(SQLModel, table=True):
    """An append-only record of one thing that happened to an incident."""

    __tablename__ = "timeline_event"
    __table_args__ = (Index("ix_timeline_incident_at", "incident_id", "id"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id")
    at: datetime = _utc()
    kind: str = Field(max_length=40)
    source: str = Field(max_length=20)
    actor_aad: str = Field(default="", max_length=100)
    actor_name: str = Field(default="", max_length=200)
    old_value: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    new_value: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    text: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))


class ConversationRef(SQLModel, table=True):
    """A stored Bot Framework ConversationReference, so the bot can post into it later."""

    __tablename__ = "conversation_ref"

    conversation_id: str = Field(primary_key=True, max_length=400)
    tenant_id: Optional[str] = Field(default=None, max_length=100)
    service_url: str = Field(max_length=400)
    conversation_type: Optional[str] = Field(default=None, max_length=40)
    reference_json: str = Field(sa_column=Column(Text, nullable=False))
    updated_at: datetime = _utc()


class PostedCard(SQLModel, table=True):
    """A card the bot posted about an incident, so it can be updated in place."""

    __tablename__ = "posted_card"
    __table_args__ = (
        UniqueConstraint("incident_id", "conversation_id", "purpose", name="uq_posted_card"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id", index=True)
    conversation_id: str = Field(max_length=400)
    activity_id: str = Field(max_length=200)
    purpose: str = Field(default="living", max_length=40)
    posted_at: datetime = _utc()


class ProcessedKey(SQLModel, table=True):
    """Idempotency ledger: an activity or card action already applied (settled by the PK)."""

    __tablename__ = "processed_key"

    key: str = Field(primary_key=True, max_length=500)
    seen_at: datetime = _utc()


class BotState(SQLModel, table=True):
    """Bot and dialog state (botbuilder `Storage` items), with an etag for optimistic writes."""

    __tablename__ = "bot_state"

    key: str = Field(primary_key=True, max_length=500)
    data_json: str = Field(sa_column=Column(Text, nullable=False))
    etag: str = Field(max_length=64)
    updated_at: datetime = _utc()


class Person(SQLModel, table=True):
    """A Teams user seen by the bot: AAD object id to name and UPN/e-mail (for plan lookups)."""

    __tablename__ = "person"

    aad_object_id: str = Field(primary_key=True, max_length=100)
    display_name: str = Field(default="", max_length=200)
    email: Optional[str] = Field(default=None, max_length=320, index=True)
    updated_at: datetime = _utc()


class ChannelBinding(SQLModel, table=True):
    """A Teams channel given a job by `setup`: the incidents channel or the announcements channel."""

    __tablename__ = "channel_binding"

    purpose: str = Field(primary_key=True, max_length=40)
    team_id: str = Field(max_length=200)
    team_name: str = Field(default="", max_length=200)
    team_aad_group_id: Optional[str] = Field(default=None, max_length=100)
    channel_id: str = Field(max_length=200)
    channel_name: str = Field(default="", max_length=200)
    reference_json: str = Field(sa_column=Column(Text, nullable=False))
    set_by_aad: str = Field(default="", max_length=100)
    set_by_name: str = Field(default="", max_length=200)
    set_at: datetime = _utc()


class AuditEvent(SQLModel, table=True):
    """Append-only record of configuration changes made from Teams (who, what, before, after)."""

    __tablename__ = "audit_event"

    id: Optional[int] = Field(default=None, primary_key=True)
    at: datetime = _utc()
    action: str = Field(max_length=60)
    actor_aad: str = Field(default="", max_length=100)
    actor_name: str = Field(default="", max_length=200)
    old_value: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    new_value: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))


class Announcement(SQLModel, table=True):
    """The one announcement message of an incident, refreshed in place as the incident changes."""

    __tablename__ = "announcement"

    incident_id: int = Field(primary_key=True)
    conversation_id: str = Field(max_length=400)
    activity_id: str = Field(max_length=200)
    posted_at: datetime = _utc()


# Tables defined in their own modules, imported so every table is on SQLModel.metadata.
import storage.outbox  # noqa: E402,F401
import storage.paging  # noqa: E402,F401
import storage.alert_tables  # noqa: E402,F401  (Core; the ORM classes in storage.alerts load on first use)
