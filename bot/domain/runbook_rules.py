"""The runbook state machine as pure functions: from a run's state and one step outcome to the
next state. No database, no clock, no Teams: `bot.domain.runbooks` loads, applies and stores.

A run walks the runbook's steps in order, then its bring-back step. At each step the person
running it says Done, Failed, Skip (with a reason) or Roll back (when the step has a rollback).
Failing a step that has a rollback, or asking for it, puts the run in the rollback phase, where
the rollback is reported done, failed, or not done; then the run goes on to the next step (or,
for a rollback asked for on a step not yet failed, "not done" goes back to the step). Done at
the bring-back step completes the run; a skip there (with its reason) ends it without the
check. A failed bring-back keeps the run there: the component is not back yet.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from bot.errors import ValidationFailed

STEP = "step"
ROLLBACK = "rollback"
FAILED_CAUSE = "failed"
REQUESTED_CAUSE = "requested"
REASON_LIMIT = 300


class Outcome(StrEnum):
    """What the person running the step reports (a button, or its verb's last word)."""

    DONE = "done"
    FAILED = "failed"
    SKIP = "skip"
    ROLLBACK = "rollback"
    ROLLBACK_DONE = "rollback_done"
    ROLLBACK_FAILED = "rollback_failed"
    CONTINUE = "continue"


class Entry(StrEnum):
    """What is recorded for a step (a step may have several: failed, then rolled back)."""

    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    ROLLBACK_STARTED = "rollback_started"
    ROLLED_BACK = "rolled_back"
    ROLLBACK_FAILED = "rollback_failed"
    NOT_ROLLED_BACK = "not_rolled_back"


@dataclass(frozen=True)
class Record:
    """One thing that happened at a step: what, by whom, when, and the reason for a skip."""

    step: int
    entry: Entry
    by: str
    at: datetime
    reason: str | None = None


@dataclass(frozen=True)
class RunState:
    """Where a run is. `step` counts from 0; `steps` (the number of ordinary steps) is the
    bring-back step."""

    steps: int
    step: int = 0
    phase: str = STEP
    cause: str | None = None
    finished: bool = False
    records: tuple[Record, ...] = ()

    @property
    def at_bring_back(self) -> bool:
        return self.step == self.steps


class InvalidMove(ValidationFailed):
    """The outcome does not apply where the run is (e.g. Skip while a rollback is open)."""


def allowed(state: RunState, *, has_rollback: bool) -> tuple[Outcome, ...]:
    """The outcomes the current step's card offers."""
    if state.finished:
        return ()
    if state.phase == ROLLBACK:
        return (Outcome.ROLLBACK_DONE, Outcome.ROLLBACK_FAILED, Outcome.CONTINUE)
    offered = [Outcome.DONE, Outcome.FAILED, Outcome.SKIP]
    if has_rollback and not state.at_bring_back:
        offered.append(Outcome.ROLLBACK)
    return tuple(offered)


def advance(state: RunState, outcome: Outcome, *, has_rollback: bool, by: str, at: datetime,
            reason: str | None = None) -> tuple[RunState, tuple[Record, ...]]:
    """The next state after `outcome` at the current step, and what it records."""
    if state.finished:
        raise InvalidMove("This runbook run is finished; say `runbook` to see it, or start a new run.")
    if outcome not in allowed(state, has_rollback=has_rollback):
        raise InvalidMove(_not_allowed(state, outcome))
    i = state.step

    def note(entry: Entry, why: str | None = None) -> Record:
        return Record(step=i, entry=entry, by=by, at=at, reason=why)

    if outcome is Outcome.DONE:
        return _next(state, note(Entry.DONE))
    if outcome is Outcome.SKIP:
        why = " ".join((reason or "").split())[:REASON_LIMIT]
        if not why:
            raise InvalidMove("Skipping a step needs a reason: open Skip, write why, then press Skip step "
                              "(or say Done or Failed instead).")
        return _next(state, note(Entry.SKIPPED, why))
    if outcome is Outcome.FAILED:
        failed = note(Entry.FAILED)
        if state.at_bring_back:
            return _stay(state, failed)
        if has_rollback:
            return _stay(replace(state, phase=ROLLBACK, cause=FAILED_CAUSE), failed)
        return _next(state, failed)
    if outcome is Outcome.ROLLBACK:
        return _stay(replace(state, phase=ROLLBACK, cause=REQUESTED_CAUSE), note(Entry.ROLLBACK_STARTED))
    if outcome is Outcome.ROLLBACK_DONE:
        return _next(state, note(Entry.ROLLED_BACK))
    if outcome is Outcome.ROLLBACK_FAILED:
        return _next(state, note(Entry.ROLLBACK_FAILED))
    # CONTINUE: without rolling back
    if state.cause == REQUESTED_CAUSE:
        return _stay(replace(state, phase=STEP, cause=None), note(Entry.NOT_ROLLED_BACK))
    return _next(state, note(Entry.NOT_ROLLED_BACK))


def _stay(state: RunState, record: Record) -> tuple[RunState, tuple[Record, ...]]:
    return replace(state, records=state.records + (record,)), (record,)


def _next(state: RunState, record: Record) -> tuple[RunState, tuple[Record, ...]]:
    """On to the next step; past the bring-back step the run is finished."""
    finished = state.at_bring_back
    moved = replace(state, step=state.step if finished else state.step + 1, phase=STEP, cause=None,
                    finished=finished, records=state.records + (record,))
    return moved, (record,)


def _not_allowed(state: RunState, outcome: Outcome) -> str:
    if state.phase == ROLLBACK:
        return ("A rollback is open at this step: report it with Rollback done, Rollback failed or "
                "Continue without rolling back first.")
    if outcome is Outcome.ROLLBACK:
        what = "the bring-back step" if state.at_bring_back else "this step"
        return f"{what.capitalize()} has no rollback in the plan; press Done, Failed or Skip."
    return "There is no rollback open at this step; press Done, Failed or Skip."


def entries_at(state: RunState, step: int) -> tuple[Record, ...]:
    """What was recorded for one step, in order."""
    return tuple(r for r in state.records if r.step == step)


def completed_cleanly(state: RunState) -> bool:
    """Finished with the bring-back step done (not skipped)."""
    return state.finished and any(r.step == state.steps and r.entry is Entry.DONE for r in state.records)
