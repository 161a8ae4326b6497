"""Bring the database schema up to date from a child process (see `storage.migrate`)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class MigrationFailed(RuntimeError):
    """The database could not be brought to this version's schema; the message says why."""


def upgrade_in_child(database_url: str, *, timeout_s: float = 300) -> None:
    """Run `upgrade_to_head` in a child process; MigrationFailed with its message on failure."""
    done = subprocess.run(
        [sys.executable, "-m", "storage.migrate", database_url],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout_s,
    )
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise MigrationFailed(lines[-1] if lines else f"migration process exited with {done.returncode}")
