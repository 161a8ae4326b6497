"""Escalations survive SIGKILL: a real app process, a real SQLite file and the real clock.

20 escalations through 3-level policies (`after: 4s`, each level one person, repeat 0, nobody
told at the end) are seeded with their first steps due at spread-out moments. The app is
SIGKILLed three times at random moments and restarted after random downtimes (1-6 s, once more
than a level's 4 s), then left to finish. A recording fake Bot Connector keeps every request.

What must hold, from the database and the connector's record:

- every step fired exactly once: three pages (one per level, the right person) and one
  "Nobody acknowledged" step per escalation, each escalation exhausted at fence 4; every page
  card POSTed exactly once. A kill leaves the rows it cut off mid-send `sending`, then
  `unknown` ("delivery unknown": by design never resent); of those, at most one per kill may
  have never reached the connector (the one being marked or written), every other one was
  POSTed exactly once. One kill is
  made to land while a page card POST is in flight (the fake sits on it), right after a
  restart with a burst of overdue steps: the POST in flight must never be sent again, and
  the pages of that burst not yet POSTed must still be delivered after the restart;
- each step fired no earlier than due, and within 2 s of max(its due time, when the process
  that fired it came up). Due times are recomputed from what happened: level 1 as seeded, each
  later step the previous step's actual time + 4 s (the domain times the next level from now);
- a step that ran more than 2 s late (it fell due while the process was down) ran once, with
  its timeline note ending "(delayed ...: due ...)" and `page.delayed_s` set, and the next level
  still got its full 4 s; an on-time step carries no such note;
- each page card reached the connector within 2 s of max(its step, its process coming up).

The scenario runs once (a module fixture, about 50 s); the first test checks all of the above
but the pages lost to a crash, the second only those: a row is marked `sending` only right
before its request is written (`bot.domain.outbox.about_to_send`, once its token and body are
made and its connection is open), one request at a time, so a kill strands at most one
request that was marked but never written.

Random choices come from a fixed seed (printed; FIREBREAK_DURABILITY_SEED replays another).
Run alone: `.venv/bin/pytest -q -s tests/test_escalation_durability.py` (about a minute; `-s`
prints every step with its due and fired times).
"""
from __future__ import annotations

import asyncio
import json
import os
import random
import re
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest

from bench.paging_seed import Pending, Person, seed, write_plan
from tests.durability_support import ROOT, AppProcess, read_events, rows, ts

ESCALATIONS = 20
LEVELS = 3
AFTER_S = 4.0
KILLS = 3
SLACK_S = 2.0  # a step or a delivery may trail its due time (or the restart) by less than this
LATE_AFTER_S = 2.0  # escalation_rules.advance's late_after: later than this is annotated "delayed"
DEFAULT_SEED = 20261129


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _people() -> list[list[Person]]:
    return [[Person(f"dur{i:02d}.level{k + 1}@contoso.com", f"Durable {i:02d}-{k + 1}", f"aad-dur-{i:02d}-{k + 1}")
             for k in range(LEVELS)] for i in range(ESCALATIONS)]


def _policies(people: list[list[Person]]) -> list[dict]:
    return [{"id": f"durability-{i:02d}", "name": f"Durability {i:02d}",
             "levels": [{"targets": [f"person:{p.email}"], "after": f"{AFTER_S:g}s"} for p in chain],
             "repeat": 0, "finally_notify": []} for i, chain in enumerate(people)]


def _wait_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer")


def _connector(connector_url: str, path: str, *, post: bool = False) -> dict:
    request = urllib.request.Request(connector_url + path, method="POST" if post else "GET")
    with urllib.request.urlopen(request, timeout=5) as resp:
        return json.loads(resp.read())


def _kill_when_held(app: AppProcess, connector_url: str, events_log: Path) -> int | None:
    """SIGKILL the app as soon as the fake is sitting on a page card POST (armed before this
    process started); return that page's id (None if no page came within 10 s)."""
    deadline = time.monotonic() + 10
    while _connector(connector_url, "_count")["held"] == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    app.kill()
    if _connector(connector_url, "_count")["held"] == 0:
        _connector(connector_url, "_hold_next_page?seconds=0", post=True)
        return None
    [held] = [e for e in read_events(events_log) if "held_s" in e]
    return int(held["page_id"])


def _settled(db: Path, since: float) -> bool:
    """Every escalation finished and nothing left to deliver (rows cut off by a kill excepted:
    they stay `sending` until their deadline, then become `unknown`, and are never resent)."""
    active = rows(db, "SELECT COUNT(*) FROM escalation WHERE status = 'active'")[0][0]
    pending = rows(db, "SELECT COUNT(*) FROM outbox_message WHERE status IN ('pending', 'claimed')")[0][0]
    sending = [r for r in rows(db, "SELECT last_attempt_at FROM outbox_message WHERE status = 'sending'")
               if (ts(r[0]) or 0) >= since]
    return active == 0 and pending == 0 and not sending


