"""`make run`: the bot in local dev mode, plus Microsoft 365 Agents Playground to chat with it.

Starts `app.py --dev` on 127.0.0.1 (port 3978 or FIREBREAK_PORT) with the default embedded
SQLite database and the example plan, waits for /healthz, then starts the Playground (a local
Teams emulator from npm, see package.json) pointed at it and prints the one URL to open.
Ctrl-C or SIGTERM stops both and exits 0; if either child dies, the other is stopped and the
script exits non-zero, showing the dead child's last log lines.
"""
from __future__ import annotations

import collections
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLAYGROUND_CLI = ROOT / "node_modules" / "@microsoft" / "m365agentsplayground" / "cli.js"
PLAYGROUND_PORT = 56150
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
TAIL_LINES = 40

# Direct HTTP to our own children: never through a proxy set in the environment.
_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


class Child:
    """A child process in its own process group whose output is echoed with a prefix and kept."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str],
                 quiet: tuple[str, ...] = ()):
        self.name = name
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self.lines: list[str] = []  # every line, for callers waiting for one (e.g. "Listening on")
        self._quiet = quiet
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
            start_new_session=True,  # own process group: Ctrl-C reaches us, we stop it in order
            preexec_fn=_die_with_parent,
        )
        self._reader = threading.Thread(target=self._pump, name=f"{name}-output", daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.rstrip("\n")
            with self._lock:
                self.tail.append(line)
                self.lines.append(line)
            if not any(marker in line for marker in self._quiet):
                print(f"[{self.name}] {line}", flush=True)

    def seen(self, prefix: str) -> str | None:
        with self._lock:
            return next((line for line in self.lines if line.startswith(prefix)), None)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        """SIGTERM the whole process group, then SIGKILL what is left after a grace period."""
        if self.proc.poll() is None:
            _signal_group(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                say(f"{self.name} did not stop within {STOP_TIMEOUT_S:.0f} s; killing it")
        # The leader may be gone while a grandchild still holds the group: kill the rest.
        _signal_group(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._reader.join(timeout=2)

    def last_lines(self) -> str:
        with self._lock:
            return "\n".join(f"    {line}" for line in self.tail) or "    (no output)"


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:
    """In the child: get SIGTERM if this script dies without cleaning up (e.g. SIGKILL)."""
    if _libc is not None:
        _libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Stop(Exception):
    """Raised in the main loop when SIGINT/SIGTERM asks us to stop."""


class ChildDied(Exception):
    def __init__(self, child: Child):
        super().__init__(child.name)
        self.child = child


def get_text(url: str) -> str | None:
    try:
        with _http.open(url, timeout=2) as response:
            return response.read().decode("utf-8", "replace")
    except OSError:
        return None


def wait_until(what: str, ready, children: list[Child], stop: threading.Event,
               timeout: float = START_TIMEOUT_S):
    """Poll `ready()` until truthy; give up if a child dies, we are asked to stop, or on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        if stop.is_set():
            raise Stop()
        for child in children:
            if not child.alive():
                raise ChildDied(child)
        value = ready()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready after {timeout:.0f} s")
        stop.wait(0.2)


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    no_proxy = ",".join(filter(None, [env.get("NO_PROXY", ""), "127.0.0.1", "localhost"]))
    env.update(NO_PROXY=no_proxy, no_proxy=no_proxy, PYTHONUNBUFFERED="1", **extra)
    return env


def ensure_playground(stop: threading.Event) -> str | None:
    """Returns why the Playground cannot run, or None when it can (running `npm ci` if needed)."""
    if not shutil.which("node") or not shutil.which("npm"):
        return "Node.js/npm not found"
    if PLAYGROUND_CLI.exists():
        return None
    say("Agents Playground is not installed yet: running `npm ci` (pinned in package-lock.json)")
    result = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=ROOT,
                            stdin=subprocess.DEVNULL, check=False)
    if stop.is_set():
        raise Stop()
    if result.returncode != 0 or not PLAYGROUND_CLI.exists():
        return f"`npm ci` failed (exit {result.returncode})"
    return None


