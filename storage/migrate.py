"""Schema migrations through Alembic: `python app.py db upgrade`, and the start-up upgrade.

The server runs this module in a child process (`storage.schema.upgrade_in_child`), so the
long-running process never imports Alembic (about 7 MiB of resident memory it would keep
for nothing). Tests and `db upgrade` call `upgrade_to_head` directly.
"""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError

from storage.db import create_engine

from storage.schema import MigrationFailed

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> Config:
    """An Alembic config pointing at our migrations, without an alembic.ini file."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["database_url"] = database_url
    return cfg


def head_revision() -> str:
    """The newest migration this code knows."""
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None, "no migrations found"
    return head


async def current_revision(database_url: str) -> str | None:
    """The revision the database is at, or None for an empty database."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
    finally:
        await engine.dispose()


def upgrade_to_head(database_url: str) -> str:
    """Apply every pending migration and verify the result (sync: not inside an event loop)."""
    known = {s.revision for s in ScriptDirectory.from_config(alembic_config(database_url)).walk_revisions()}
    before = asyncio.run(current_revision(database_url))
    if before is not None and before not in known:
        raise MigrationFailed(
            f"The database is at schema revision {before}, which this version of Firebreak does not know: "
            "it was migrated by a newer version. Run that version, or restore a backup taken before the upgrade."
        )
    try:
        command.upgrade(alembic_config(database_url), "head")
    except CommandError as exc:
        raise MigrationFailed(f"Migration failed: {exc}. The database was left as it was.") from exc
    after = asyncio.run(current_revision(database_url))
    head = head_revision()
    if after != head:
        raise MigrationFailed(f"After migrating, the database is at {after} instead of {head}.")
    return head


def _main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m storage.migrate DATABASE_URL", file=sys.stderr)
        return 2
    try:
        upgrade_to_head(argv[0])
    except MigrationFailed as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
