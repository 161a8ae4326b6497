"""Shared test helpers: paths to shared fixtures and schemas, a fake clock, card validation and
card walking, and a SQLite database with the schema made from the models."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

import jsonschema

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
FIXTURES = SHARED / "fixtures"
SCHEMAS = SHARED / "schemas"
EXAMPLE_PLAN = ROOT / "plans" / "example.yaml"


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 29, 14, 5, tzinfo=timezone.utc)

    def now(self) -> datetime:
        return self._now

    def advance(self, **kwargs: float) -> datetime:
        self._now += timedelta(**kwargs)
        return self._now


@lru_cache(maxsize=1)
def _card_validator() -> jsonschema.Draft6Validator:
    schema = json.loads((SCHEMAS / "adaptive-card" / "1.5.0" / "adaptive-card.json").read_text())
    return jsonschema.Draft6Validator(schema)


def assert_valid_card(card: dict) -> None:
    """Validate an Adaptive Card against the 1.5 schema (Teams renders up to 1.5)."""
    assert card.get("version") == "1.5"
    stripped = {k: v for k, v in card.items() if k != "msteams"}
    errors = sorted(_card_validator().iter_errors(stripped), key=lambda e: list(e.path))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        raise AssertionError(f"invalid card at /{'/'.join(map(str, best.path))}: {best.message}")


def load_fixture(relative: str) -> dict:
    return json.loads((FIXTURES / relative).read_text())


def card_nodes(node):
    """Every dict in a card (elements, actions, ShowCard cards, ...), depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from card_nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from card_nodes(value)


async def sqlite_with_schema(path):
    """A SQLite database at `path` with every table made from the models: quicker than the
    migrations, for tests below the app (the migrations themselves are tested apart)."""
    import storage.all_tables  # noqa: F401 - every table, those kept out of storage.models too
    from sqlmodel import SQLModel

    from storage.db import Database

    database = Database.from_url(f"sqlite:///{path}")
    async with database.engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.create_all)
    return database
