"""Every table, registered on `SQLModel.metadata`: for migrations and the schema test.

Tables used off the hot path live in their own modules, imported only where needed, so the
running app does not pay for them at idle. Alembic's autogenerate and the test that the
migrations match the models need all of them: this imports every storage module.
"""
from __future__ import annotations

import importlib
import pkgutil

import storage


def register_all() -> None:
    """Import every module of the `storage` package (migrations excepted)."""
    for module in pkgutil.iter_modules(storage.__path__):
        if module.name not in ("migrations", "all_tables"):
            importlib.import_module(f"storage.{module.name}")


register_all()
