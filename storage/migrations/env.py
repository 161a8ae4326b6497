"""Alembic environment: runs migrations over the async engine Firebreak itself uses."""
from __future__ import annotations

import asyncio

from alembic import context
from sqlmodel import SQLModel

import storage.all_tables  # noqa: F401  (registers every table on SQLModel.metadata)
from storage.db import create_engine

target_metadata = SQLModel.metadata


def _run(sync_conn) -> None:
    context.configure(
        connection=sync_conn,
        target_metadata=target_metadata,
        render_as_batch=sync_conn.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_run)
            await conn.commit()
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    url = context.config.attributes.get("database_url") or context.config.get_main_option(
        "sqlalchemy.url"
    )
    asyncio.run(_run_async(url))


if context.is_offline_mode():
    raise SystemExit("Offline (SQL script) migrations are not supported; run `python app.py db upgrade`.")
run_migrations_online()
