"""Helpers for end-to-end tests: the real bot, the real Agents Playground, and its web UI.

Process helpers start each program in its own process group with its output in a log file, wait
for it to answer over HTTP (failing early, with its log, if it dies), and stop the whole group.
`PlaygroundUI` wraps a Playwright page on the Playground's web UI with the few actions a test
needs: pick a conversation, send a message, find an Adaptive Card by its text, press its buttons.

DOM notes (Playground 0.2.28): the message box is a Lexical editor (`[data-lexical-editor]`);
conversations in the left rail are `role=treeitem` named "Personal Chat", "Group Chat",
"My Team - General", "My Team - Announcements"; each Adaptive Card renders as `.ac-adaptiveCard`
with its buttons as `role=button` named by their title; an Action.Execute response replaces the
card in place. The UI starts a fresh conversation (and a fresh welcome) on every page load.
In a channel there is one "Start a new post" editor at the top and one reply editor per post
(each post with its replies is a `role=group`); like Teams, only messages that @mention the bot
reach it: typing "@Test" opens a picker whose entries are `role=menuitem`.
Playwright is imported lazily so that collecting these tests works on a machine without it.
"""
from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLAYGROUND_CLI = ROOT / "node_modules" / "@microsoft" / "m365agentsplayground" / "cli.js"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
SCREENSHOTS = ROOT / "test-output" / "e2e"

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
UI_TIMEOUT_MS = 30_000

_direct_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url: str, timeout: float = 2.0) -> str | None:
    """The body of a 2xx answer, or None when the server is not (yet) answering."""
    try:
        with _direct_http.open(url, timeout=timeout) as response:
            return response.read().decode("utf-8", "replace")
    except OSError:
        return None


def _die_with_parent() -> None:
    # In the child: SIGTERM it if the test runner dies before tearing it down.
    if _libc is not None:
        _libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class ProcessFailed(AssertionError):
    """A managed process died or never became ready; the message carries its log."""


@dataclass
class ManagedProcess:
    """A child process in its own process group, its stdout and stderr in `log_path`."""

    name: str
    argv: list[str]
    log_path: Path
    cwd: Path = ROOT
    env: dict[str, str] = field(default_factory=dict)
    extra_logs: list[Path] = field(default_factory=list)  # other files worth showing on failure
    proc: subprocess.Popen | None = None

    def start(self) -> ManagedProcess:
        env = dict(os.environ)
        no_proxy = ",".join(filter(None, [env.get("NO_PROXY", ""), "127.0.0.1", "localhost"]))
        env.update(NO_PROXY=no_proxy, no_proxy=no_proxy, PYTHONUNBUFFERED="1")
        env.update(self.env)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                self.argv, cwd=self.cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent,
            )
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self, last_lines: int = 80) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(lines[-last_lines:]) or "(empty log)"

    def describe(self) -> str:
        code = None if self.proc is None else self.proc.poll()
        state = "running" if code is None else f"exited with {code}"
        text = f"--- {self.name} ({state}; log {self.log_path}) ---\n{self.log_text()}"
        for extra in self.extra_logs:
            if extra.exists():
                tail = "\n".join(extra.read_text(errors="replace").splitlines()[-40:])
                text += f"\n--- {self.name}: {extra} ---\n{tail}"
        return text

    def wait_until(self, what: str, ready, timeout: float = START_TIMEOUT_S):
        """Poll `ready()` until truthy; raise ProcessFailed (with the log) on death or timeout."""
        deadline = time.monotonic() + timeout
        while True:
            value = ready()
            if value:
                return value
            if not self.alive:
                raise ProcessFailed(f"{self.name} exited before {what}\n{self.describe()}")
            if time.monotonic() > deadline:
                raise ProcessFailed(
                    f"{self.name}: no {what} after {timeout:.0f} s\n{self.describe()}")
            time.sleep(0.1)  # polling interval, not synchronisation

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it after a grace period; safe to call twice."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            _killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pass
        _killpg(self.proc.pid, signal.SIGKILL)  # whatever the leader left behind in its group
        self.proc.wait()


