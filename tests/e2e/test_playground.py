"""End to end: a responder declares and acknowledges an incident in Teams (Agents Playground).

Real bot process (dev mode, fresh SQLite), real Playground, real Chromium driving its web UI.
"""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.realpeer


def test_declare_then_acknowledge_in_personal_chat(playground_ui):
    from playwright.sync_api import expect  # here, so a machine without it skips (not errors)

    ui = playground_ui

    ui.send("declare Payments API down sev1")
    card = ui.wait_for_card("INC-1: Payments API down")
    ui.wait_for_text_in(card, "DECLARED")
    expect(ui.card_button(card, "Acknowledge")).to_be_visible()
    ui.screenshot("personal-chat-1-declared")

    ui.click_card_button(card, "Acknowledge")

    # Action.Execute answers with the refreshed card, which replaces this one in place.
    ui.wait_for_text_in(card, "ACKNOWLEDGED")
    expect(card.get_by_text("DECLARED", exact=True)).to_have_count(0)
    expect(ui.card_button(card, "Acknowledge")).to_have_count(0)
    expect(ui.card_button(card, "Resolve")).to_be_visible()
    # Updated in place, not posted again.
    expect(ui.page.locator(ui.CARD).filter(has_text="INC-1")).to_have_count(1)
    ui.screenshot("personal-chat-2-acknowledged")