@dataclass
class Outcome:
    """What one run of the scenario left behind, and what is wrong with it."""

    problems: list[str]  # anything but pages lost to a crash
    lost: list[str]  # contact attempts left unknown beyond one per kill
    where: str


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> Outcome:
    """Run the scenario once for both tests below (about 50 s)."""
    tmp_path = tmp_path_factory.mktemp("durability")
    chosen = int(os.environ.get("FIREBREAK_DURABILITY_SEED", DEFAULT_SEED))
    print(f"\nrandom seed {chosen} (replay with FIREBREAK_DURABILITY_SEED={chosen})")
    rng = random.Random(chosen)
    db = tmp_path / "fb.db"
    url = f"sqlite:///{db}"
    people = _people()
    plan = write_plan(tmp_path / "plan.yaml", people=[p for chain in people for p in chain], policies=_policies(people))
    env = {"DATABASE_URL": url, "FIREBREAK_PLAN": str(plan), "FIREBREAK_LOG_LEVEL": "INFO"}
    subprocess.run([sys.executable, "app.py", "db", "upgrade"], cwd=ROOT, env={**os.environ, **env},
                   check=True, capture_output=True)

    connector_port, app_port = _free_port(), _free_port()
    connector_url = f"http://127.0.0.1:{connector_port}/"
    events_log = tmp_path / "connector.jsonl"
    connector = subprocess.Popen([sys.executable, "bench/recording_connector.py", str(connector_port),
                                  "--log", str(events_log)], cwd=ROOT, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.STDOUT)
    app = AppProcess(port=app_port, env=env, log=tmp_path / "firebreak.log")
    # One kill (not the first) lands while the first page card POST after a restart is in flight:
    # the fake sits on that POST and the kill follows at once. The downtime before that restart
    # is the long one (> a level's 4 s), so the restart has a burst of overdue steps to run.
    mid_send = rng.randrange(1, KILLS)
    downtimes = [rng.uniform(1.0, 6.0) for _ in range(KILLS)]
    downtimes[mid_send - 1] = rng.uniform(4.5, 6.0)
    uptimes = [rng.uniform(2.0, 6.0) for _ in range(KILLS)]
    offsets = [1.5 + rng.uniform(0.0, 16.0) for _ in range(ESCALATIONS)]
    print("kill after up " + ", ".join("(first page POST)" if n == mid_send else f"{u:.2f} s"
                                       for n, u in enumerate(uptimes))
          + "; down " + ", ".join(f"{d:.2f} s" for d in downtimes) + " (plus the app's start-up)")
    try:
        _wait_http(f"{connector_url}healthz")
        app.spawn()
        seeded_at = time.time()
        dues = [datetime.fromtimestamp(seeded_at + o, timezone.utc) for o in offsets]
        pending = [Pending(title=f"Durability {i:02d}", home=f"19:durability-home-{i:02d}@thread.v2", due=due,
                           policy_id=f"durability-{i:02d}") for i, due in enumerate(dues)]
        seeded = asyncio.run(seed(url, plan, people=[p for chain in people for p in chain], pending=pending,
                                  service_url=connector_url))
        held_page = None
        for n in range(KILLS):
            if n == mid_send:
                held_page = _kill_when_held(app, connector_url, events_log)
            else:
                time.sleep(uptimes[n])
                app.kill()
            time.sleep(downtimes[n])
            if n + 1 == mid_send:
                _connector(connector_url, "_hold_next_page?seconds=3600", post=True)
            app.spawn()
        deadline = time.monotonic() + 60
        while not _settled(db, app.lives[-1].spawned):
            assert time.monotonic() < deadline, "escalations did not finish within 60 s of the last restart"
            time.sleep(0.25)
        time.sleep(0.5)
        app.stop()
    finally:
        if app.proc is not None:
            app.proc.kill()
            app.proc.wait()
        connector.kill()
        connector.wait()

    problems, lost = _check(db, app, seeded, dues, people, read_events(events_log))
    if held_page is None:
        problems.append("no page card POST arrived to be cut off by the kill: the mid-send case was not tested")
    else:
        [held] = rows(db, "SELECT status FROM outbox_message WHERE key = ?", f"page:{held_page}:0")
        if held["status"] not in ("sending", "unknown"):
            problems.append(f"page {held_page} was POSTed when the process died, yet its outbox row is "
                            f"{held['status']} (only `sending` until its deadline, then `unknown`, is right)")
    log_text = app.log.read_text(errors="replace")
    problems += [f"the app logged {what!r}" for what in ("tick failed", "outbox run failed") if what in log_text]
    return Outcome(problems=problems, lost=lost, where=f"(seed {chosen}; logs in {tmp_path})")


