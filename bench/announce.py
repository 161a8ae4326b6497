"""Announcement storm: N incidents declared in S seconds, against a connector that throttles like Teams.

Starts three processes on 127.0.0.1:

- the throttling fake Bot Connector (`bench/throttled_connector.py`);
- the stock echo bot (`bench/echo_bot.py`), which is the reference;
- Firebreak in dev mode, with a fresh SQLite file and the example plan.

The echo bot runs first, with the same messages at the same pace. Then Firebreak:

- `setup incidents` is said in one channel and `setup announcements` in another, each as a
  new post with an @mention, in the same team;
- N incidents are declared, open loop, at an even pace over S seconds. Each is a new post in
  the incidents channel: "@Firebreak declare Storm stormIx sevK", with K cycling 1..4;
- the script waits (at most `--drain-timeout` s) until every incident is announced and
  the outbox is empty.

What it reports:

- declare-to-card latency: from sending the declare activity to the moment the connector
  accepted the incident's living card (in its new thread, or in the declaring thread if
  Firebreak fell back there);
- every announcement send the connector accepted, split into cards and digests, with the
  incidents each digest covered (its INC-n lines);
- the 429s per channel, and requests that came back before their Retry-After;
- how many incidents were announced: the union of the incidents named by accepted
  announcement posts, cards and digests alike.

Exit status 1 if a declare failed (not 2xx, or no card) or an incident was never announced.
Run: `make bench-announce` or `.venv/bin/python bench/announce.py [--incidents 200] [--seconds 10]`.
"""
from __future__ import annotations

import argparse
import asyncio
import copy
import json
import re
import shutil
import sqlite3
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import aiohttp

# bench/ is not a package: reuse bench/turns.py's process helpers from beside this file
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ms, percentile
from turns import ROOT, cpu_seconds, free_port, rss_mib, start, wait_healthy

FIXTURE = (ROOT.parent / "shared" / "fixtures" / "teams" / "playground-captured"
           / "playground-message-channel-mention.json")
TEAM = "19:bench-team@thread.tacv2"
INCIDENTS = "19:bench-incidents@thread.tacv2"
ANNOUNCEMENTS = "19:bench-announcements@thread.tacv2"
ECHO = "19:bench-echo@thread.tacv2"
THREAD = ";messageid="
# Whoever speaks is the example plan's owner, so `setup` is allowed (the connector's member
# lookup answers with that e-mail).
USER = {"id": "29:bench-user", "name": "Priya Raman", "aadObjectId": "bench-aad-priya"}
SEVERITIES = ("sev1", "sev2", "sev3", "sev4")
MARKER = re.compile(r"\bstorm(\d+)x\b")


# ------------------------------------------------------------------------------------ helpers


class Teams:
    """Builds the channel messages Teams would send, from the captured channel-mention payload."""

    def __init__(self, connector_url: str) -> None:
        self.template = json.loads(FIXTURE.read_text())
        self.template["serviceUrl"] = connector_url
        self._roots = iter(range(1_700_000_000_000, 1_800_000_000_000))

    def new_post(self, channel_id: str, channel_name: str, text: str) -> dict:
        """A new post in a channel, @mentioning the bot (its own thread: `<channel>;messageid=<id>`)."""
        body = copy.deepcopy(self.template)
        root = str(next(self._roots))
        body["id"] = root
        body["text"] = f"<at>Test Bot</at> {text}"
        body["from"] = dict(USER)
        body["conversation"]["id"] = f"{channel_id}{THREAD}{root}"
        body["channelData"].update({
            "teamsChannelId": channel_id, "teamsTeamId": TEAM,
            "team": {"id": TEAM, "name": "Bench Team", "aadGroupId": "bench-group"},
            "channel": {"id": channel_id, "name": channel_name},
        })
        return body


async def paced(http: aiohttp.ClientSession, url: str, bodies: list[dict], seconds: float) -> list[dict]:
    """POST the bodies open loop, evenly over `seconds`; each result has its send time and status."""
    interval = seconds / max(1, len(bodies))
    t0 = time.monotonic() + 0.05
    results: list[dict] = [{} for _ in bodies]

    async def one(i: int, body: dict) -> None:
        await asyncio.sleep(max(0.0, t0 + i * interval - time.monotonic()))
        sent = time.monotonic()
        status = None
        try:
            async with http.post(url, json=body) as resp:
                await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            status = type(exc).__name__
        results[i] = {"sent": sent, "done": time.monotonic(), "status": status,
                      "conversation": body["conversation"]["id"]}

    await asyncio.gather(*(one(i, body) for i, body in enumerate(bodies)))
    return results


async def stats(http: aiohttp.ClientSession, connector_url: str) -> dict:
    async with http.get(f"{connector_url}_stats") as resp:
        return await resp.json()


