"""Fixtures for end-to-end tests against the real bot, the real Agents Playground and Chromium.

Every test here is a real-peer test (marked `realpeer` automatically). Each test gets its own bot
(fresh SQLite file), its own Playground pointed at it, and its own browser profile; all of them
are torn down even when the test fails, and a failing test's report carries the bot's and the
Playground's logs, the browser console and a screenshot under test-output/e2e/.

Reuse: request `playground_ui` for a ready page on the personal chat, or `firebreak_bot`,
`agents_playground` and `browser_context` separately (e.g. `start_playground(..., config=...)`
for a custom team roster).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.e2e.playground import (
    SCREENSHOTS, Bot, ManagedProcess, Playground, PlaygroundUI, launch_browser, missing_tools,
    start_bot, start_playground,
)

_PROCESSES = pytest.StashKey[list]()
_UI = pytest.StashKey[PlaygroundUI]()
_FAILED = pytest.StashKey[bool]()
_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.realpeer)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    item.stash[_FAILED] = True
    for process in item.stash.get(_PROCESSES, []):
        report.sections.append((f"{process.name} log", process.describe()))
    ui = item.stash.get(_UI, None)
    if ui is not None and ui.console:
        report.sections.append(("browser console", "\n".join(ui.console[-80:])))


def require_tools() -> None:
    """Skip (naming the install command) when a tool is missing; in CI, fail instead."""
    missing = missing_tools()
    if not missing:
        return
    message = "missing for the Agents Playground tests: " + "; ".join(missing)
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI must have every real-peer tool; .ci/run runs `make test`)",
                    pytrace=False)
    pytest.skip(message)


def _track(request, process: ManagedProcess) -> None:
    request.node.stash.setdefault(_PROCESSES, []).append(process)


@pytest.fixture
def e2e_tools() -> None:
    require_tools()


@pytest.fixture
def firebreak_bot(e2e_tools, tmp_path, request) -> Bot:
    """The real bot (`app.py --dev`) on a free port with a fresh SQLite database."""
    workdir = tmp_path / "bot"
    workdir.mkdir()
    bot = start_bot(workdir)
    _track(request, bot.process)
    try:
        yield bot
    finally:
        bot.process.stop()


@pytest.fixture
def agents_playground(firebreak_bot, tmp_path, request) -> Playground:
    """The real Agents Playground, its emulated Bot Connector pointed at `firebreak_bot`."""
    workdir = tmp_path / "playground"
    workdir.mkdir()
    playground = start_playground(workdir, firebreak_bot.messages_url)
    _track(request, playground.process)
    try:
        yield playground
    finally:
        playground.process.stop()


@pytest.fixture
def browser_context(e2e_tools, tmp_path):
    """Debian Chromium via Playwright with a fresh profile directory."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = launch_browser(playwright, tmp_path / "chromium-profile")
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def playground_ui(agents_playground, browser_context, request) -> PlaygroundUI:
    """The Playground's web UI, loaded, with the personal chat ready for input."""
    page = browser_context.pages[0] if browser_context.pages else browser_context.new_page()
    ui = PlaygroundUI(page, agents_playground.url)
    request.node.stash[_UI] = ui
    ui.open()
    yield ui
    if request.node.stash.get(_FAILED, False):
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
        try:
            ui.screenshot(f"{name}-failure")
        except Exception as exc:  # the page may be gone; the logs still tell the story
            print(f"could not save a failure screenshot under {SCREENSHOTS}: {exc}")
