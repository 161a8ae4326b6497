"""Helpers for `tests/test_escalation_durability.py`: a Firebreak process that can be SIGKILLed and
restarted (with the moments it was up), and plain reads of its SQLite file.

Every time here is `time.time()` (wall clock, seconds), the clock the app stamps its rows with,
so database times, connector arrival times and process lifetimes compare directly.
"""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Life:
    """One run of the app process: spawned, answering /healthz, and killed (None while up)."""

    spawned: float
    ready: float | None = None
    ended: float | None = None
    killed: bool = False


@dataclass
class AppProcess:
    """`python app.py --dev --port N`, started and killed on demand, its lives recorded."""

    port: int
    env: dict[str, str]
    log: Path
    lives: list[Life] = field(default_factory=list)
    proc: subprocess.Popen | None = None

    def spawn(self, timeout: float = 60.0) -> Life:
        """Start the app and wait until /healthz answers (the tick starts just before that)."""
        life = Life(spawned=time.time())
        out = open(self.log, "a")
        out.write(f"\n===== spawn at {life.spawned:.3f}\n")
        out.flush()
        self.proc = subprocess.Popen([sys.executable, "app.py", "--dev", "--port", str(self.port)], cwd=ROOT,
                                     env={**os.environ, **self.env}, stdout=out, stderr=subprocess.STDOUT)
        out.close()
        self.lives.append(life)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the app exited with {self.proc.returncode}; see {self.log}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1) as resp:
                    if resp.status == 200:
                        life.ready = time.time()
                        return life
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"the app did not answer /healthz within {timeout} s; see {self.log}")

    def kill(self) -> float:
        """SIGKILL: no cleanup, no graceful shutdown; returns the moment it was sent."""
        assert self.proc is not None
        at = time.time()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.lives[-1].ended, self.lives[-1].killed = at, True
        self.proc = None
        return at

    def stop(self) -> None:
        """SIGTERM and wait (the graceful way), or SIGKILL after 15 s."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.lives[-1].ended = time.time()
        self.proc = None

    def life_at(self, moment: float) -> Life | None:
        """The run that was up (spawned, not yet ended) at `moment`."""
        for life in self.lives:
            if life.spawned <= moment and (life.ended is None or moment <= life.ended):
                return life
        return None


def ts(value: str | None) -> float | None:
    """A UTC time as SQLite holds it (`2026-11-29 10:50:11.123456`) -> epoch seconds."""
    if value is None:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=timezone.utc).timestamp()


def rows(db: Path, sql: str, *args) -> list[sqlite3.Row]:
    """Read-only query of the app's SQLite file (WAL: safe while the app writes)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def read_events(log: Path) -> list[dict]:
    """The recording connector's events from its --log file."""
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
