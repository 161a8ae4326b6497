"""The command line contract: subcommands, refusal to start without credentials, --dev."""
import os
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.support import ROOT

CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith(("MICROSOFT_", "FIREBREAK_", "DATABASE_URL"))}


def run(*args: str, env: dict | None = None, cwd: Path = ROOT, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "app.py"), *args], capture_output=True, text=True,
                          env={**CLEAN_ENV, **(env or {})}, cwd=cwd, timeout=timeout)


def test_help_lists_the_subcommands():
    out = run("--help")
    assert out.returncode == 0
    for word in ("plan", "manifest", "db", "--port", "--dev"):
        assert word in out.stdout


def test_refuses_to_start_without_credentials_and_says_what_is_missing(tmp_path):
    out = run(env={"DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})
    assert out.returncode != 0
    for needle in ("MICROSOFT_APP_ID", "MICROSOFT_APP_PASSWORD", "MICROSOFT_APP_TENANT_ID", "Azure Bot", "--dev"):
        assert needle in out.stderr
    assert not (tmp_path / "x.db").exists(), "nothing is written when refusing to start"


def test_multitenant_needs_an_allowed_tenant(tmp_path):
    out = run(env={"MICROSOFT_APP_ID": "11111111-2222-3333-4444-555555555555", "MICROSOFT_APP_PASSWORD": "s3cret-value",
                   "MICROSOFT_APP_TYPE": "MultiTenant", "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})
    assert out.returncode != 0
    assert "FIREBREAK_ALLOWED_TENANTS" in out.stderr
    assert "s3cret-value" not in out.stderr + out.stdout


def test_plan_check_ok_and_errors(tmp_path):
    ok = run("plan", "check", "plans/example.yaml")
    assert ok.returncode == 0 and "OK" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "plans" / "example.yaml").read_text().replace("owner_group: platform", "owner_group: nobody", 1))
    out = run("plan", "check", str(bad))
    assert out.returncode == 1
    assert "owner_group" in out.stderr and "nobody" in out.stderr


def test_manifest_build_writes_the_default_zip(tmp_path):
    out = run("manifest", "build", cwd=tmp_path, env={"MICROSOFT_APP_ID": "11111111-2222-3333-4444-555555555555"})
    assert out.returncode == 0, out.stderr
    package = tmp_path / "build" / "firebreak-teams-app.zip"
    assert sorted(zipfile.ZipFile(package).namelist()) == ["color.png", "manifest.json", "outline.png"]
    assert "11111111-2222-3333-4444-555555555555" in zipfile.ZipFile(package).read("manifest.json").decode()


def test_manifest_build_without_app_id_explains(tmp_path):
    out = run("manifest", "build", "--out", str(tmp_path / "x.zip"))
    assert out.returncode != 0 and "MICROSOFT_APP_ID" in out.stderr


def test_db_upgrade(tmp_path):
    out = run("db", "upgrade", env={"DATABASE_URL": f"sqlite:///{tmp_path}/sub/fb.db"})
    assert out.returncode == 0, out.stderr
    assert "revision" in out.stdout and (tmp_path / "sub" / "fb.db").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening_addresses(port: int) -> set[str]:
    """Local addresses listening on `port`, read from /proc/net/tcp (state 0A = LISTEN)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        addr_hex, port_hex = local.split(":")
        if state == "0A" and int(port_hex, 16) == port:
            found.add(socket.inet_ntoa(bytes.fromhex(addr_hex)[::-1]))
    return found


def test_dev_mode_binds_loopback_warns_and_serves_health(tmp_path):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--dev", "--port", str(port)],
                            env={**CLEAN_ENV, "DATABASE_URL": f"sqlite:///{tmp_path}/fb.db", "FIREBREAK_HOST": "0.0.0.0"},
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as resp:
                    assert resp.status == 200
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("dev server did not become ready")
                time.sleep(0.2)
        # with FIREBREAK_HOST=0.0.0.0 it still listens on loopback only
        assert _listening_addresses(port) == {"127.0.0.1"}
    finally:
        proc.terminate()
        output = proc.communicate(timeout=10)[0]
    assert "DEV MODE" in output and "authentication is OFF" in output


def test_serve_refuses_a_database_migrated_by_a_newer_version(tmp_path):
    db = tmp_path / "fb.db"
    assert run("db", "upgrade", env={"DATABASE_URL": f"sqlite:///{db}"}).returncode == 0
    import sqlite3

    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'fffffffff'")
    out = run("--dev", "--port", str(_free_port()), env={"DATABASE_URL": f"sqlite:///{db}"})
    assert out.returncode == 2
    assert "fffffffff" in out.stderr and "newer version" in out.stderr


def test_port_in_use_is_explained(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        out = run("--dev", "--port", str(port), env={"DATABASE_URL": f"sqlite:///{tmp_path}/fb.db"})
    assert out.returncode == 2 and "--port" in out.stderr


def test_calendar_link_prints_a_working_feed_url_or_says_what_is_missing():
    env = {"FIREBREAK_CALENDAR_SECRET": "a-long-calendar-secret", "FIREBREAK_PUBLIC_URL": "https://fb.contoso.com"}
    out = run("calendar", "link", "platform-primary", env=env)
    assert out.returncode == 0, out.stderr
    from bot.web_calendar import calendar_token
    token = calendar_token("a-long-calendar-secret", "platform-primary")
    assert out.stdout.strip() == f"https://fb.contoso.com/calendar/platform-primary.ics?token={token}"
    out = run("calendar", "link", "nope", env=env)
    assert out.returncode == 1 and "Unknown schedule `nope`" in out.stderr and "platform-primary" in out.stderr
    out = run("calendar", "link", "platform-primary")
    assert out.returncode == 1 and "FIREBREAK_CALENDAR_SECRET" in out.stderr


def test_alerts_route_test_explains_the_decision_and_writes_nothing(tmp_path):
    import json

    doc = json.loads((ROOT.parent / "shared" / "fixtures" / "alerts" / "alertmanager-firing-group-3alerts.json").read_text())
    doc["alerts"][0]["labels"]["service"] = "field-service-app"
    payload = tmp_path / "am.json"
    payload.write_text(json.dumps(doc))
    db = tmp_path / "never.db"
    result = run("alerts", "route", "test", str(payload), "--integration", "alertmanager",
                 env={"DATABASE_URL": f"sqlite:///{db}"})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "3 alert(s) from alertmanager" in out
    # one Alertmanager group: its most severe alert (web-1, now field-service-app) decides
    assert "route (its most severe alert's): routes[1] (Field Service app)" in out
    assert "severity: sev1 (critical -> sev1 (severity_map))" in out
    assert "opens an incident for field-service-app: pages through `platform-critical`" in out
    assert out.count("on its own: default_route (everything else is kept on record), sev4") == 2  # web-2, web-3
    assert not db.exists()  # a dry run: no database touched


def test_alerts_route_test_refuses_what_it_cannot_read(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    unknown = run("alerts", "route", "test", str(bad), "--integration", "nagios")
    assert unknown.returncode == 1 and "Unknown integration `nagios`" in unknown.stderr and "alertmanager" in unknown.stderr
    invalid = run("alerts", "route", "test", str(bad), "--integration", "alertmanager")
    assert invalid.returncode == 1 and "not a valid alertmanager payload (HTTP 400)" in invalid.stderr
    missing = run("alerts", "route", "test", str(bad))
    assert missing.returncode == 1 and "--integration ID" in missing.stderr