def how_to_connect(bot_url: str, reason: str) -> None:
    say(f"Firebreak is running alone at {bot_url} (dev mode, no authentication). {reason}, "
        "so there is no local Teams emulator. To chat with the bot: install Node.js 20 and run "
        "`npm ci` (or `make tools`), then `make run` again; or connect a real Teams tenant "
        "(see README). Ctrl-C stops.")


def main() -> int:
    port = int(os.environ.get("FIREBREAK_PORT") or 3978)
    bot_url = f"http://127.0.0.1:{port}/api/messages"
    stop = threading.Event()

    def request_stop(signum, _frame):
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    children: list[Child] = []
    try:
        plan = os.environ.get("FIREBREAK_PLAN") or str(ROOT / "plans" / "example.yaml")
        env = child_env(FIREBREAK_PLAN=plan)
        database = env.get("DATABASE_URL") or "sqlite:///./data/firebreak.db (default)"
        say(f"starting Firebreak in dev mode on 127.0.0.1:{port} (database {database})")
        bot = Child("bot", [sys.executable, "app.py", "--dev", "--port", str(port)], env=env)
        children.append(bot)
        wait_until("the bot (/healthz)",
                   lambda: get_text(f"http://127.0.0.1:{port}/healthz") is not None, children, stop)

        missing = ensure_playground(stop)
        if missing:
            how_to_connect(bot_url, missing)
        else:
            playground = Child(
                "playground",
                ["node", str(PLAYGROUND_CLI), "start", "-e", bot_url, "-c", "msteams",
                 "--disable-telemetry", "-p", str(PLAYGROUND_PORT)],
                env=child_env(TEAMSAPPTESTER_BROWSER="none"),
                # Its own "open http://localhost:..." line would compete with ours.
                quiet=("Listening on", "is being launched for you"),
            )
            children.append(playground)
            # It silently falls back to a random port when 56150 is taken: read the real one.
            listening = wait_until("Agents Playground", lambda: playground.seen("Listening on "),
                                   children, stop)
            ui_port = int(listening.split()[-1])
            ping = f"http://127.0.0.1:{ui_port}/_debug/ping"
            wait_until("Agents Playground (/_debug/ping)",
                       lambda: (get_text(ping) or "").strip() == "pong", children, stop)
            note = "" if ui_port == PLAYGROUND_PORT else f" (port {PLAYGROUND_PORT} was busy)"
            say(f"Open http://127.0.0.1:{ui_port} in your browser to chat with Firebreak{note}. "
                "Ctrl-C stops.")

        while not stop.wait(0.5):
            for child in children:
                if not child.alive():
                    raise ChildDied(child)
        raise Stop()
    except Stop:
        say("stopping")
        return 0
    except ChildDied as died:
        child = died.child
        print(f"\n==> {child.name} exited unexpectedly (exit {child.proc.returncode}); "
              f"its last lines:\n{child.last_lines()}", file=sys.stderr, flush=True)
        if child.name == "playground":
            _print_playground_log()
        return 1
    except TimeoutError as exc:
        print(f"\n==> {exc}; last lines:", file=sys.stderr)
        for child in children:
            print(f"  [{child.name}]\n{child.last_lines()}", file=sys.stderr)
        return 1
    finally:
        # Playground first: it would otherwise log errors about the bot going away.
        for child in reversed(children):
            child.stop()


def _print_playground_log() -> None:
    """A bad .m365agentsplayground.yml makes it exit silently; the reason is in devTools/*.log."""
    for log in sorted((ROOT / "devTools").glob("*.log")):
        lines = log.read_text(errors="replace").splitlines()[-TAIL_LINES:]
        shown = "\n".join(f"    {line}" for line in lines)
        print(f"  {log.relative_to(ROOT)}:\n{shown}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
