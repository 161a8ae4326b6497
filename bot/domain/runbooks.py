"""Runbook runs: start, report a step's outcome, take over, release; each in the caller's
transaction, with the timeline event that records it.

The rules of how a run moves are pure (`bot.domain.runbook_rules`); this module loads a run,
checks who may act and that the card pressed is current, applies the rule, and stores the
result with a compare-and-set on the run's version. Only the person holding a run reports its
steps; anyone may take it over (and the holder may release it), so a run handed over at a shift
change or after a restart goes on at the step it reached.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import lifecycle
from bot.domain.formatting import incident_ref, inert_text
from bot.domain.model import Actor, Source
from bot.domain.runbook_rules import (
    ROLLBACK, Entry, Outcome, Record, RunState, advance, completed_cleanly,
)
from bot.domain.timeline import record
from bot.errors import FirebreakError, InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from bot.plan import Plan
from bot.plan_triage import Runbook
from storage import queries
from storage import runbook_runs as store

MAX_CARDS = 10


class StaleCard(FirebreakError):
    """The card pressed shows an earlier step than the run is at; nothing was applied."""


class Conflict(FirebreakError):
    """Someone else changed the run between reading it and writing it; nothing was applied."""


class Kind:
    """Timeline event kinds of runbook runs."""

    STARTED = "runbook.started"
    CLAIMED = "runbook.claimed"
    RELEASED = "runbook.released"
    COMPLETED = "runbook.completed"
    ENTRY = {
        Entry.DONE: "runbook.step_done",
        Entry.FAILED: "runbook.step_failed",
        Entry.SKIPPED: "runbook.step_skipped",
        Entry.ROLLBACK_STARTED: "runbook.rollback_started",
        Entry.ROLLED_BACK: "runbook.rolled_back",
        Entry.ROLLBACK_FAILED: "runbook.rollback_failed",
        Entry.NOT_ROLLED_BACK: "runbook.rollback_declined",
    }


_SAID = {
    Entry.DONE: "done", Entry.FAILED: "failed", Entry.SKIPPED: "skipped",
    Entry.ROLLBACK_STARTED: "rollback started", Entry.ROLLED_BACK: "rolled back",
    Entry.ROLLBACK_FAILED: "rollback failed", Entry.NOT_ROLLED_BACK: "continued without rolling back",
}


@dataclass(frozen=True)
class StepText:
    """What a step's card shows (an ordinary step, or the bring-back step)."""

    title: str
    instructions: str
    check: str | None
    rollback: str | None
    bring_back: bool


@dataclass(frozen=True)
class RunView:
    """A run with its runbook snapshot and state: everything its card renders from."""

    id: int
    incident_id: int
    runbook: Runbook
    state: RunState
    holder_aad: str | None
    holder_name: str | None
    version: int
    cards: tuple[tuple[str, str], ...]
    started_by: str
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @property
    def total(self) -> int:
        """Steps including the bring-back step."""
        return self.state.steps + 1

    def step_text(self, index: int) -> StepText:
        if index >= self.state.steps:
            b = self.runbook.bring_back
            return StepText(b.title, b.instructions, b.check, None, True)
        s = self.runbook.steps[index]
        return StepText(s.title, s.instructions, s.check, s.rollback, False)

    @property
    def current(self) -> StepText:
        return self.step_text(self.state.step)

    def held_by(self, actor: Actor) -> bool:
        return bool(self.holder_aad) and self.holder_aad == actor.aad_id

    def label(self, index: int) -> str:
        """`step 2 of 4 “Check the connections”` for the timeline and replies."""
        text = self.step_text(index)
        where = f"step {index + 1} of {self.total}" + (" (bring back)" if text.bring_back else "")
        return f"{where} “{text.title}”"


def _records_json(records: tuple[Record, ...]) -> str:
    return json.dumps([{"step": r.step, "entry": r.entry.value, "by": r.by, "at": r.at.isoformat(),
                        "reason": r.reason} for r in records])


def _records(raw: str) -> tuple[Record, ...]:
    return tuple(Record(step=r["step"], entry=Entry(r["entry"]), by=r["by"], at=datetime.fromisoformat(r["at"]),
                        reason=r.get("reason")) for r in json.loads(raw or "[]"))


def to_view(row: store.StoredRun) -> RunView:
    """A stored run as the domain and the cards see it."""
    runbook = Runbook.model_validate_json(row.snapshot_json)
    state = RunState(steps=len(runbook.steps), step=row.step, phase=row.phase, cause=row.rollback_cause,
                     finished=row.status == store.COMPLETED, records=_records(row.records_json))
    return RunView(id=row.id, incident_id=row.incident_id, runbook=runbook, state=state, holder_aad=row.holder_aad,
                   holder_name=row.holder_name, version=row.version,
                   cards=tuple(tuple(c) for c in json.loads(row.cards_json or "[]")),  # type: ignore[misc]
                   started_by=row.started_by_name, started_at=row.started_at, updated_at=row.updated_at,
                   finished_at=row.finished_at)


