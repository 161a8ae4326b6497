"""End to end in a team: set up the channels, declare in a channel, work the incident from its
thread, and watch the announcement (Agents Playground's "My Team").

Real bot process (dev mode, fresh SQLite), real Playground, real Chromium driving its web UI.
Only the plan owner and the tier1 group may run `setup`; the Playground's user is Alex Wilber
(alexw@example.com, the UPN TeamsInfo.get_member returns), so the bot runs on a copy of the
example plan with Alex added to `people` and to tier1.
"""
from __future__ import annotations

import re
import time

import pytest
import yaml

from tests.e2e.conftest import _track
from tests.e2e.playground import ROOT, Bot, start_bot

pytestmark = pytest.mark.realpeer

USER_NAME = "Alex Wilber"
USER_EMAIL = "alexw@example.com"
GENERAL = "My Team - General"
ANNOUNCEMENTS = "My Team - Announcements"
TITLE = "INC-1: Payments API down"


def plan_with_playground_user(path):
    """The example plan, with the Playground's current user as a person and a tier1 member."""
    plan = yaml.safe_load((ROOT / "plans" / "example.yaml").read_text(encoding="utf-8"))
    plan["people"].append({"email": USER_EMAIL, "name": USER_NAME, "time_zone": "Europe/London"})
    tier1 = next(g for g in plan["groups"] if g["id"] == "tier1")
    tier1["members"].append(USER_EMAIL)
    path.write_text(yaml.safe_dump(plan, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def firebreak_bot(e2e_tools, tmp_path, request) -> Bot:
    """As conftest's, but on the plan where the Playground's user may run `setup`."""
    workdir = tmp_path / "bot"
    workdir.mkdir()
    plan = plan_with_playground_user(tmp_path / "plan.yaml")
    bot = start_bot(workdir, env={"FIREBREAK_PLAN": str(plan)})
    _track(request, bot.process)
    try:
        yield bot
    finally:
        bot.process.stop()


def fact(card, title: str):
    """The value cell next to a FactSet title in a rendered card."""
    return card.locator(".ac-factset tr").filter(has=card.page.get_by_text(title, exact=True)) \
        .locator("td").last if hasattr(card, "page") else None


def test_setup_declare_take_role_in_team(playground_ui):
    from playwright.sync_api import expect  # here, so a machine without it skips (not errors)

    ui = playground_ui
    page = ui.page
    t0 = time.monotonic()
    timings: dict[str, float] = {}

    # --- setup: General is the incidents channel, Announcements the announcements channel ---
    ui.open_conversation(GENERAL)
    ui.post_in_channel("setup incidents")
    expect(page.get_by_text(re.compile(r"^Done: #General is now the incidents channel"))).to_be_visible()
    ui.open_conversation(ANNOUNCEMENTS)
    ui.post_in_channel("setup announcements")
    expect(page.get_by_text(re.compile(r"^Done: #Announcements is now the announcements channel"))).to_be_visible()
    ui.screenshot("team-1-setup")
    timings["setup"] = time.monotonic() - t0

    # --- declare in General: the card opens a new post (thread) in General ---
    ui.open_conversation(GENERAL)
    t_declare = time.monotonic()
    ui.post_in_channel("declare Payments API down sev1")
    expect(page.get_by_text(re.compile(r"INC-1 declared"))).to_be_visible(timeout=30_000)
    card = ui.wait_for_card(TITLE)
    timings["declare->card"] = time.monotonic() - t_declare
    ui.screenshot("team-2-thread")
    print("timings", timings)
    print(page.get_by_role("region", name="Chat and Teams Channel").aria_snapshot())
    print(page.locator("body").aria_snapshot()[-6000:])
