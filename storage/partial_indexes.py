"""Partial unique indexes, declared apart from their tables.

A `postgresql_where` makes SQLAlchemy import its whole PostgreSQL dialect (about 2 MiB) as soon
as the table is defined, which a SQLite process never needs. The databases get these indexes
from the migrations; the running code only relies on the database refusing a duplicate. This
module gives them to the metadata for Alembic's autogenerate and the schema test (it is loaded
by `storage.all_tables`, never by the app).
"""
from __future__ import annotations

from sqlalchemy import Index, text

from storage.runbook_runs import runbook_run

Index("uq_runbook_run_unfinished", runbook_run.c.incident_id, runbook_run.c.runbook_id, unique=True,
      sqlite_where=text("status = 'running'"), postgresql_where=text("status = 'running'"))
