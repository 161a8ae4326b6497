"""Runbooks through the real app: `runbook ID` posts one progress card whose buttons walk the
team's script; one person runs it at a time; the run lives in the database."""
import asyncio

from bot.domain.timeline import describe
from storage import runbook_runs
from tests.http.harness import start_harness
from tests.support import assert_valid_card, card_nodes

MEGAN = ("aad-megan", "Megan Bowen")
BEA = ("aad-bea", "Bea Smith")
RB = "power-automate-flows"


def _texts(card: dict) -> str:
    return str(card)


def _action(card: dict, verb: str) -> dict:
    """The data of the button with this verb, wherever it is on the card (ShowCard, ActionSet)."""
    found = [node["data"] for node in card_nodes(card) if node.get("verb") == verb]
    assert found, f"no {verb} button on the card"
    return dict(found[0])


async def _start(harness, *, declare: bool = True) -> dict:
    if declare:
        await harness.say(f"declare Flows failing sev2 service:{RB}")
    posts = len(harness.sent())
    await harness.say(f"runbook {RB}")
    assert len(harness.sent()) == posts + 1, "one progress card, nothing else"
    card = harness.cards()[-1]
    assert_valid_card(card)
    assert "Step 1 of 4: Check the flow run history" in _texts(card) and "Run by Alex Wilber" in _texts(card)
    return card


async def _press(harness, card: dict, verb: str, user=None, **extra) -> dict:
    data = {**_action(card, verb), **extra}
    status, body = await harness.press(verb, data, **({"user": user} if user else {}))
    assert status == 200 and body["type"] == "application/vnd.microsoft.card.adaptive", body
    assert_valid_card(body["value"])
    return body["value"]


async def _kinds(harness) -> list[str]:
    return [e.kind for e in await harness.timeline(1) if e.kind.startswith("runbook.") or e.kind == "refused"]


async def test_list_then_done_to_the_end_with_every_copy_updated(harness):
    await harness.say(f"declare Flows failing sev2 service:{RB}")
    await harness.say("runbook")
    listing = _texts(harness.cards()[-1])
    assert listing.index("Power Automate flows triage") < listing.index("On-premises data gateway triage")
    assert "this incident's service" in listing and "No runbook has been run" in listing
    card = await _start(harness, declare=False)
    updates = len(harness.updates())
    card = await _press(harness, card, "runbook.done")
    assert "Step 2 of 4: Check the connections" in _texts(card) and "✅ done by Alex Wilber" in _texts(card)
    # the posted card is updated in place for everyone else
    assert len(harness.updates()) == updates + 1
    assert "Step 2 of 4" in str(harness.updates()[-1]["attachments"][0]["content"])
    card = await _press(harness, card, "runbook.done")
    assert "Roll back" in _texts(card)  # step 3 has a rollback in the plan
    card = await _press(harness, card, "runbook.done")
    assert "Last step (4 of 4): bring the component back" in _texts(card)
    assert "New runs succeed for 15 minutes" in _texts(card) and "Roll back" not in _texts(card)
    posts = len(harness.sent())
    card = await _press(harness, card, "runbook.done")
    assert "completed: the component is back in the flow (4 done)" in _texts(card)
    assert "runbook.done" not in _texts(card)
    assert await _kinds(harness) == ["runbook.started"] + ["runbook.step_done"] * 4 + ["runbook.completed"]
    await harness.say("runbook")
    assert "finished 2026-" in _texts(harness.cards()[-1])
    await harness.say("timeline")
    shown = str(harness.cards()[-1])
    assert "Runbook: “Power Automate flows triage”, step 4 of 4 (bring back) “Turn the flow on" in shown
    assert "Runbook: “Power Automate flows triage” completed" in shown
    assert len(harness.sent()) == posts + 2  # the list and the timeline, nothing unexpected
    assert not [r for r in await harness.outbox() if "runbook" in str(r.payload)]


