"""The migrations create exactly the schema the models describe (no table or column forgotten)."""
import asyncio

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

import storage.all_tables  # noqa: F401  (registers every table, those kept out of storage.models too)
from storage.db import create_engine
from storage.migrate import head_revision, upgrade_to_head


def test_migrations_match_the_models(tmp_path):
    url = f"sqlite:///{tmp_path}/m.db"
    assert upgrade_to_head(url) == head_revision()

    async def diff():
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda c: compare_metadata(MigrationContext.configure(c), SQLModel.metadata)
                )
        finally:
            await engine.dispose()

    assert asyncio.run(diff()) == [], "a model change has no migration: generate one with Alembic"