def ok(event: dict) -> bool:
    return isinstance(event.get("status"), int) and 200 <= event["status"] < 300


def announced_ids(events: list[dict]) -> dict[int, float]:
    """Incident number -> when an accepted post in the announcements channel first named it."""
    first: dict[int, float] = {}
    for e in events:
        if e["conversation"] == ANNOUNCEMENTS and e["method"] == "POST" and ok(e):
            for ref in e["refs"]:
                first.setdefault(ref, e["t"])
    return first


def db_rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        return conn.execute(sql).fetchall()


# ------------------------------------------------------------------------------------ phases


async def echo_reference(http, teams: Teams, port: int, pid: int, connector_url: str, n: int, seconds: float) -> dict:
    """The stock echo bot, same messages at the same pace: send -> its reply at the connector."""
    bodies = [teams.new_post(ECHO, "Echo", f"declare Storm storm{i}x {SEVERITIES[i % 4]}") for i in range(n)]
    cpu_before = cpu_seconds(pid)
    results = await paced(http, f"http://127.0.0.1:{port}/api/messages", bodies, seconds)
    cpu = cpu_seconds(pid) - cpu_before
    deadline = time.monotonic() + 30
    while True:
        events = (await stats(http, connector_url))["events"]
        replied = {}
        for e in events:
            if e["conversation"].startswith(ECHO + THREAD) and ok(e):
                replied.setdefault(e["conversation"], e["t"])
        if len(replied) >= n or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    latencies = [replied[r["conversation"]] - r["sent"] for r in results if r["conversation"] in replied]
    return {
        "sent": n,
        "failed": sum(1 for r in results if r["status"] not in (200, 201)) + (n - len(latencies)),
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
        "cpu_ms": cpu / n * 1000,
        "turn_p50": percentile([r["done"] - r["sent"] for r in results], 0.5),
        "turn_p99": percentile([r["done"] - r["sent"] for r in results], 0.99),
    }


async def set_up_channels(http, teams: Teams, url: str, db: Path) -> None:
    channels = ((INCIDENTS, "Incidents", "incidents"), (ANNOUNCEMENTS, "Announcements", "announcements"))
    for channel, name, purpose in channels:
        async with http.post(url, json=teams.new_post(channel, name, f"setup {purpose}")) as resp:
            await resp.read()
            assert resp.status in (200, 201), f"setup {purpose} failed: HTTP {resp.status}"
    bound = dict(db_rows(db, "SELECT purpose, channel_id FROM channel_binding"))
    assert bound == {"incidents": INCIDENTS, "announcements": ANNOUNCEMENTS}, f"setup did not bind: {bound}"


async def bench(n: int, seconds: float, drain_timeout: float, throttle: str, dump: Path | None, keep: bool) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="firebreak-bench-announce-"))
    db = tmp / "fb.db"
    ports = {"connector": free_port(), "echo": free_port(), "firebreak": free_port()}
    connector_url = f"http://127.0.0.1:{ports['connector']}/"
    py = sys.executable
    limited = "all" if throttle == "all" else ANNOUNCEMENTS
    with ExitStack() as stack:
        procs = {
            "connector": start([py, "bench/throttled_connector.py", str(ports["connector"]), "--throttle", limited],
                               log=tmp / "connector.log"),
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
            await wait_healthy(ports[name])
        await asyncio.sleep(1.0)

        teams = Teams(connector_url)
        fire_url = f"http://127.0.0.1:{ports['firebreak']}/api/messages"
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as http:
            echo = await echo_reference(http, teams, ports["echo"], procs["echo"].pid, connector_url, n, seconds)
            await set_up_channels(http, teams, fire_url, db)
            await asyncio.sleep(1.0)

            bodies = [teams.new_post(INCIDENTS, "Incidents", f"declare Storm storm{i}x {SEVERITIES[i % 4]}")
                      for i in range(n)]
            fire_pid = procs["firebreak"].pid
            began, cpu_before = time.monotonic(), cpu_seconds(fire_pid)
            results = await paced(http, fire_url, bodies, seconds)
            declared_in = time.monotonic() - began
            cpu_declares = cpu_seconds(fire_pid) - cpu_before

            # wait until every incident is announced and nothing is left in the outbox
            deadline = time.monotonic() + drain_timeout
            all_announced_at = drained_at = None
            while time.monotonic() < deadline:
                events = (await stats(http, connector_url))["events"]
                incidents = [row[0] for row in db_rows(db, "SELECT id FROM incident")]
                first = announced_ids(events)
                if all_announced_at is None and incidents and all(i in first for i in incidents):
                    all_announced_at = max(first[i] for i in incidents) - began
                waiting = db_rows(db, "SELECT COUNT(*) FROM outbox_message "
                                      "WHERE status IN ('pending', 'sending')")[0][0]
                if all_announced_at is not None and waiting == 0:
                    drained_at = time.monotonic() - began
                    break
                await asyncio.sleep(0.5)
            await asyncio.sleep(1.0)  # let a last in-flight send land before counting
            final = await stats(http, connector_url)
            cpu_total = cpu_seconds(fire_pid) - cpu_before
        if dump:
            dump.write_text(json.dumps({"results": results, "connector": final}, indent=1))
        rss = rss_mib(procs["firebreak"].pid)

    code = report(n=n, seconds=seconds, throttle=throttle, results=results, final=final, db=db, echo=echo,
                  declared_in=declared_in, all_announced_at=all_announced_at, drained_at=drained_at,
                  began=began, rss=rss, log=tmp / "firebreak.log", cpu=(cpu_declares, cpu_total))
    if code == 0 and not keep:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"logs and database kept in {tmp}")
    return code


