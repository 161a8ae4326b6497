"""Channel bindings made by `setup`, and the configuration audit trail."""
from __future__ import annotations

from datetime import datetime
from typing import Sequence

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditEvent, ChannelBinding


async def get_binding(session: AsyncSession, purpose: str) -> ChannelBinding | None:
    return await session.get(ChannelBinding, purpose)


async def all_bindings(session: AsyncSession) -> Sequence[ChannelBinding]:
    return (await session.execute(select(ChannelBinding).order_by(ChannelBinding.purpose))).scalars().all()


async def put_binding(session: AsyncSession, binding: ChannelBinding) -> ChannelBinding | None:
    """Store `binding`, replacing the one for the same purpose; returns the replaced one's copy."""
    existing = await session.get(ChannelBinding, binding.purpose)
    previous = ChannelBinding.model_validate(existing.model_dump()) if existing else None
    if existing is None:
        session.add(binding)
    else:
        for field, value in binding.model_dump().items():
            setattr(existing, field, value)
    return previous


async def record_audit(
    session: AsyncSession, *, at: datetime, action: str, actor_aad: str, actor_name: str,
    old_value: str | None, new_value: str | None,
) -> None:
    await session.execute(insert(AuditEvent.__table__).values(
        at=at, action=action, actor_aad=actor_aad, actor_name=actor_name, old_value=old_value, new_value=new_value,
    ))


async def audit_events(session: AsyncSession, *, limit: int = 50) -> Sequence[AuditEvent]:
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    return (await session.execute(stmt)).scalars().all()
