"""Real outside programs for tests: a throwaway PostgreSQL server.

A test that needs a program this machine lacks skips with the install command; in CI
(CI=true) the root conftest turns such a skip of a `realpeer` test into a failure.
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start PostgreSQL on 127.0.0.1 in a temp folder; yields a plain `postgresql://` URL."""
    bindir = postgres_bin()
    if bindir is None:
        raise FileNotFoundError("PostgreSQL server binaries not found: run `make tools` (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="firebreak-pg-"))
    data = root / "data"
    as_root = os.geteuid() == 0
    run_as: list[str] = ["runuser", "-u", "postgres", "--"] if as_root else []
    if as_root:
        shutil.chown(root, "postgres", "postgres")
    port = _free_port()

    def pg(*args: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run([*run_as, *args], check=True, capture_output=True, text=True, **kw)

    pg(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync")
    pg(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-w", "-t", "60", "start",
       "-o", f"-h 127.0.0.1 -p {port} -k {root} -F")
    try:
        deadline = time.monotonic() + 30
        while True:
            ready = subprocess.run([str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)], capture_output=True)
            if ready.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError((root / "server.log").read_text())
            time.sleep(0.2)
        pg(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "firebreak")
        yield f"postgresql://postgres@127.0.0.1:{port}/firebreak"
    finally:
        subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


ALERTMANAGER = Path("/usr/bin/prometheus-alertmanager")


@contextmanager
def alertmanager_server(*, webhook_url: str, bearer_token: str, group_by: list[str]) -> Iterator[str]:
    """Start Debian's Prometheus Alertmanager on 127.0.0.1 (cluster listening off) with one
    receiver: a webhook to `webhook_url` with a bearer token, groups flushed within a second,
    resolves sent. Yields its base URL."""
    if not ALERTMANAGER.exists():
        raise FileNotFoundError("prometheus-alertmanager not found: run `make tools` "
                                "(apt-get install prometheus-alertmanager)")
    root = Path(tempfile.mkdtemp(prefix="firebreak-am-"))
    port = _free_port()
    config = {
        "route": {"receiver": "firebreak", "group_by": group_by, "group_wait": "1s", "group_interval": "1s",
                  "repeat_interval": "1h"},
        "receivers": [{"name": "firebreak", "webhook_configs": [{
            "url": webhook_url, "send_resolved": True, "max_alerts": 0,
            "http_config": {"authorization": {"type": "Bearer", "credentials": bearer_token}}}]}],
    }
    import json

    (root / "alertmanager.yml").write_text(json.dumps(config))  # YAML is a superset of JSON
    log = open(root / "alertmanager.log", "w")
    proc = subprocess.Popen([str(ALERTMANAGER), f"--config.file={root / 'alertmanager.yml'}",
                             f"--storage.path={root / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
                             "--cluster.listen-address=", "--log.level=debug"], stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        import urllib.request

        while True:
            try:
                with urllib.request.urlopen(f"{base}/-/ready", timeout=1) as ready:
                    if ready.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((root / "alertmanager.log").read_text())
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        shutil.rmtree(root, ignore_errors=True)


async def fresh_database(postgres_url: str) -> str:
    """A new, empty database on the test PostgreSQL server (tests stay independent on one
    server); its plain URL."""
    import uuid

    from sqlalchemy import text

    from storage.db import create_engine

    name = f"t_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres_url)
    async with admin.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f"CREATE DATABASE {name}"))
    await admin.dispose()
    return postgres_url.rsplit("/", 1)[0] + f"/{name}"