async def load(session: AsyncSession, run_id: int, *, lock: bool = False) -> RunView:
    """The run, or NotFound that says how to find the runs."""
    row = await store.get(session, run_id, lock=lock)
    if row is None:
        raise NotFound("That runbook run does not exist; say `runbook` in the incident's chat to see its runs.")
    return to_view(row)


async def runs_of(session: AsyncSession, incident_id: int) -> list[RunView]:
    """Every run of an incident, oldest first."""
    return [to_view(r) for r in await store.runs_of(session, incident_id)]


async def pick_unfinished(session: AsyncSession, *, incident_id: int, runbook_id: str | None) -> RunView:
    """The incident's unfinished run of the runbook named, or its only unfinished run."""
    runs = await store.unfinished(session, incident_id=incident_id, runbook_id=runbook_id.lower() if runbook_id else None)
    ref = incident_ref(incident_id)
    if not runs:
        named = f" of `{runbook_id}`" if runbook_id else ""
        raise NotFound(f"{ref} has no unfinished runbook run{named}. Say `runbook` to see the runbooks, "
                       "or `runbook ID` to start one.")
    if len(runs) > 1:
        ids = ", ".join(f"`{r.runbook_id}`" for r in runs)
        raise ValidationFailed(f"{ref} has several unfinished runbook runs ({ids}); name one, "
                               f"e.g. `runbook take {runs[0].runbook_id}`.")
    return to_view(runs[0])


async def start(session: AsyncSession, *, plan: Plan, incident_id: int, runbook_id: str, actor: Actor,
                source: Source | str, now: datetime) -> tuple[RunView, bool]:
    """Start a run of the plan's runbook for the incident, held by `actor`; (run, True). When an
    unfinished run of it exists already, (that run, False) and nothing changes."""
    runbook = plan.runbook(runbook_id)  # NotFound lists the plan's runbooks
    incident = await queries.get_incident(session, incident_id)
    if incident is None:
        raise NotFound(f"There is no {incident_ref(incident_id)}. Say `list` to see open incidents.")
    existing = await store.unfinished(session, incident_id=incident_id, runbook_id=runbook.id)
    if existing:
        return to_view(existing[0]), False
    if not lifecycle.is_open(incident.status):
        raise InvalidTransition(f"{incident_ref(incident_id)} is {incident.status}; a runbook is started on an "
                                "open incident. Say `reopen` first if the problem is back.")
    row, created = await store.insert_or_existing(session, {
        "incident_id": incident_id, "runbook_id": runbook.id, "runbook_name": runbook.name[:300],
        "snapshot_json": runbook.model_dump_json(), "step": 0, "phase": "step", "rollback_cause": None,
        "records_json": "[]", "holder_aad": actor.aad_id, "holder_name": actor.display[:200], "cards_json": "[]",
        "started_by_name": actor.display[:200], "started_at": now, "updated_at": now, "finished_at": None,
    })
    run = to_view(row)
    if created:
        await record(session, incident_id=incident_id, kind=Kind.STARTED, source=source, actor=actor, now=now,
                     new=runbook.id, text=f"“{runbook.name}” started ({run.total} steps, the last bringing the "
                                          f"component back); {actor.display} runs it")
    return run, created


async def act(session: AsyncSession, *, run_id: int, outcome: Outcome, expect_step: int, expect_phase: str,
              reason: str | None, actor: Actor, source: Source | str, now: datetime) -> RunView:
    """Report one outcome at the run's current step, as pressed on a card showing
    `expect_step`/`expect_phase`. Refused unless `actor` holds the run; a stale card is refused
    (StaleCard) rather than applied to a later step."""
    run = await load(session, run_id, lock=True)
    if run.state.finished:
        raise StaleCard(f"“{run.runbook.name}” is already finished; nothing was changed.")
    if not run.held_by(actor):
        raise _not_holder(run, actor, what="report a step")
    if (expect_step, expect_phase) != (run.state.step, run.state.phase):
        raise StaleCard(f"That card was out of date: “{run.runbook.name}” is at {run.label(run.state.step)}"
                        f"{' (rollback open)' if run.state.phase == ROLLBACK else ''}; nothing was changed. "
                        "Here is the current step.")
    has_rollback = run.current.rollback is not None
    clean = inert_text(reason, limit=300) if reason else None
    state, records = advance(run.state, outcome, has_rollback=has_rollback, by=actor.display, at=now, reason=clean)
    values = {"step": state.step, "phase": state.phase, "rollback_cause": state.cause,
              "records_json": _records_json(state.records), "updated_at": now}
    if state.finished:
        values.update(status=store.COMPLETED, finished_at=now)
    if not await store.update_if_version(session, run.id, version=run.version, values=values):
        raise Conflict("Someone changed this runbook run at the same moment; nothing was changed. Try again.")
    for rec in records:
        why = f" (reason: {rec.reason})" if rec.reason else ""
        await record(session, incident_id=run.incident_id, kind=Kind.ENTRY[rec.entry], source=source, actor=actor,
                     now=now, old=str(rec.step + 1), new=run.runbook.id,
                     text=f"“{run.runbook.name}”, {run.label(rec.step)}: {_SAID[rec.entry]}{why}")
    done = await load(session, run.id)
    if state.finished:
        await record(session, incident_id=run.incident_id, kind=Kind.COMPLETED, source=source, actor=actor, now=now,
                     new=run.runbook.id, text=f"“{run.runbook.name}” {summary_line(done)}")
    return done