async def test_fail_offers_the_rollback_and_rollbacks_are_recorded(harness):
    card = await _start(harness)
    card = await _press(harness, card, "runbook.done")
    card = await _press(harness, card, "runbook.failed")
    text = _texts(card)
    assert "This step failed. Roll it back?" in text and "switch it back to svc-fs-flows" in text
    assert {"Rollback done", "Rollback failed", "Continue without rolling back"} <= {
        a["title"] for a in card["actions"]}
    card = await _press(harness, card, "runbook.rollback_done")
    assert "Step 3 of 4: Turn off the failing flow" in _texts(card)
    card = await _press(harness, card, "runbook.rollback")  # Roll back on a step runs its rollback
    assert "You asked to roll this step back." in _texts(card) and "Turn the flow back on." in _texts(card)
    card = await _press(harness, card, "runbook.continue")  # not rolled back after all: back to the step
    assert "Step 3 of 4" in _texts(card) and "Rollback done" not in _texts(card)
    card = await _press(harness, card, "runbook.failed")
    card = await _press(harness, card, "runbook.rollback_failed")
    assert "Last step (4 of 4)" in _texts(card) and "⚠ rollback failed" in _texts(card)
    assert await _kinds(harness) == [
        "runbook.started", "runbook.step_done", "runbook.step_failed", "runbook.rolled_back",
        "runbook.rollback_started", "runbook.rollback_declined", "runbook.step_failed", "runbook.rollback_failed"]


async def test_skip_needs_a_reason(harness):
    card = await _start(harness)
    skip = _action(card, "runbook.skip")
    assert "reason" not in skip
    refused = await _press(harness, card, "runbook.skip")  # the client let an empty reason through
    assert "Skipping a step needs a reason" in _texts(refused) and "Step 1 of 4" in _texts(refused)
    assert await _kinds(harness) == ["runbook.started"]
    card = await _press(harness, card, "runbook.skip", reason="History already checked by <b>Tier 1</b>")
    assert "Step 2 of 4" in _texts(card) and "⏭ skipped (History already checked by ‹b›Tier 1‹/b›)" in _texts(card)
    [event] = [e for e in await harness.timeline(1) if e.kind == "runbook.step_skipped"]
    assert describe(event) == ("Runbook: “Power Automate flows triage”, step 1 of 4 “Check the flow run history”: "
                               "skipped (reason: History already checked by ‹b›Tier 1‹/b›)")


async def test_a_run_survives_a_restart(tmp_path, connector, clock):
    harness = await start_harness(tmp_path / "fb.db", connector, clock)
    card = await _start(harness)
    card = await _press(harness, card, "runbook.done")
    await harness.client.close()
    harness = await start_harness(tmp_path / "fb.db", connector, clock)
    try:
        card = await _press(harness, card, "runbook.done")  # the card posted before the restart
        assert "Step 3 of 4: Turn off the failing flow" in _texts(card)
        await harness.say(f"runbook {RB}")  # shows the same run, not a second one
        shown = _texts(harness.cards()[-1])
        assert "already has an unfinished run" in shown and "Step 3 of 4" in shown
        runs = await harness.service.read(lambda s: runbook_runs.runs_of(s, 1))
        assert len(runs) == 1 and len(await _kinds(harness)) == 3
    finally:
        await harness.client.close()


async def test_only_the_holder_runs_it_until_someone_takes_over(harness):
    card = await _start(harness)
    refused = await _press(harness, card, "runbook.done", user=MEGAN)
    assert "Alex Wilber runs “Power Automate flows triage” for INC-1" in _texts(refused)
    assert "Take over" in _texts(refused) and "Step 1 of 4" in _texts(refused)
    taken = await _press(harness, refused, "runbook.take", user=MEGAN)
    assert "Run by Megan Bowen" in _texts(taken)
    refused = await _press(harness, card, "runbook.done")  # Alex, on his own copy
    assert "Megan Bowen runs “Power Automate flows triage”" in _texts(refused) and "Step 1 of 4" in _texts(refused)
    card = await _press(harness, taken, "runbook.done", user=MEGAN)
    assert "Step 2 of 4" in _texts(card)
    await harness.say(f"runbook release {RB}")  # Alex does not hold it
    assert "only the person running it may release it" in harness.texts()[-1]
    await harness.say("runbook release", user=MEGAN)
    assert "You released “Power Automate flows triage” (INC-1)" in harness.texts()[-1]
    refused = await _press(harness, card, "runbook.done", user=MEGAN)
    assert "Nobody runs “Power Automate flows triage” now" in _texts(refused)
    await harness.say("runbook take")
    assert harness.texts()[-1] == "You run “Power Automate flows triage” (INC-1) now."
    events = [e for e in await harness.timeline(1) if e.kind in ("refused", "runbook.claimed", "runbook.released")]
    assert [e.kind for e in events] == ["refused", "runbook.claimed", "refused", "refused", "runbook.released",
                                       "refused", "runbook.claimed"]
    assert describe(events[1]) == ("Runbook: “Power Automate flows triage” taken over by Megan Bowen from "
                                   "Alex Wilber, at step 1 of 4 “Check the flow run history”")
    assert [e.kind for e in await harness.timeline(1) if e.kind == "runbook.step_done"] == ["runbook.step_done"]


