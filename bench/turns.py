"""Turn throughput: Firebreak's `note` turn against botbuilder's stock echo bot, in one run.

Starts three processes on 127.0.0.1: a fake Bot Connector, the stock echo bot (CloudAdapter,
no patches) and Firebreak in dev mode with a fresh SQLite file. Drives turns at concurrency
1, 8 and 64 and prints turns/s, p50/p99 latency, failures, and Firebreak's ratio to the echo
bot. Then checks one timeline row per `note` turn and Firebreak's idle RSS.

Targets: ratio at c=8 >= 1.5, zero failed turns, rows == turns, idle RSS < 110 MiB.
Run: `make bench` or `.venv/bin/python bench/turns.py [--turns N]`.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT.parent / "shared" / "fixtures" / "teams" / "playground-captured" / "playground-message-personal.json"
CONCURRENCY = (1, 8, 64)
ROUNDS = 3


def _median_round(results: list[dict]) -> dict:
    """Per-metric medians over rounds."""
    return {key: statistics.median(r[key] for r in results) for key in results[0]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], env: dict | None = None, log: Path | None = None) -> subprocess.Popen:
    out = open(log, "w") if log else subprocess.DEVNULL
    return subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT)


async def wait_healthy(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"port {port} did not become healthy")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Driver:
    """Posts message activities and measures each turn end to end."""

    def __init__(self, port: int, connector_url: str, conversation: str) -> None:
        self.url = f"http://127.0.0.1:{port}/api/messages"
        self.template = json.loads(FIXTURE.read_text())
        self.template["serviceUrl"] = connector_url
        self.template["conversation"]["id"] = conversation

    def activity(self, text: str) -> dict:
        body = dict(self.template)
        body["id"] = uuid.uuid4().hex
        body["text"] = text
        return body

    async def run(self, http: aiohttp.ClientSession, *, turns: int, concurrency: int, text: str, pid: int) -> dict:
        latencies: list[float] = []
        failures = 0
        queue = iter(range(turns))

        async def worker() -> None:
            nonlocal failures
            for i in queue:
                started = time.perf_counter()
                try:
                    async with http.post(self.url, json=self.activity(f"{text} {i}")) as resp:
                        await resp.read()
                        ok = resp.status in (200, 201)
                except aiohttp.ClientError:
                    ok = False
                latencies.append(time.perf_counter() - started)
                failures += 0 if ok else 1

        began, cpu_before = time.perf_counter(), cpu_seconds(pid)
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
        cpu_ms = (cpu_seconds(pid) - cpu_before) / turns * 1000
        latencies.sort()
        return {
            "turns": turns,
            "failed": failures,
            "turns_per_s": turns / elapsed,
            "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
            "cpu_ms": cpu_ms,
        }


async def bench(turns: int) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="firebreak-bench-"))
    db = tmp / "fb.db"
    ports = {"connector": free_port(), "echo": free_port(), "firebreak": free_port()}
    connector_url = f"http://127.0.0.1:{ports['connector']}/"
    py = sys.executable
    with ExitStack() as stack:
        procs = {
            "connector": start([py, "bench/fake_connector.py", str(ports["connector"])]),
            "echo": start([py, "bench/echo_bot.py", str(ports["echo"])], log=tmp / "echo.log"),
            "firebreak": start(
                [py, "app.py", "--dev", "--port", str(ports["firebreak"])],
                env={"DATABASE_URL": f"sqlite:///{db}", "FIREBREAK_LOG_LEVEL": "WARNING"},
                log=tmp / "firebreak.log",
            ),
        }
        for proc in procs.values():
            stack.callback(proc.kill)
        for name in ("connector", "echo", "firebreak"):
            await wait_healthy(ports[name]) if name != "connector" else await asyncio.sleep(1.0)
        await asyncio.sleep(2.0)
        idle_rss = rss_mib(procs["firebreak"].pid)

        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as http:
            echo = Driver(ports["echo"], connector_url, "bench-echo")
            fire = Driver(ports["firebreak"], connector_url, "bench-firebreak")
            async with http.post(fire.url, json=fire.activity("declare Benchmark incident sev3")) as resp:
                assert resp.status in (200, 201), f"declare failed: {resp.status}"
            # warm both (imports, first-connection costs) before measuring
            echo_pid, fire_pid = procs["echo"].pid, procs["firebreak"].pid
            await echo.run(http, turns=50, concurrency=8, text="warm", pid=echo_pid)
            await fire.run(http, turns=50, concurrency=8, text="note warm", pid=fire_pid)
            rows: list[tuple] = []
            note_turns = 50
            for c in CONCURRENCY:
                n = max(turns // 4, 50) if c == 1 else turns
                # Alternate short rounds so a noisy neighbour hits both bots alike; keep medians.
                rounds = []
                for _ in range(ROUNDS):
                    e = await echo.run(http, turns=n, concurrency=c, text="hello", pid=echo_pid)
                    f = await fire.run(http, turns=n, concurrency=c, text="note bench", pid=fire_pid)
                    note_turns += n
                    rounds.append((e, f))
                rows.append((c, rounds))
        busy_rss = rss_mib(procs["firebreak"].pid)

    timeline_notes = sqlite3.connect(db).execute(
        "SELECT COUNT(*) FROM timeline_event WHERE kind = 'note'"
    ).fetchone()[0]

    print(f"{'c':>3} {'echo t/s':>9} {'echo p50':>9} {'echo p99':>9} {'echo cpu':>9} "
          f"{'fb t/s':>8} {'fb p50':>8} {'fb p99':>8} {'fb cpu':>8} {'ratio':>6} {'failed':>7}")
    ok = True
    for c, rounds in rows:
        e = _median_round([r[0] for r in rounds])
        f = _median_round([r[1] for r in rounds])
        ratios = sorted(fr["turns_per_s"] / er["turns_per_s"] for er, fr in rounds)
        ratio = statistics.median(ratios)
        failed = sum(er["failed"] + fr["failed"] for er, fr in rounds)
        print(f"{c:>3} {e['turns_per_s']:>9.1f} {e['p50_ms']:>7.1f}ms {e['p99_ms']:>7.1f}ms {e['cpu_ms']:>7.1f}ms "
              f"{f['turns_per_s']:>8.1f} {f['p50_ms']:>6.1f}ms {f['p99_ms']:>6.1f}ms {f['cpu_ms']:>6.1f}ms "
              f"{ratio:>6.2f} {failed:>7}   (round ratios {', '.join(f'{r:.2f}' for r in ratios)})")
        ok &= failed == 0
        if c == 8:
            ok &= ratio >= 1.5
    print(f"each row: medians of {ROUNDS} alternating rounds; ratio = median of the rounds' Firebreak/echo turns/s")
    print("cpu = the bot process's own CPU time per turn (user + system)")
    print(f"timeline note rows: {timeline_notes} for {note_turns} note turns ({'OK' if timeline_notes == note_turns else 'MISMATCH'})")
    print(f"Firebreak RSS: idle {idle_rss:.1f} MiB (target < 110), after load {busy_rss:.1f} MiB")
    ok &= timeline_notes == note_turns and idle_rss < 110
    print("RESULT:", "all targets met" if ok else "target missed")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=400, help="turns per round and concurrency level (c=1 runs a quarter)")
    args = parser.parse_args()
    return asyncio.run(bench(args.turns))


if __name__ == "__main__":
    sys.exit(main())