def summary_line(run: RunView) -> str:
    """How a finished run ended, with its counts: for the timeline and the card."""
    counts: dict[Entry, int] = {}
    for r in run.state.records:
        counts[r.entry] = counts.get(r.entry, 0) + 1
    parts = [f"{n} {_SAID[e]}" for e, n in counts.items() if e is not Entry.ROLLBACK_STARTED]
    how = ("completed: the component is back in the flow" if completed_cleanly(run.state)
           else "ended without the bring-back check")
    return f"{how} ({', '.join(parts)})"


def _not_holder(run: RunView, actor: Actor, *, what: str) -> PermissionDenied:
    name = f"“{run.runbook.name}”"
    if not run.holder_aad:
        message = (f"Nobody runs {name} now, so you cannot {what} yet. Press Take over (or say "
                   f"`runbook take {run.runbook.id}`) to run it yourself.")
    else:
        message = (f"{run.holder_name or 'Someone else'} runs {name} for {incident_ref(run.incident_id)}; only the "
                   f"person running it may {what}. Press Take over (or say `runbook take {run.runbook.id}`) "
                   "to run it yourself.")
    return PermissionDenied(message, action=f"runbook {what}", allowed="the person running the runbook",
                            incident_id=run.incident_id)


async def take(session: AsyncSession, *, run_id: int, actor: Actor, seen_version: int | None, source: Source | str,
               now: datetime) -> tuple[RunView, str | None, bool]:
    """Make `actor` the one running the run; (run, previous holder, changed). `seen_version` is
    the version on the card pressed: when two people take over from the same card at once, the
    first wins and the second is refused (Conflict naming the winner)."""
    run = await load(session, run_id, lock=True)
    if run.state.finished:
        raise StaleCard(f"“{run.runbook.name}” is already finished; there is nothing to take over.")
    if run.held_by(actor):
        return run, run.holder_name, False
    if seen_version is not None and seen_version != run.version:
        if run.holder_aad and run.holder_aad != actor.aad_id:
            raise Conflict(f"{run.holder_name} took over or moved on “{run.runbook.name}” just before you; it is "
                           f"{run.holder_name}'s now. Press Take over again on this fresh card if you still need it.")
        raise Conflict(f"“{run.runbook.name}” changed just before you pressed; press Take over again on this fresh card.")
    if not await store.update_if_version(session, run.id, version=run.version, values={
            "holder_aad": actor.aad_id, "holder_name": actor.display[:200], "updated_at": now}):
        raise Conflict(f"Someone took over “{run.runbook.name}” at the same moment; it is theirs. Say `runbook` to see who.")
    before = run.holder_name
    text = (f"“{run.runbook.name}” taken over by {actor.display}" + (f" from {before}" if before else "")
            + f", at {run.label(run.state.step)}")
    await record(session, incident_id=run.incident_id, kind=Kind.CLAIMED, source=source, actor=actor, now=now,
                 old=before, new=actor.display, text=text)
    return await load(session, run.id), before, True


async def release(session: AsyncSession, *, run_id: int, actor: Actor, source: Source | str, now: datetime) -> RunView:
    """The holder lets go of the run so someone else can take it over."""
    run = await load(session, run_id, lock=True)
    if run.state.finished:
        raise StaleCard(f"“{run.runbook.name}” is already finished; there is nothing to release.")
    if not run.held_by(actor):
        raise _not_holder(run, actor, what="release it")
    if not await store.update_if_version(session, run.id, version=run.version, values={
            "holder_aad": None, "holder_name": None, "updated_at": now}):
        raise Conflict("Someone changed this runbook run at the same moment; nothing was changed. Try again.")
    await record(session, incident_id=run.incident_id, kind=Kind.RELEASED, source=source, actor=actor, now=now,
                 old=actor.display, text=f"“{run.runbook.name}” released by {actor.display} at "
                                         f"{run.label(run.state.step)}; anyone may take it over")
    return await load(session, run.id)


async def remember_card(session: AsyncSession, *, run_id: int, conversation_id: str, activity_id: str) -> None:
    """Note where a progress card of the run was posted, so later changes update it in place."""
    run = await load(session, run_id)
    cards = [c for c in run.cards if c != (conversation_id, activity_id)] + [(conversation_id, activity_id)]
    await store.set_cards(session, run_id, json.dumps(cards[-MAX_CARDS:]))