def _killpg(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


@dataclass
class Bot:
    process: ManagedProcess
    port: int

    @property
    def messages_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/messages"


def start_bot(workdir: Path, *, port: int | None = None, env: dict[str, str] | None = None) -> Bot:
    """`app.py --dev` on a free port with a fresh SQLite file in `workdir`.

    Returns once /healthz answers (aiohttp runs the migrations before it listens).
    """
    port = port or free_port()
    settings = {"DATABASE_URL": f"sqlite:///{workdir / 'firebreak.db'}",
                "FIREBREAK_PLAN": str(ROOT / "plans" / "example.yaml")}
    settings.update(env or {})
    process = ManagedProcess(
        name="bot", argv=[sys.executable, str(ROOT / "app.py"), "--dev", "--port", str(port)],
        log_path=workdir / "bot.log", env=settings,
    ).start()
    try:
        process.wait_until("/healthz", lambda: http_get(f"http://127.0.0.1:{port}/healthz"))
    except BaseException:
        process.stop()
        raise
    return Bot(process=process, port=port)


@dataclass
class Playground:
    process: ManagedProcess
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_playground(workdir: Path, bot_messages_url: str, *, port: int | None = None,
                     config: Path | None = None) -> Playground:
    """Agents Playground pointed at the bot, on a free port; returns once /_debug/ping says pong.

    Runs in `workdir` so its devTools/ log lands there, with its built-in team, chats and users
    unless `config` names a `.m365agentsplayground.yml`.
    """
    requested = port or free_port()
    # A bad config makes it exit silently; the reason goes to this log file.
    own_log = workdir / "devTools" / "m365agentsplayground.log"
    env = {"TEAMSAPPTESTER_BROWSER": "none", "M365_AGENTS_PLAYGROUND_LOGFILE": str(own_log)}
    if config is not None:
        env["M365_AGENTS_PLAYGROUND_CONFIG_PATH"] = str(config)
    process = ManagedProcess(
        name="playground",
        argv=["node", str(PLAYGROUND_CLI), "start", "-e", bot_messages_url, "-c", "msteams",
              "--disable-telemetry", "-p", str(requested)],
        log_path=workdir / "playground.log", cwd=workdir, env=env, extra_logs=[own_log],
    ).start()
    try:
        # If the port was taken meanwhile it silently picks a random one: read the real one.
        match = process.wait_until("'Listening on <port>'",
                                   lambda: re.search(r"Listening on (\d+)", process.log_text()))
        port = int(match.group(1))
        ping = f"http://127.0.0.1:{port}/_debug/ping"
        process.wait_until("/_debug/ping == pong", lambda: (http_get(ping) or "").strip() == "pong")
    except BaseException:
        process.stop()
        raise
    return Playground(process=process, port=port)


def missing_tools() -> list[str]:
    """What the Playground tests need and this machine lacks (empty when all is there)."""
    missing = []
    if shutil.which("node") is None:
        missing.append("Node.js (install Node.js 20 and npm, then `make tools`)")
    elif not PLAYGROUND_CLI.exists():
        missing.append(f"Agents Playground ({PLAYGROUND_CLI.relative_to(ROOT)}; run `make tools`)")
    if not CHROMIUM.exists():
        missing.append(f"Chromium ({CHROMIUM}; run `make tools`)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("the playwright Python package (run `make tools`)")
    return missing


# The UI asks a CDN for fonts and an animation worklet; the machine has no such network and the
# test needs none of it: fail those requests at once instead of waiting on DNS.
_NOT_LOCAL = re.compile(r"^(?!(https?|wss?)://(127\.0\.0\.1|localhost)[:/])[a-z]+://")


def launch_browser(playwright, user_data_dir: Path):
    """Debian's Chromium through Playwright, with a fresh profile (never a downloaded browser)."""
    context = playwright.chromium.launch_persistent_context(
        str(user_data_dir), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
        viewport={"width": 1400, "height": 1000}, timeout=60_000,
    )
    context.route(_NOT_LOCAL, lambda route: route.abort("blockedbyclient"))
    return context


def _expect():
    from playwright.sync_api import expect

    return expect


class PlaygroundUI:
    """The Playground's web UI in one Playwright page."""

    EDITOR = '[data-lexical-editor="true"]'
    CARD = ".ac-adaptiveCard"

    def __init__(self, page, url: str):
        self.page = page
        self.url = url
        self.console: list[str] = []
        page.on("console", lambda msg: self.console.append(f"{msg.type}: {msg.text}"))
        page.on("pageerror", lambda exc: self.console.append(f"pageerror: {exc}"))

    def open(self) -> PlaygroundUI:
        """Load the UI; wait until the message box takes input (the personal chat is selected)."""
        expect = _expect()
        # domcontentloaded already takes a few seconds: the UI is one 9 MB script.
        self.page.goto(self.url, wait_until="domcontentloaded", timeout=UI_TIMEOUT_MS)
        editor = self.page.locator(self.EDITOR).first
        expect(editor).to_be_visible(timeout=UI_TIMEOUT_MS)
        expect(editor).to_have_attribute("contenteditable", "true", timeout=UI_TIMEOUT_MS)
        return self

    def open_conversation(self, name: str) -> None:
        """Select a conversation in the left rail: "Personal Chat", "Group Chat",
        "My Team - General", "My Team - Announcements"."""
        self.page.get_by_role("treeitem", name=name, exact=True).click(timeout=UI_TIMEOUT_MS)
        _expect()(self.page.locator(self.EDITOR).first).to_be_visible(timeout=UI_TIMEOUT_MS)

    def message_box(self):
        """The chat's message box (personal or group chat; in a channel, the new-post box)."""
        return self.page.locator(self.EDITOR).first

    def send(self, text: str, *, box=None, mention: str | None = None) -> None:
        """Type into a message box (default: `message_box()`) and press Enter.

        `mention` first inserts an @mention of that member (e.g. "Test Bot", which a channel
        message needs to reach the bot) through the mention picker. Returns once the box is empty
        again, i.e. the Playground took the message.
        """
        expect = _expect()
        box = box if box is not None else self.message_box()
        box.click()
        if mention:
            box.press_sequentially("@" + mention[:4])
            # The picker's items are named "<avatar label> <name>": match on their text instead.
            self.page.get_by_role("menuitem").filter(has_text=mention).first.click(timeout=UI_TIMEOUT_MS)
            box.press_sequentially(" ")
        box.press_sequentially(text)
        expect(box).to_contain_text(text, timeout=UI_TIMEOUT_MS)
        box.press("Enter")
        expect(box).to_have_text("", timeout=UI_TIMEOUT_MS)
        if not mention:
            sent = self.page.get_by_text(text, exact=True).last
            expect(sent).to_be_visible(timeout=UI_TIMEOUT_MS)

    def post_in_channel(self, text: str, *, mention: str | None = "Test Bot") -> None:
        """Start a new post in the open channel, @mentioning the bot by default."""
        self.send(text, box=self.page.locator(self.EDITOR).first, mention=mention)

    def channel_post(self, *texts: str):
        """Locator for the newest channel post (with its replies) containing all `texts`."""
        locator = self.page.get_by_role("group")
        for text in texts:
            locator = locator.filter(has_text=text)
        return locator.last

    def reply_in_thread(self, post, text: str, *, mention: str | None = "Test Bot") -> None:
        """Reply under a channel post (a `channel_post(...)` locator)."""
        self.send(text, box=post.locator(self.EDITOR).last, mention=mention)

    def card(self, *texts: str):
        """Locator for the newest Adaptive Card containing all `texts` (case-insensitive)."""
        locator = self.page.locator(self.CARD)
        for text in texts:
            locator = locator.filter(has_text=text)
        return locator.last

    def wait_for_card(self, *texts: str, timeout_ms: int = UI_TIMEOUT_MS):
        """Wait until a card containing all `texts` is visible; return its locator."""
        card = self.card(*texts)
        _expect()(card).to_be_visible(timeout=timeout_ms)
        return card

    @staticmethod
    def card_button(card, title: str):
        return card.get_by_role("button", name=title, exact=True)

    def click_card_button(self, card, title: str) -> None:
        """Press a card action (Action.Execute / Submit / ShowCard) by its title."""
        button = self.card_button(card, title)
        button.click(timeout=UI_TIMEOUT_MS)

    def wait_for_text_in(self, locator, text: str, *, exact: bool = True,
                         timeout_ms: int = UI_TIMEOUT_MS):
        """Wait for `text` as a whole element text (case-sensitive when exact) inside `locator`."""
        found = locator.get_by_text(text, exact=exact)
        _expect()(found.first).to_be_visible(timeout=timeout_ms)
        return found

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path
