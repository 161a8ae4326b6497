"""End to end: triage an incident in its channel thread by clicking the choice buttons, to a
severity decision (Agents Playground's "My Team", real Chromium).

The incident is declared in General (the incidents channel), so its living card is a post whose
thread is the incident's space; `triage` is said in that thread and every question is answered
there, by button, except "how many", which is typed.
"""
from __future__ import annotations

import re

import pytest

from tests.e2e.test_playground_team import GENERAL, USER_NAME, fact, firebreak_bot, in_chat, open_channel  # noqa: F401

pytestmark = pytest.mark.realpeer

TITLE = "INC-1: Work orders not syncing"


def test_triage_in_a_channel_thread_to_a_severity_decision(playground_ui):
    from playwright.sync_api import expect

    ui = playground_ui
    page = ui.page
    new_post = page.get_by_text("Start a new post", exact=True)
    general_done = in_chat(page, re.compile(r"^Done: #General is now the incidents channel"))

    open_channel(ui, GENERAL, lambda: expect(new_post).to_be_visible(timeout=5_000))
    ui.post_in_channel("setup incidents")
    expect(general_done).to_be_visible()
    ui.post_in_channel("declare Work orders not syncing sev3")
    card = ui.wait_for_card(TITLE)
    ui.wait_for_text_in(card, "DECLARED")
    thread = ui.channel_post(TITLE)

    def click(title: str) -> None:
        """Press the newest choice button with this title (each question is a new card)."""
        button = thread.get_by_role("button", name=title, exact=True).last
        expect(button).to_be_visible()
        button.click()

    def asked(text: str) -> None:
        expect(thread.get_by_text(text, exact=False).last).to_be_visible()

    ui.reply_in_thread(thread, "triage")
    asked("What is affected?")
    ui.screenshot("triage-1-asked")
    click("Azure SQL Database (scheduling and parts inventory)")
    asked("Who is affected?")
    click("A region or a large group of users")
    asked("Roughly how many people are affected?")
    ui.reply_in_thread(thread, "about 300 technicians")
    for number in range(1, 5):
        asked(f"Emergency checklist, {number} of 4")
        click("Yes" if number == 4 else "No")
    asked("Proposed severity: SEV2 · Major")
    ui.screenshot("triage-2-proposal")
    click("Accept SEV2 · Major")
    asked("INC-1 is now SEV2 · Major (was SEV3)")
    asked("Are any of the disaster criteria met?")
    click("No")
    asked("Triage of INC-1 is done: SEV2.")
    expect(fact(ui.card(TITLE), "Severity")).to_contain_text("SEV2")
    ui.screenshot("triage-3-decided")
