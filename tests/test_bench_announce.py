"""Smoke test for bench/announce.py, so the script cannot rot: a small storm, every incident announced."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_small_storm_is_declared_and_every_incident_announced():
    run = subprocess.run(
        [sys.executable, "bench/announce.py", "--incidents", "20", "--seconds", "2", "--drain-timeout", "30"],
        cwd=ROOT, capture_output=True, text=True, timeout=150, check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    [line] = [line for line in run.stdout.splitlines() if line.startswith("SUMMARY ")]
    summary = json.loads(line.removeprefix("SUMMARY "))
    assert summary["declared"] == 20 and summary["failed"] == 0
    assert summary["incidents"] == 20 and summary["announced"] == 20
    assert summary["posts"] >= 1 and summary["card_p99_ms"] > 0
