"""The runbook state machine, as tables: (state, outcome) -> next state and what is recorded."""
from datetime import datetime, timezone

import pytest

from bot.domain.runbook_rules import (
    FAILED_CAUSE, REQUESTED_CAUSE, ROLLBACK, STEP, Entry, InvalidMove, Outcome, RunState, advance, allowed,
    completed_cleanly,
)

AT = datetime(2026, 11, 29, 14, 5, tzinfo=timezone.utc)
O = Outcome


def go(state, outcome, *, rollback=True, reason=None):
    return advance(state, outcome, has_rollback=rollback, by="Alex", at=AT, reason=reason)


# (state, outcome, step has rollback) -> (step, phase, cause, finished, entries recorded)
CASES = [
    (RunState(steps=3), O.DONE, True, (1, STEP, None, False, [Entry.DONE])),
    (RunState(steps=3), O.FAILED, True, (0, ROLLBACK, FAILED_CAUSE, False, [Entry.FAILED])),
    (RunState(steps=3), O.FAILED, False, (1, STEP, None, False, [Entry.FAILED])),
    (RunState(steps=3), O.ROLLBACK, True, (0, ROLLBACK, REQUESTED_CAUSE, False, [Entry.ROLLBACK_STARTED])),
    (RunState(steps=3, phase=ROLLBACK, cause=FAILED_CAUSE), O.ROLLBACK_DONE, True, (1, STEP, None, False, [Entry.ROLLED_BACK])),
    (RunState(steps=3, phase=ROLLBACK, cause=FAILED_CAUSE), O.ROLLBACK_FAILED, True, (1, STEP, None, False, [Entry.ROLLBACK_FAILED])),
    (RunState(steps=3, phase=ROLLBACK, cause=FAILED_CAUSE), O.CONTINUE, True, (1, STEP, None, False, [Entry.NOT_ROLLED_BACK])),
    (RunState(steps=3, phase=ROLLBACK, cause=REQUESTED_CAUSE), O.CONTINUE, True, (0, STEP, None, False, [Entry.NOT_ROLLED_BACK])),
    (RunState(steps=3, phase=ROLLBACK, cause=REQUESTED_CAUSE), O.ROLLBACK_DONE, True, (1, STEP, None, False, [Entry.ROLLED_BACK])),
    # the bring-back step (index == steps): Done completes; Failed stays; Skip ends the run
    (RunState(steps=3, step=3), O.DONE, False, (3, STEP, None, True, [Entry.DONE])),
    (RunState(steps=3, step=3), O.FAILED, False, (3, STEP, None, False, [Entry.FAILED])),
    (RunState(steps=3, step=3), O.FAILED, True, (3, STEP, None, False, [Entry.FAILED])),
    (RunState(steps=3, step=2), O.DONE, True, (3, STEP, None, False, [Entry.DONE])),
]


@pytest.mark.parametrize("state,outcome,rollback,expected", CASES)
def test_next_state(state, outcome, rollback, expected):
    after, records = go(state, outcome, rollback=rollback)
    assert (after.step, after.phase, after.cause, after.finished, [r.entry for r in records]) == expected
    assert after.records == state.records + records
    assert all(r.step == state.step and r.by == "Alex" and r.at == AT for r in records)


def test_skip_needs_a_reason_and_records_it():
    with pytest.raises(InvalidMove, match="needs a reason"):
        go(RunState(steps=2), O.SKIP, reason="   ")
    with pytest.raises(InvalidMove, match="needs a reason"):
        go(RunState(steps=2), O.SKIP)
    after, (rec,) = go(RunState(steps=2), O.SKIP, reason="  not  on\nprem ")
    assert (after.step, rec.entry, rec.reason) == (1, Entry.SKIPPED, "not on prem")


def test_skipping_the_bring_back_step_ends_the_run_without_a_clean_completion():
    after, _ = go(RunState(steps=1, step=1), O.SKIP, reason="component retired")
    assert after.finished and not completed_cleanly(after)
    done, _ = go(RunState(steps=1, step=1), O.DONE)
    assert done.finished and completed_cleanly(done)


# what each state offers: (state, step has rollback) -> outcomes
OFFERED = [
    (RunState(steps=2), True, (O.DONE, O.FAILED, O.SKIP, O.ROLLBACK)),
    (RunState(steps=2), False, (O.DONE, O.FAILED, O.SKIP)),
    (RunState(steps=2, step=2), True, (O.DONE, O.FAILED, O.SKIP)),
    (RunState(steps=2, phase=ROLLBACK, cause=FAILED_CAUSE), True, (O.ROLLBACK_DONE, O.ROLLBACK_FAILED, O.CONTINUE)),
    (RunState(steps=2, step=2, finished=True), False, ()),
]


@pytest.mark.parametrize("state,rollback,expected", OFFERED)
def test_offered_outcomes(state, rollback, expected):
    assert allowed(state, has_rollback=rollback) == expected


INVALID = [
    (RunState(steps=2), O.ROLLBACK, False, "has no rollback"),
    (RunState(steps=2, step=2), O.ROLLBACK, True, "bring-back step has no rollback"),
    (RunState(steps=2), O.ROLLBACK_DONE, True, "no rollback open"),
    (RunState(steps=2), O.CONTINUE, True, "no rollback open"),
    (RunState(steps=2, phase=ROLLBACK, cause=FAILED_CAUSE), O.DONE, True, "rollback is open"),
    (RunState(steps=2, phase=ROLLBACK, cause=FAILED_CAUSE), O.SKIP, True, "rollback is open"),
    (RunState(steps=2, step=2, finished=True), O.DONE, False, "finished"),
]


@pytest.mark.parametrize("state,outcome,rollback,message", INVALID)
def test_moves_that_do_not_apply_are_refused(state, outcome, rollback, message):
    with pytest.raises(InvalidMove, match=message):
        go(state, outcome, rollback=rollback, reason="why")


def test_a_whole_walk():
    state = RunState(steps=2)
    state, _ = go(state, O.FAILED)                     # step 1 fails, rollback offered
    state, _ = go(state, O.ROLLBACK_DONE)              # rolled back, on to step 2
    state, _ = go(state, O.SKIP, reason="not needed")  # step 2 skipped
    state, _ = go(state, O.FAILED, rollback=False)     # bring-back fails: stays
    state, _ = go(state, O.DONE, rollback=False)       # then it works
    assert state.finished and completed_cleanly(state)
    assert [(r.step, r.entry) for r in state.records] == [
        (0, Entry.FAILED), (0, Entry.ROLLED_BACK), (1, Entry.SKIPPED), (2, Entry.FAILED), (2, Entry.DONE)]