# ------------------------------------------------------------------------------------ report


def report(*, n, seconds, throttle, results, final, db, echo, declared_in, all_announced_at, drained_at,
           began, rss, log: Path, cpu: tuple[float, float]) -> int:
    events: list[dict] = final["events"]
    per_channel = final["conversations"]

    # the living card of each declare: the first accepted card naming its marker, outside the announcements
    cards: dict[int, dict] = {}
    for e in events:
        if e["conversation"] != ANNOUNCEMENTS and ok(e) and e["card"]:
            found = MARKER.search(e["card"])
            if found:
                cards.setdefault(int(found.group(1)), e)
    card_latency = [cards[i]["t"] - r["sent"] for i, r in enumerate(results) if i in cards]
    in_thread = sum(1 for e in cards.values() if e["route"] == "create_conversation" and e["conversation"] == INCIDENTS)
    http_failed = sum(1 for r in results if r["status"] not in (200, 201))
    no_card = n - len(cards)
    failed = sum(1 for i, r in enumerate(results) if r["status"] not in (200, 201) or i not in cards)

    # this run's incidents, and which declare each came from
    incidents = {row[0]: row for row in db_rows(db, "SELECT id, title, space_kind FROM incident")}
    declare_of = {}
    for iid, title, _kind in incidents.values():
        found = MARKER.search(title)
        if found:
            declare_of[iid] = int(found.group(1))
    spaces: dict[str, int] = {}
    for _iid, _title, kind in incidents.values():
        spaces[kind] = spaces.get(kind, 0) + 1

    # what reached the announcements channel
    ann = [e for e in events if e["conversation"] == ANNOUNCEMENTS]
    posts = [e for e in ann if e["method"] == "POST" and ok(e)]
    card_posts = [e for e in posts if e["card"]]
    digests = [e for e in posts if not e["card"]]
    digest_lines = sum(len(re.findall(r"^- ", e["text"], re.MULTILINE)) for e in digests)
    in_cards = {ref for e in card_posts for ref in e["refs"]}
    in_digests = {ref for e in digests for ref in e["refs"]}
    updates = [e for e in ann if e["method"] == "PUT" and ok(e)]
    first = announced_ids(events)
    announced = [i for i in incidents if i in first]
    missing = sorted(i for i in incidents if i not in first)
    announce_latency = [first[i] - results[declare_of[i]]["sent"] for i in announced if i in declare_of]
    throttled_ann = sum(1 for e in ann if e.get("status") == 429)
    early_ann = sum(1 for e in ann if e["early"])
    inc_channel = per_channel.get(INCIDENTS, {"ok": 0, "throttled": 0, "early": 0})
    throttled_all = sum(c["throttled"] for c in per_channel.values())
    outbox = dict(db_rows(db, "SELECT status, COUNT(*) FROM outbox_message GROUP BY status"))
    digest_rows = db_rows(db, "SELECT COUNT(*) FROM outbox_message WHERE key LIKE 'digest:%'")[0][0]
    log_errors = [line for line in log.read_text(errors="replace").splitlines()
                  if " ERROR " in line or line.startswith("Traceback")]

    limited = "every conversation" if throttle == "all" else "the announcements channel"
    print(f"Announcement storm: {n} incidents declared in {seconds:g} s ({n / seconds:.1f}/s); "
          f"connector throttles {limited}")
    print()
    print(f"{'':<34}{'p50':>10}{'p99':>10}")
    print(f"{'echo: message -> reply':<34}{ms(echo['p50']):>10}{ms(echo['p99']):>10}   failed {echo['failed']}")
    print(f"{'Firebreak: declare -> card':<34}{ms(percentile(card_latency, 0.5)):>10}"
          f"{ms(percentile(card_latency, 0.99)):>10}   ratio of p99s (Firebreak/echo) "
          f"{percentile(card_latency, 0.99) / echo['p99']:.2f}")
    print(f"{'echo: turn (HTTP answer)':<34}{ms(echo['turn_p50']):>10}{ms(echo['turn_p99']):>10}")
    turn = [r["done"] - r["sent"] for r in results]
    print(f"{'Firebreak: declare turn (HTTP)':<34}{ms(percentile(turn, 0.5)):>10}{ms(percentile(turn, 0.99)):>10}")
    print(f"{'Firebreak: declare -> announced':<34}{ms(percentile(announce_latency, 0.5)):>10}"
          f"{ms(percentile(announce_latency, 0.99)):>10}")
    print()
    print(f"declares sent                      {n} in {declared_in:.1f} s")
    print(f"declares failed                    {failed}  (HTTP not 2xx: {http_failed}, no card: {no_card})")
    print(f"incident spaces                    {', '.join(f'{k}: {v}' for k, v in sorted(spaces.items()))}  "
          f"(cards in a new thread: {in_thread}, in the declaring thread: {len(cards) - in_thread})")
    print(f"incidents channel                  {inc_channel['ok']} accepted, {inc_channel['throttled']} x 429, "
          f"{inc_channel['early']} before Retry-After")
    print(f"announcement sends delivered       {len(posts)} posts ({len(card_posts)} cards, {len(digests)} digests) "
          f"+ {len(updates)} card updates")
    print(f"bundled                            {len(digests)} digests naming {digest_lines} changes of "
          f"{len(in_digests)} incidents ({len(in_digests - in_cards)} announced only in a digest); "
          f"outbox rows bundled: {outbox.get('bundled', 0)} into {digest_rows} digest rows")
    print(f"429s met                           {throttled_all} in all, {throttled_ann} in the announcements channel "
          f"({early_ann} requests there before Retry-After had passed)")
    print(f"incidents announced                {len(announced)} of {len(incidents)} incidents ({n} declared)"
          + (f"; never announced: {', '.join(f'INC-{i}' for i in missing[:20])}" if missing else ""))
    print(f"outbox rows                        {', '.join(f'{k}: {v}' for k, v in sorted(outbox.items()))}")
    print(f"wall: declares {declared_in:.1f} s; all announced "
          f"{'-' if all_announced_at is None else f'{all_announced_at:.1f} s'}; outbox empty "
          f"{'-' if drained_at is None else f'{drained_at:.1f} s'} (from the first declare)")
    print(f"Firebreak CPU                      {cpu[0]:.1f} s while declaring "
          f"({cpu[0] / n * 1000:.0f} ms per declare), "
          f"{cpu[1]:.1f} s until the outbox was empty; echo bot {echo['cpu_ms']:.0f} ms per message")
    print(f"Firebreak RSS after the storm      {rss:.1f} MiB; error lines in its log: {len(log_errors)}")
    for line in log_errors[:5]:
        print(f"    {line[:200]}")
    if early_ann:
        print("WARNING: the outbox sent into the announcements channel before a Retry-After had passed")
    if outbox.get("failed") or outbox.get("unknown"):
        print("WARNING: outbox rows ended failed or unknown; see", log.parent)

    good = failed == 0 and not missing and len(incidents) == n
    print("RESULT:", "every incident declared and announced" if good else "FAILED (see above)")
    summary = {
        "declared": n, "failed": failed, "incidents": len(incidents), "announced": len(announced),
        "posts": len(posts), "cards": len(card_posts), "digests": len(digests), "digest_lines": digest_lines,
        "updates": len(updates), "throttled": throttled_all, "throttled_announcements": throttled_ann,
        "early_announcements": early_ann, "card_p50_ms": percentile(card_latency, 0.5) * 1000,
        "card_p99_ms": percentile(card_latency, 0.99) * 1000, "echo_p99_ms": echo["p99"] * 1000,
        "outbox": outbox, "spaces": spaces, "cpu_ms_per_declare": cpu[0] / n * 1000, "echo_cpu_ms": echo["cpu_ms"],
    }
    print("SUMMARY", json.dumps(summary, sort_keys=True))
    return 0 if good else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=200, help="incidents to declare (default 200)")
    parser.add_argument("--seconds", type=float, default=10.0, help="spread the declares over this long (default 10)")
    parser.add_argument("--drain-timeout", type=float, default=120.0,
                        help="wait at most this long after the declares for every announcement (default 120)")
    parser.add_argument("--throttle", choices=("all", "announcements"), default="all",
                        help="limit every conversation as Teams does (default), or only the announcements channel")
    parser.add_argument("--dump", type=Path, help="write every declare and every connector event to this JSON file")
    parser.add_argument("--keep", action="store_true",
                        help="keep the logs and the SQLite file (kept anyway on failure)")
    args = parser.parse_args()
    return asyncio.run(bench(args.incidents, args.seconds, args.drain_timeout, args.throttle, args.dump, args.keep))


if __name__ == "__main__":
    sys.exit(main())