async def test_two_take_overs_at_once_give_one_winner(harness):
    card = await _start(harness)
    first, second = await asyncio.gather(_press(harness, card, "runbook.take", user=MEGAN),
                                         _press(harness, card, "runbook.take", user=BEA))
    outcomes = [_texts(first), _texts(second)]
    winners = [t for t in outcomes if "just before you" not in t]
    assert len(winners) == 1
    winner = "Megan Bowen" if "Run by Megan Bowen" in winners[0] else "Bea Smith"
    loser = [t for t in outcomes if "just before you" in t][0]
    assert f"{winner} took over or moved on" in loser and f"Run by {winner}" in loser
    [run] = await harness.service.read(lambda s: runbook_runs.runs_of(s, 1))
    assert run.holder_name == winner
    assert (await _kinds(harness)).count("runbook.claimed") == 1


async def test_a_stale_or_repeated_press_is_never_applied_to_another_step(harness):
    card = await _start(harness)
    moved = await _press(harness, card, "runbook.done")
    again = await _press(harness, card, "runbook.done")  # Teams' retry of the same press
    assert "Step 2 of 4" in _texts(again)
    stale = await _press(harness, card, "runbook.failed")  # another button on the old card
    assert "That card was out of date" in _texts(stale) and "Step 2 of 4" in _texts(stale)
    harness.clock.advance(seconds=120)  # past the repeat window: still refused by the step in the button
    stale = await _press(harness, card, "runbook.done")
    assert "That card was out of date" in _texts(stale)
    assert await _kinds(harness) == ["runbook.started", "runbook.step_done"]
    assert "Step 2 of 4" in _texts(moved)


async def test_bad_input_changes_nothing(harness):
    await harness.say("runbook nope")
    assert "Unknown runbook `nope`. The plan defines: power-automate-flows" in harness.texts()[-1]
    await harness.say(f"runbook {RB}")
    assert "No incident lives in this chat" in harness.texts()[-1]
    await harness.say("declare Flows failing sev2")
    await harness.say("runbook take")
    assert "INC-1 has no unfinished runbook run" in harness.texts()[-1]
    await harness.say(f"runbook {RB} extra words")
    assert "Say `runbook ID` with one runbook id" in harness.texts()[-1]
    assert await _kinds(harness) == []


async def test_the_lists_start_button_posts_the_progress_card(harness):
    await harness.say("declare Gateway down sev2 service:on-prem-data-gateway")
    await harness.say("runbook")
    listing = harness.cards()[-1]
    assert_valid_card(listing)
    assert "⭐" in str(listing) and str(listing).index("On-premises data gateway triage") < str(listing).index(
        "Power Automate flows triage")
    posts = len(harness.sent())
    status, body = await harness.press("runbook.start", _action(listing, "runbook.start"))
    assert_valid_card(body["value"])
    assert status == 200 and "at step 1 of 3 “Check the gateway cluster status”; run by Alex Wilber" in str(body)
    assert len(harness.sent()) == posts + 1
    assert "Step 1 of 3: Check the gateway cluster status" in str(harness.cards()[-1])
    [event] = [e for e in await harness.timeline(1) if e.kind == "runbook.started"]
    assert (event.source, event.new_value) == ("card", "on-prem-data-gateway")
