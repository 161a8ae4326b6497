"""Escalation rules: who is paged when, as pure functions of a policy snapshot, a state and `now`.

No I/O, no database, no clock: the tick loads the escalation row with a lock, asks `is_due`,
calls `advance` with a resolver that knows who is on call at `now`, and persists the returned
state only if `accepts` says its fence is still current. Modelled on GoAlert's escalation
engine (one step per due time, a fencing counter) and Grafana OnCall's escalation snapshot
(the policy is copied when the escalation starts).

Decisions worth knowing before changing anything here:
- The policy is snapshotted when the escalation starts. Editing the plan mid-incident must not
  re-target or re-time a page that is already running; the responder reads the timeline and
  expects the levels it announced.
- One step per due time, and the next level is timed from `now`, not from when the step was
  due. After downtime the current step runs once, annotated as delayed, instead of a burst
  that pages every missed level within a second (waking three levels at once helps nobody,
  and each level deserves its full `after` to answer).
- A level whose targets all resolve to nobody does not wait `after` for nobody: the next level
  is due at once (`next_at = now`) and the caller records the empty targets loudly.
- Every change (step, escalate now, ack, stop) increments `fence`. A step is applied only when
  the stored fence still equals the fence it was computed from, so a stale tick, a second
  replica or an ack that lands mid-step can never page twice or page after an ack.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.domain.formatting import format_age, format_time
from bot.errors import InvalidTransition
from bot.plan_oncall import EscalationPolicy

ACTIVE, ACKNOWLEDGED, EXHAUSTED, STOPPED = "active", "acknowledged", "exhausted", "stopped"
STATUSES = (ACTIVE, ACKNOWLEDGED, EXHAUSTED, STOPPED)
SNAPSHOT_VERSION = 1
"""Bumped when the JSON shape changes, so an old row is read knowingly, never guessed at."""

Resolve = Callable[[str], Sequence[str]]
"""target -> e-mails to page at this instant (on call / members / the incident manager)."""


# ---------------------------------------------------------------------------- snapshot


@dataclass(frozen=True)
class LevelSnapshot:
    """One level as it was when the escalation started: its targets and its wait."""

    targets: tuple[str, ...]
    after: timedelta

    def __post_init__(self) -> None:
        if not self.targets:
            raise ValueError("an escalation level needs at least one target")
        if self.after < timedelta(0):
            raise ValueError(f"an escalation level cannot wait a negative time ({self.after})")


@dataclass(frozen=True)
class PolicySnapshot:
    """A frozen copy of the policy taken when the escalation starts.

    Plain strings and timedeltas only, so nothing a later plan reload does can reach into a
    running escalation; stored beside the state as JSON.
    """

    policy_id: str
    """The plan's policy id; "" for a one-off manual page."""
    levels: tuple[LevelSnapshot, ...]
    repeat: int
    finally_notify: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.levels:
            raise ValueError("an escalation policy needs at least one level")
        if self.repeat < 0:
            raise ValueError(f"repeat cannot be negative ({self.repeat})")

    @property
    def rounds(self) -> int:
        """Passes through the levels in all: the first one plus `repeat`."""
        return self.repeat + 1

    @classmethod
    def from_policy(cls, policy: EscalationPolicy) -> PolicySnapshot:
        """Copy a plan policy."""
        return cls(
            policy_id=policy.id,
            levels=tuple(LevelSnapshot(tuple(level.targets), level.after) for level in policy.levels),
            repeat=policy.repeat,
            finally_notify=tuple(policy.finally_notify),
        )

    @classmethod
    def one_level(cls, targets: Sequence[str], timeout: timedelta, *,
                  finally_notify: Sequence[str] = ("role:incident_manager",)) -> PolicySnapshot:
        """A manual page (`page @person`): one level waiting `timeout`, then `finally_notify`."""
        # A bare string is a Sequence of characters; paging "p", "e", "r"... helps nobody.
        if isinstance(targets, str) or isinstance(finally_notify, str):
            raise TypeError("targets and finally_notify are sequences of targets, not one string")
        return cls(policy_id="", levels=(LevelSnapshot(tuple(targets), timeout),), repeat=0,
                   finally_notify=tuple(finally_notify))

    def to_json(self) -> str:
        """Stable JSON (sorted keys, durations in seconds) for the escalation row."""
        return json.dumps({
            "version": SNAPSHOT_VERSION,
            "policy_id": self.policy_id,
            "levels": [{"targets": list(level.targets), "after_seconds": _seconds(level.after)}
                       for level in self.levels],
            "repeat": self.repeat,
            "finally_notify": list(self.finally_notify),
        }, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PolicySnapshot:
        """Read `to_json`'s output back; ValueError names what is wrong with a damaged row."""
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"not an escalation snapshot of version {SNAPSHOT_VERSION}: {text[:80]!r}")
        try:
            return cls(
                policy_id=str(data["policy_id"]),
                levels=tuple(LevelSnapshot(tuple(level["targets"]), timedelta(seconds=level["after_seconds"]))
                             for level in data["levels"]),
                repeat=int(data["repeat"]),
                finally_notify=tuple(data["finally_notify"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"escalation snapshot is missing or mistypes {exc}: {text[:80]!r}") from exc


def _seconds(value: timedelta) -> int | float:
    # Whole seconds stay integers so the JSON reads `300`, not `300.0`.
    seconds = value.total_seconds()
    return int(seconds) if seconds == int(seconds) else seconds


# ---------------------------------------------------------------------------- state


@dataclass(frozen=True)
class EscalationState:
    """Where an escalation is: the level paged last, the round, when the next step is due.

    Invariant: `next_at` is set exactly when the status is active, and is tz-aware; a row
    breaking it is corrupt and fails here, at load, not later as a silent missed page.
    """

    level: int
    """Index of the level paged last; -1 before the first page."""
    round: int
    """0-based pass through the levels."""
    next_at: datetime | None
    status: str
    fence: int
    """Incremented by every step, ack and stop; a step computed at an older fence is discarded."""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown escalation status {self.status!r}; one of {', '.join(STATUSES)}")
        if (self.status == ACTIVE) != (self.next_at is not None):
            raise ValueError(f"an escalation has a next_at exactly when it is active "
                             f"(status {self.status}, next_at {self.next_at})")
        if self.next_at is not None and self.next_at.utcoffset() is None:
            raise ValueError(f"next_at must be timezone-aware ({self.next_at})")
        if self.level < -1 or self.round < 0 or self.fence < 0:
            raise ValueError(f"level, round or fence out of range ({self.level}, {self.round}, {self.fence})")

    @classmethod
    def new(cls, now: datetime) -> EscalationState:
        """A fresh escalation: nothing paged yet, the first level due at once."""
        return cls(level=-1, round=0, next_at=now, status=ACTIVE, fence=0)


@dataclass(frozen=True)
class Page:
    """One person to page, and the target that reached them (for the timeline)."""

    email: str
    target: str


@dataclass(frozen=True)
class Step:
    """What one due step does: the new state, who to page or tell, and a timeline sentence."""

    state: EscalationState
    pages: tuple[Page, ...]
    """People to page now, deduplicated by e-mail (first target wins), in target order."""
    level: int
    round: int
    """The level and round these pages belong to (the last ones paged, when exhausted)."""
    final_notify: tuple[Page, ...]
    """When exhausted: who to tell that nobody acknowledged."""
    empty_targets: tuple[str, ...]
    """Targets that resolved to nobody (a schedule gap, an empty group): record them loudly."""
    delayed_by: timedelta | None
    """How late the step ran, when later than `late_after` (the process was down)."""
    note: str


# ---------------------------------------------------------------------------- rules


def is_due(state: EscalationState, now: datetime) -> bool:
    """Whether a step should run now: active and its due time has come."""
    return state.status == ACTIVE and state.next_at is not None and now >= state.next_at


def advance(snapshot: PolicySnapshot, state: EscalationState, now: datetime, *, resolve: Resolve,
            late_after: timedelta = timedelta(seconds=2)) -> Step:
    """Run one due step: page the next level (or the next round's first), or exhaust the policy.

    Raises InvalidTransition when the state is not due: a caller that skipped `is_due` must
    fail loudly rather than page early or page an acknowledged incident.
    """
    if not is_due(state, now):
        raise InvalidTransition(f"escalation is not due (status {state.status}, "
                                f"next_at {state.next_at}, now {now})")
    assert state.next_at is not None  # is_due guarantees it; narrows the type
    late = now - state.next_at
    delayed_by = late if late > late_after else None
    fence = state.fence + 1
    position = _next_position(snapshot, state.level, state.round)

    if position is None:
        final, empty = _resolve_all(snapshot.finally_notify, resolve)
        told = f"told {_list_pages(final)}" if final else "nobody to tell"
        note = (f"Nobody acknowledged after {_plural(snapshot.rounds, 'round')} of "
                f"{_plural(len(snapshot.levels), 'level')}: {told}{_empty_clause(empty)}")
        return Step(state=replace(state, next_at=None, status=EXHAUSTED, fence=fence), pages=(),
                    level=state.level, round=state.round, final_notify=final, empty_targets=empty,
                    delayed_by=delayed_by, note=note + _delay_clause(delayed_by, state.next_at))

    level, round_ = position
    pages, empty = _resolve_all(snapshot.levels[level].targets, resolve)
    where = f"Level {level + 1} of {len(snapshot.levels)}"
    if snapshot.repeat:
        where += f" (round {round_ + 1} of {snapshot.rounds})"
    if pages:
        # Timed from now, not from the due time: after downtime the next level still gets
        # its full wait instead of firing in the same breath as this one.
        next_at = now + snapshot.levels[level].after
        note = f"{where}: paged {_list_pages(pages)}{_empty_clause(empty)}"
    else:
        # Waiting `after` for nobody only delays the people who can answer.
        next_at = now
        note = f"{where}: nobody to page{_empty_clause(empty)}; moving on at once"
    return Step(state=EscalationState(level=level, round=round_, next_at=next_at, status=ACTIVE, fence=fence),
                pages=pages, level=level, round=round_, final_notify=(), empty_targets=empty,
                delayed_by=delayed_by, note=note + _delay_clause(delayed_by, state.next_at))


def escalate_now(state: EscalationState, now: datetime) -> EscalationState:
    """"Escalate now" / "I can't": the next level is due at once; unchanged unless active.

    Keeps an earlier due time when the step is already overdue, so a press during a backlog
    does not erase the "delayed" annotation the step deserves.
    """
    if state.status != ACTIVE or state.next_at is None:
        return state
    return replace(state, next_at=min(state.next_at, now), fence=state.fence + 1)


def acknowledge(state: EscalationState) -> EscalationState:
    """Someone answered: no further pages. Idempotent; a stopped escalation stays stopped.

    An exhausted escalation may still be acknowledged (someone picks up after the final
    notification), which the incident card should show.
    """
    if state.status in (ACKNOWLEDGED, STOPPED):
        return state
    return replace(state, status=ACKNOWLEDGED, next_at=None, fence=state.fence + 1)


def stop(state: EscalationState, reason: str) -> EscalationState:
    """Resolved, cancelled or silenced: no further pages. Idempotent.

    `reason` is for the caller's timeline event; the state only needs to know it is over.
    """
    if not reason.strip():
        raise ValueError("say why the escalation stops (resolved, cancelled, silenced); "
                         "it goes on the timeline")
    if state.status == STOPPED:
        return state
    return replace(state, status=STOPPED, next_at=None, fence=state.fence + 1)


def accepts(state: EscalationState, fence: int) -> bool:
    """Whether a step computed from a state at `fence` may be applied to the stored `state`.

    Pass the fence of the state given to `advance` (the step's own `state.fence - 1`). Any ack,
    stop, escalate-now or other step since then has moved the fence, and the step is discarded.
    """
    return state.status == ACTIVE and state.fence == fence


# ---------------------------------------------------------------------------- helpers


def _next_position(snapshot: PolicySnapshot, level: int, round_: int) -> tuple[int, int] | None:
    """The next (level, round) to page, or None when every round of every level is done."""
    if level + 1 < len(snapshot.levels):
        return level + 1, round_
    if round_ < snapshot.repeat:
        return 0, round_ + 1
    return None


def _resolve_all(targets: Sequence[str], resolve: Resolve) -> tuple[tuple[Page, ...], tuple[str, ...]]:
    """Pages for every target, deduplicated by e-mail in target order, and the empty targets.

    E-mails compare case-insensitively (as in the plan), so one person reached by a schedule
    and by name gets one page, credited to the first target.
    """
    pages: dict[str, Page] = {}
    empty: list[str] = []
    for target in targets:
        emails = [e.strip().lower() for e in resolve(target) if e and e.strip()]
        if not emails:
            empty.append(target)
        for email in emails:
            pages.setdefault(email, Page(email=email, target=target))
    return tuple(pages.values()), tuple(empty)


def _list_pages(pages: Sequence[Page]) -> str:
    return ", ".join(f"{page.email} via {page.target}" for page in pages)


def _empty_clause(empty: Sequence[str]) -> str:
    if not empty:
        return ""
    return f"; {', '.join(empty)} resolved to nobody"


def _delay_clause(delayed_by: timedelta | None, due: datetime) -> str:
    if delayed_by is None:
        return ""
    return f" (delayed {format_age(delayed_by)}: due {format_time(due)})"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