def test_escalations_fire_each_step_once_and_on_time_across_sigkills(scenario):
    assert not scenario.problems, "\n".join(scenario.problems) + "\n" + scenario.where


def test_a_crash_mid_send_loses_no_page_but_the_one_in_flight(scenario):
    assert not scenario.lost, "\n".join(scenario.lost) + "\n" + scenario.where




def _check(db: Path, app: AppProcess, seeded, dues, people, events) -> tuple[list[str], list[str]]:
    problems: list[str] = []
    lost: list[str] = []
    outbox = {r["key"]: r for r in rows(db, "SELECT key, status, last_attempt_at FROM outbox_message")}
    unknown = sorted(k for k, r in outbox.items() if r["status"] in ("sending", "unknown"))
    failed = sorted(k for k, r in outbox.items() if r["status"] not in ("sent", "sending", "unknown"))
    if failed:
        problems.append(f"outbox rows neither sent nor cut off by a kill: {failed}")
    posts_of_page: dict[int, list[float]] = {}
    notices: dict[int, int] = {}
    for e in events:
        if e.get("page_id") is not None:
            posts_of_page.setdefault(int(e["page_id"]), []).append(e["t"])
        elif e["route"] == "send" and (m := re.search(r"Nobody acknowledged the page for INC-(\d+)", e.get("text", ""))):
            notices[int(m.group(1))] = notices.get(int(m.group(1)), 0) + 1
        elif e["route"] != "create_conversation":
            problems.append(f"unexpected request at the connector: {e['method']} {e['path']} {e.get('text', '')!r}")

    posted_pages = set(posts_of_page)
    posted_notices = {f"escalation-exhausted:{e}" for (i, e) in seeded if notices.get(i)}
    never_posted = [k for k in unknown if k not in posted_notices
                    and not (k.startswith("page:") and int(k.split(":")[1]) in posted_pages)]
    # A row left `sending` (then `unknown`, never resent) by a kill is lost only if its POST
    # never left the process: marks are taken one request at a time (the lane in `bot/marked_body.py`),
    # so at most one such row per process killed; the others reached the connector once.
    stranded: dict[int, list[str]] = {}
    for key in never_posted:
        life = app.life_at(ts(outbox[key]["last_attempt_at"]) or 0)
        stranded.setdefault(app.lives.index(life) if life is not None else -1, []).append(key)
    for life_index, keys in sorted(stranded.items()):
        if len(keys) > 1 or life_index < 0 or not app.lives[life_index].killed:
            lost.append(f"process {life_index} left {len(keys)} contact attempts marked as being sent that never "
                        f"reached the connector and will never be sent: pages lost to the crash: {keys} "
                        f"(all attempts of unknown outcome: {unknown})")
    steps = late_steps = due_while_down = 0
    t0 = app.lives[0].spawned
    table: list[tuple[float, str]] = []
    worst = (0.0, "")
    for (incident_id, escalation_id), due0, chain in zip(seeded, dues, people):
        [esc] = rows(db, "SELECT status, level, fence, next_at FROM escalation WHERE id = ?", escalation_id)
        if (esc["status"], esc["level"], esc["fence"], esc["next_at"]) != ("exhausted", LEVELS - 1, LEVELS + 1, None):
            problems.append(f"escalation {escalation_id} ended as {dict(esc)}, not exhausted at fence {LEVELS + 1}")
        pages = rows(db, "SELECT id, email, level, round, created_at, delayed_s FROM page WHERE escalation_id = ? "
                         "ORDER BY level, id", escalation_id)
        notes = rows(db, "SELECT at, text FROM timeline_event WHERE incident_id = ? AND kind = 'page' ORDER BY id",
                     incident_id)
        if [(p["level"], p["round"], p["email"]) for p in pages] != [(k, 0, chain[k].email) for k in range(LEVELS)]:
            problems.append(f"INC-{incident_id}: pages {[(p['level'], p['email']) for p in pages]}, "
                            f"expected one per level")
            continue
        if len(notes) != LEVELS + 1 or not notes[-1]["text"].startswith("Nobody acknowledged"):
            problems.append(f"INC-{incident_id}: {len(notes)} page steps on the timeline, expected {LEVELS + 1}: "
                            f"{[n['text'] for n in notes]}")
            continue
        due, previous = due0.timestamp(), None
        for k, note in enumerate(notes):
            steps += 1
            fired = ts(note["at"])
            page = pages[k] if k < LEVELS else None
            what = f"INC-{incident_id} {'level ' + str(k + 1) if page else 'final step'}"
            if page is not None and ts(page["created_at"]) != fired:
                problems.append(f"{what}: page row at {page['created_at']}, timeline at {note['at']}")
            life = app.life_at(fired)
            if fired < due - 0.001:
                problems.append(f"{what}: fired {due - fired:.3f} s before it was due")
            elif life is None or life.ready is None:
                problems.append(f"{what}: fired at {fired:.3f}, when no process was up")
            else:
                lag = fired - max(due, life.ready)
                worst = max(worst, (lag, what))
                if lag >= SLACK_S:
                    problems.append(f"{what}: fired {lag:.2f} s after max(due, restart)")
            if previous is not None and fired - previous < AFTER_S - 0.001:
                problems.append(f"{what}: fired {fired - previous:.2f} s after the previous level (a burst)")
            late = fired - due > LATE_AFTER_S
            annotated = bool(re.search(r" \(delayed \S+: due \d{4}-\d\d-\d\d \d\d:\d\d UTC\)$", note["text"]))
            if late != annotated:
                problems.append(f"{what}: {fired - due:.2f} s after due, but the note says {note['text']!r}")
            if page is not None and (page["delayed_s"] is not None) != late:
                problems.append(f"{what}: page.delayed_s is {page['delayed_s']} for a step {fired - due:.2f} s late")
            down = not any(lf.ready is not None and lf.ready <= due < (lf.ended or float("inf")) for lf in app.lives)
            line = (f"{what:<22} due {due - t0:7.2f}  fired {fired - t0:7.2f}  late {fired - due:6.2f}  "
                    f"process {app.lives.index(life) if life else '?'}{'  (due while down)' if down else ''}"
                    f"{'  delayed' if annotated else ''}")
            table.append((fired, line))
            due_while_down += down
            late_steps += late
            if down and life is not None and life.ready is not None and life.ready - due > LATE_AFTER_S + 1 \
                    and not annotated:
                problems.append(f"{what}: due {life.ready - due:.1f} s before the restart, not marked delayed")
            if page is not None:
                problems += _delivery(what, page["id"], fired, posts_of_page.get(page["id"], []),
                                      outbox.get(f"page:{page['id']}:0"), app)
            previous, due = fired, fired + AFTER_S
        notice = outbox.get(f"escalation-exhausted:{escalation_id}")
        status, got = (notice["status"] if notice else "missing"), notices.get(incident_id, 0)
        if got > 1 or (status == "sent") != (got == 1) and status not in ("sending", "unknown"):
            problems.append(f"INC-{incident_id}: {got} 'nobody acknowledged' notices POSTed (outbox row {status})")
    print(f"{steps} steps checked; {due_while_down} fell due while the app was down; {late_steps} ran late "
          f"(> {LATE_AFTER_S:g} s, annotated); worst lag after max(due, restart) {worst[0]:.2f} s ({worst[1]})")
    for n, life in enumerate(app.lives):
        print(f"process {n}: spawned +{life.spawned - app.lives[0].spawned:.2f} s, up after "
              f"{(life.ready or life.spawned) - life.spawned:.2f} s, {'killed' if life.killed else 'stopped'} "
              f"+{(life.ended or 0) - app.lives[0].spawned:.2f} s")
    print(f"contact attempts of unknown outcome: {unknown or 'none'}")
    print("every step, in the order fired (seconds since the first spawn):")
    for _fired, line in sorted(table):
        print("  " + line)
    if late_steps == 0:
        problems.append("no step ran late: the kills missed every due time, so the test proved nothing about downtime")
    return problems, lost


def _delivery(what: str, page_id: int, fired: float, posts: list[float], row, app: AppProcess) -> list[str]:
    """One page card per page, soon after its step (or after the restart that sent it)."""
    status = row["status"] if row is not None else "missing"
    if status == "sent" and len(posts) != 1 or status != "sent" and len(posts) > 1:
        return [f"{what}: page {page_id} POSTed {len(posts)} times (outbox {status})"]
    if status not in ("sent", "sending", "unknown"):
        return [f"{what}: page {page_id} outbox row is {status}"]
    out = []
    for t in posts:
        life = app.life_at(t)
        ref = max(fired, life.ready or life.spawned) if life is not None else fired
        if t - ref >= SLACK_S:
            out.append(f"{what}: page card arrived {t - ref:.2f} s after max(step, restart)")
    return out
