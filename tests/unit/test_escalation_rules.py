"""Escalation rules: policies walked through time, acks, escalate-now, gaps, downtime and the fence."""
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.domain.escalation_rules import (
    EscalationState,
    LevelSnapshot,
    Page,
    PolicySnapshot,
    accepts,
    acknowledge,
    advance,
    escalate_now,
    is_due,
    stop,
)
from bot.errors import InvalidTransition
from bot.plan import load_plan

NOW = datetime(2026, 11, 29, 14, 5, tzinfo=UTC)
EXAMPLE_PLAN = Path(__file__).resolve().parents[2] / "plans" / "example.yaml"

ON_CALL = {
    "schedule:primary": ("ana@contoso.com",),
    "schedule:secondary": ("ben@contoso.com",),
    "schedule:gap": (),
    "group:tier1": ("carl@contoso.com", "ana@contoso.com"),
    "group:empty": (),
    "role:incident_manager": ("dana@contoso.com",),
}


def resolve(target):
    """Who a target reaches; an unknown target fails the test rather than paging nobody."""
    if target.startswith("person:"):
        return (target.removeprefix("person:"),)
    return ON_CALL[target]


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def policy(*levels, repeat=0, finally_notify=("role:incident_manager", "person:priya@contoso.com")):
    """levels: (targets, minutes) pairs."""
    return PolicySnapshot(
        policy_id="test", repeat=repeat, finally_notify=tuple(finally_notify),
        levels=tuple(LevelSnapshot(tuple(targets), timedelta(minutes=m)) for targets, m in levels),
    )


THREE = [(["schedule:primary"], 5), (["schedule:secondary", "person:tom@contoso.com"], 10), (["group:tier1"], 15)]
P3 = policy(*THREE)
P3_REPEAT = policy(*THREE, repeat=1)


def ack(state, now):
    return acknowledge(state)


def esc(state, now):
    return escalate_now(state, now)


def resolved(state, now):
    return stop(state, "resolved")


def every(start, end, step=10):
    return list(range(start, end + 1, step))


def render(t, step):
    """One line per step, e.g. `300s L2/R1: ben tom`, so a whole walk is one readable list."""
    names = lambda pages: " ".join(p.email.split("@")[0] for p in pages)
    if step.state.status == "exhausted":
        line = f"{t}s exhausted: told {names(step.final_notify) or 'nobody'}"
    else:
        line = f"{t}s L{step.level + 1}/R{step.round + 1}: {names(step.pages) or 'nobody'}"
    if step.empty_targets:
        line += f" (empty {' '.join(step.empty_targets)})"
    if step.delayed_by is not None:
        line += f" delayed {int(step.delayed_by.total_seconds())}s"
    return line


def walk(snapshot, ticks, actions=None, *, who=resolve):
    """The tick loop: actions at their second, then every due step, fences checked."""
    actions = actions or {}
    state, lines = EscalationState.new(at(0)), []
    for t in sorted(set(ticks) | set(actions)):
        if t in actions:
            state = actions[t](state, at(t))
        if t not in ticks:
            continue
        while is_due(state, at(t)):
            step = advance(snapshot, state, at(t), resolve=who)
            assert accepts(state, step.state.fence - 1)
            state = step.state
            lines.append(render(t, step))
    return lines, state


# ---------------------------------------------------------------------------- walks through time

WALKS = [
    ("timeouts: level 1 -> 2 -> 3 after each `after`, then the final notification",
     P3, every(0, 3600), {}, [
         "0s L1/R1: ana", "300s L2/R1: ben tom", "900s L3/R1: carl ana", "1800s exhausted: told dana priya",
     ], "exhausted"),
    ("repeat 1: two rounds, then exhausted",
     P3_REPEAT, every(0, 7200), {}, [
         "0s L1/R1: ana", "300s L2/R1: ben tom", "900s L3/R1: carl ana",
         "1800s L1/R2: ana", "2100s L2/R2: ben tom", "2700s L3/R2: carl ana",
         "3600s exhausted: told dana priya",
     ], "exhausted"),
    ("repeat 2 of a single 1m level: three rounds",
     policy((["schedule:primary"], 1), repeat=2), every(0, 600), {}, [
         "0s L1/R1: ana", "60s L1/R2: ana", "120s L1/R3: ana", "180s exhausted: told dana priya",
     ], "exhausted"),
    ("ack during level 2: no further pages",
     P3_REPEAT, every(0, 7200), {400: ack}, ["0s L1/R1: ana", "300s L2/R1: ben tom"], "acknowledged"),
    ("ack in the same second level 2 falls due, before the tick: level 2 never pages",
     P3, every(0, 3600), {300: ack}, ["0s L1/R1: ana"], "acknowledged"),
    ("resolved during level 3: stopped, no final notification",
     P3, every(0, 3600), {1000: resolved},
     ["0s L1/R1: ana", "300s L2/R1: ben tom", "900s L3/R1: carl ana"], "stopped"),
    ("escalate now at 60s: level 2 at once, level 3 10m later",
     P3, every(0, 3600), {60: esc}, [
         "0s L1/R1: ana", "60s L2/R1: ben tom", "660s L3/R1: carl ana", "1560s exhausted: told dana priya",
     ], "exhausted"),
    ("escalate now on the last level of the last round: the final notification at once",
     P3, every(0, 3600), {1000: esc}, [
         "0s L1/R1: ana", "300s L2/R1: ben tom", "900s L3/R1: carl ana", "1000s exhausted: told dana priya",
     ], "exhausted"),
    ("a schedule with a gap: level 2 is skipped at once, level 3 pages the same second",
     policy(*[THREE[0], (["schedule:gap"], 10), THREE[2]]), every(0, 3600), {}, [
         "0s L1/R1: ana", "300s L2/R1: nobody (empty schedule:gap)", "300s L3/R1: carl ana",
         "1200s exhausted: told dana priya",
     ], "exhausted"),
    ("one empty target among others: the level pages and waits as usual",
     policy((["schedule:gap", "schedule:secondary"], 5), (["schedule:primary"], 5)), every(0, 900), {}, [
         "0s L1/R1: ben (empty schedule:gap)", "300s L2/R1: ana", "600s exhausted: told dana priya",
     ], "exhausted"),
    ("every level empty in every round: exhausted at once, a finite number of steps",
     policy((["schedule:gap"], 5), (["group:empty"], 5), repeat=1), every(0, 60), {}, [
         "0s L1/R1: nobody (empty schedule:gap)", "0s L2/R1: nobody (empty group:empty)",
         "0s L1/R2: nobody (empty schedule:gap)", "0s L2/R2: nobody (empty group:empty)",
         "0s exhausted: told dana priya",
     ], "exhausted"),
    ("a person reached by a schedule, by name and by a group is paged once",
     policy((["schedule:primary", "person:ana@contoso.com", "group:tier1"], 5)), every(0, 600), {}, [
         "0s L1/R1: ana carl", "300s exhausted: told dana priya",
     ], "exhausted"),
    ("down 40 minutes after level 1: level 2 once, delayed, and level 3 timed from then",
     P3, [0] + every(2400, 5400), {}, [
         "0s L1/R1: ana", "2400s L2/R1: ben tom delayed 2100s", "3000s L3/R1: carl ana",
         "3900s exhausted: told dana priya",
     ], "exhausted"),
    ("down longer than the whole policy: still one step per due time, no burst",
     P3_REPEAT, [0] + every(20000, 30000), {}, [
         "0s L1/R1: ana", "20000s L2/R1: ben tom delayed 19700s", "20600s L3/R1: carl ana",
         "21500s L1/R2: ana", "21800s L2/R2: ben tom", "22400s L3/R2: carl ana",
         "23300s exhausted: told dana priya",
     ], "exhausted"),
    ("ticks every 30s, not aligned with the due times: late by under 2s is never delayed",
     policy((["schedule:primary"], 1), (["schedule:secondary"], 1)), every(0, 600, 30), {}, [
         "0s L1/R1: ana", "60s L2/R1: ben", "120s exhausted: told dana priya",
     ], "exhausted"),
    ("the first page after a start-up that was late is delayed too",
     P3, every(90, 3600), {}, [
         "90s L1/R1: ana delayed 90s", "390s L2/R1: ben tom", "990s L3/R1: carl ana",
         "1890s exhausted: told dana priya",
     ], "exhausted"),
]


@pytest.mark.parametrize("case, snapshot, ticks, actions, expected, status", WALKS, ids=[w[0] for w in WALKS])
def test_walk(case, snapshot, ticks, actions, expected, status):
    lines, state = walk(snapshot, ticks, actions)
    assert lines == expected
    assert state.status == status
    assert state.next_at is None


# ---------------------------------------------------------------------------- single steps


def test_new_state_pages_the_first_level_at_once():
    state = EscalationState.new(NOW)
    assert state == EscalationState(level=-1, round=0, next_at=NOW, status="active", fence=0)
    assert is_due(state, NOW) is True
    assert is_due(state, NOW - timedelta(seconds=1)) is False


def test_step_fields_for_a_level_with_two_targets():
    state = EscalationState(level=0, round=0, next_at=at(300), status="active", fence=1)
    step = advance(P3, state, at(300), resolve=resolve)
    assert step.state == EscalationState(level=1, round=0, next_at=at(900), status="active", fence=2)
    assert step.pages == (Page("ben@contoso.com", "schedule:secondary"),
                          Page("tom@contoso.com", "person:tom@contoso.com"))
    assert (step.level, step.round) == (1, 0)
    assert step.final_notify == ()
    assert step.empty_targets == ()
    assert step.delayed_by is None
    assert step.note == ("Level 2 of 3: paged ben@contoso.com via schedule:secondary, "
                         "tom@contoso.com via person:tom@contoso.com")


NOTES = [
    ("round shown when the policy repeats", P3_REPEAT, EscalationState(2, 0, at(900), "active", 3), 900,
     "Level 1 of 3 (round 2 of 2): paged ana@contoso.com via schedule:primary"),
    ("an empty level says it moves on", policy((["schedule:gap", "group:empty"], 5), (["schedule:primary"], 5)),
     EscalationState.new(at(0)), 0,
     "Level 1 of 2: nobody to page; schedule:gap, group:empty resolved to nobody; moving on at once"),
    ("a partly empty level names the gap", policy((["schedule:gap", "schedule:primary"], 5)),
     EscalationState.new(at(0)), 0,
     "Level 1 of 1: paged ana@contoso.com via schedule:primary; schedule:gap resolved to nobody"),
    ("exhausted after two rounds", P3_REPEAT, EscalationState(2, 1, at(3600), "active", 6), 3600,
     ("Nobody acknowledged after 2 rounds of 3 levels: told dana@contoso.com via role:incident_manager, "
      "priya@contoso.com via person:priya@contoso.com")),
    ("exhausted with nobody to tell", policy((["schedule:primary"], 5), finally_notify=["group:empty"]),
     EscalationState(0, 0, at(300), "active", 1), 300,
     "Nobody acknowledged after 1 round of 1 level: nobody to tell; group:empty resolved to nobody"),
    ("a delayed step gives its due time", P3, EscalationState(0, 0, at(300), "active", 1), 2400,
     ("Level 2 of 3: paged ben@contoso.com via schedule:secondary, tom@contoso.com via person:tom@contoso.com "
      "(delayed 35m: due 2026-11-29 14:10 UTC)")),
]


@pytest.mark.parametrize("case, snapshot, state, t, note", NOTES, ids=[n[0] for n in NOTES])
def test_note(case, snapshot, state, t, note):
    assert advance(snapshot, state, at(t), resolve=resolve).note == note


def test_exhausted_step_fields():
    state = EscalationState(level=2, round=1, next_at=at(3600), status="active", fence=6)
    step = advance(P3_REPEAT, state, at(3600), resolve=resolve)
    assert step.state == EscalationState(level=2, round=1, next_at=None, status="exhausted", fence=7)
    assert step.pages == ()
    assert (step.level, step.round) == (2, 1)
    assert step.final_notify == (Page("dana@contoso.com", "role:incident_manager"),
                                 Page("priya@contoso.com", "person:priya@contoso.com"))
    assert step.empty_targets == ()


def test_no_incident_manager_is_an_empty_final_target():
    no_im = lambda target: () if target == "role:incident_manager" else resolve(target)
    step = advance(P3, EscalationState(2, 0, at(1800), "active", 3), at(1800), resolve=no_im)
    assert step.final_notify == (Page("priya@contoso.com", "person:priya@contoso.com"),)
    assert step.empty_targets == ("role:incident_manager",)


def test_dedupe_is_case_insensitive_and_credits_the_first_target():
    who = {"schedule:a": ["Ana@Contoso.com", " ben@contoso.com "],
           "group:b": ["ana@contoso.com", "", "carl@contoso.com"]}
    snapshot = policy((["schedule:a", "group:b"], 5))
    step = advance(snapshot, EscalationState.new(NOW), NOW, resolve=lambda t: who[t])
    assert step.pages == (Page("ana@contoso.com", "schedule:a"), Page("ben@contoso.com", "schedule:a"),
                          Page("carl@contoso.com", "group:b"))
    assert step.empty_targets == ()


def test_empty_level_is_due_again_at_once():
    snapshot = policy((["schedule:gap"], 10), (["schedule:primary"], 5))
    step = advance(snapshot, EscalationState.new(NOW), NOW, resolve=resolve)
    assert step.pages == ()
    assert step.empty_targets == ("schedule:gap",)
    assert step.state == EscalationState(level=0, round=0, next_at=NOW, status="active", fence=1)
    assert is_due(step.state, NOW) is True


LATENESS = [
    ("on time", 0, timedelta(seconds=2), None),
    ("1s late", 1, timedelta(seconds=2), None),
    ("exactly 2s late is still on time", 2, timedelta(seconds=2), None),
    ("3s late", 3, timedelta(seconds=2), timedelta(seconds=3)),
    ("half an hour late", 1800, timedelta(seconds=2), timedelta(minutes=30)),
    ("a stricter late_after", 1, timedelta(0), timedelta(seconds=1)),
    ("a laxer late_after", 50, timedelta(minutes=1), None),
]


@pytest.mark.parametrize("case, late, late_after, delayed", LATENESS, ids=[c[0] for c in LATENESS])
def test_delayed_by(case, late, late_after, delayed):
    state = EscalationState(level=0, round=0, next_at=at(300), status="active", fence=1)
    step = advance(P3, state, at(300 + late), resolve=resolve, late_after=late_after)
    assert step.delayed_by == delayed
    # Whatever the lateness, the next level gets its full wait from now.
    assert step.state.next_at == at(300 + late) + timedelta(minutes=10)


NOT_DUE = [
    ("before next_at", EscalationState(0, 0, at(300), "active", 1), 299),
    ("acknowledged", EscalationState(0, 0, None, "acknowledged", 2), 10_000),
    ("stopped", EscalationState(0, 0, None, "stopped", 2), 10_000),
    ("exhausted", EscalationState(2, 0, None, "exhausted", 4), 10_000),
]


@pytest.mark.parametrize("case, state, t", NOT_DUE, ids=[c[0] for c in NOT_DUE])
def test_advance_refuses_a_state_that_is_not_due(case, state, t):
    assert is_due(state, at(t)) is False
    with pytest.raises(InvalidTransition, match="not due"):
        advance(P3, state, at(t), resolve=resolve)


# ---------------------------------------------------------------------------- ack, stop, escalate now

ACTIVE = EscalationState(level=0, round=0, next_at=at(300), status="active", fence=1)
ACKED = EscalationState(level=0, round=0, next_at=None, status="acknowledged", fence=2)
EXHAUSTED = EscalationState(level=2, round=0, next_at=None, status="exhausted", fence=4)
STOPPED = EscalationState(level=0, round=0, next_at=None, status="stopped", fence=2)

TRANSITIONS = [
    ("ack an active escalation", lambda s: acknowledge(s), ACTIVE, ACKED),
    ("ack again: unchanged", lambda s: acknowledge(s), ACKED, ACKED),
    ("ack after exhaustion: someone picked up late", lambda s: acknowledge(s), EXHAUSTED,
     EscalationState(2, 0, None, "acknowledged", 5)),
    ("ack a stopped escalation: unchanged", lambda s: acknowledge(s), STOPPED, STOPPED),
    ("stop an active escalation", lambda s: stop(s, "resolved"), ACTIVE, EscalationState(0, 0, None, "stopped", 2)),
    ("stop an acknowledged escalation", lambda s: stop(s, "resolved"), ACKED,
     EscalationState(0, 0, None, "stopped", 3)),
    ("stop again: unchanged", lambda s: stop(s, "cancelled"), STOPPED, STOPPED),
    ("escalate now: due at once", lambda s: escalate_now(s, at(60)), ACTIVE,
     EscalationState(0, 0, at(60), "active", 2)),
    ("escalate now when already overdue keeps the earlier due time", lambda s: escalate_now(s, at(900)), ACTIVE,
     EscalationState(0, 0, at(300), "active", 2)),
    ("escalate now after an ack: unchanged", lambda s: escalate_now(s, at(60)), ACKED, ACKED),
    ("escalate now after exhaustion: unchanged", lambda s: escalate_now(s, at(60)), EXHAUSTED, EXHAUSTED),
    ("escalate now when stopped: unchanged", lambda s: escalate_now(s, at(60)), STOPPED, STOPPED),
]


@pytest.mark.parametrize("case, change, before, after", TRANSITIONS, ids=[c[0] for c in TRANSITIONS])
def test_transition(case, change, before, after):
    assert change(before) == after


def test_stop_needs_a_reason():
    with pytest.raises(ValueError, match="say why"):
        stop(ACTIVE, "  ")


def test_escalate_now_then_the_delayed_annotation_still_counts_from_the_original_due_time():
    step = advance(P3, escalate_now(ACTIVE, at(900)), at(900), resolve=resolve)
    assert step.delayed_by == timedelta(minutes=10)


# ---------------------------------------------------------------------------- the fence

ACCEPTS = [
    ("same fence, active", ACTIVE, 1, True),
    ("an older fence", ACTIVE, 0, False),
    ("a newer fence (another replica already stepped)", ACTIVE, 2, False),
    ("same fence but acknowledged", EscalationState(0, 0, None, "acknowledged", 1), 1, False),
    ("same fence but stopped", EscalationState(0, 0, None, "stopped", 1), 1, False),
]


@pytest.mark.parametrize("case, state, fence, expected", ACCEPTS, ids=[c[0] for c in ACCEPTS])
def test_accepts(case, state, fence, expected):
    assert accepts(state, fence) is expected


RACES = [
    ("ack lands mid-step", lambda s: acknowledge(s)),
    ("resolved mid-step", lambda s: stop(s, "resolved")),
    ("escalate now mid-step", lambda s: escalate_now(s, at(300))),
    ("another replica applied the same step", lambda s: advance(P3, s, at(300), resolve=resolve).state),
]


@pytest.mark.parametrize("case, meanwhile", RACES, ids=[r[0] for r in RACES])
def test_a_step_computed_before_a_change_is_rejected(case, meanwhile):
    read = ACTIVE  # the tick loaded this at fence 1
    step = advance(P3, read, at(300), resolve=resolve)
    stored = meanwhile(read)
    assert stored.fence == 2
    assert accepts(stored, read.fence) is False
    assert accepts(read, step.state.fence - 1) is True


def test_random_acks_never_let_a_page_through_after_the_ack():
    """A tick loop racing a human ack: with fences checked, no step is applied after the ack."""
    rng = random.Random(20261129)
    races = 0
    for _ in range(1000):
        snapshot = policy(*THREE, repeat=rng.randint(0, 2))
        stored = EscalationState.new(at(0))
        ack_at = rng.randint(0, 5000)
        applied_after_ack, acked = [], False
        t = 0
        while t <= 6000:
            if not acked and t >= ack_at and rng.random() < 0.5:
                stored, acked = acknowledge(stored), True  # the ack commits before this tick reads
            while is_due(stored, at(t)):
                read = stored
                step = advance(snapshot, read, at(t), resolve=resolve)
                if not acked and t >= ack_at:
                    stored, acked = acknowledge(stored), True  # the ack commits while the step is computed
                    races += 1
                if accepts(stored, read.fence):
                    stored = step.state
                    if acked:
                        applied_after_ack.append((t, step.note))
                else:
                    break
            if not acked and t >= ack_at:
                stored, acked = acknowledge(stored), True  # the ack commits after the tick
            t += rng.choice((1, 10, 30, 700))
        assert applied_after_ack == []
        # Acked before exhaustion -> acknowledged; an ack after exhaustion also lands.
        assert stored.status == "acknowledged"
        assert is_due(stored, at(10**6)) is False
    assert races > 50  # the mid-step race was actually exercised


# ---------------------------------------------------------------------------- snapshots


def test_from_policy_on_the_example_plan():
    plan = load_plan(EXAMPLE_PLAN)
    critical = PolicySnapshot.from_policy(plan.escalation_policy("platform-critical"))
    assert critical == PolicySnapshot(
        policy_id="platform-critical",
        levels=(
            LevelSnapshot(("schedule:platform-primary",), timedelta(minutes=5)),
            LevelSnapshot(("schedule:tier1-follow-the-sun", "person:tom.becker@contoso.com"), timedelta(minutes=10)),
            LevelSnapshot(("group:tier1",), timedelta(minutes=15)),
        ),
        repeat=1,
        finally_notify=("role:incident_manager", "person:priya.raman@contoso.com"),
    )
    standard = PolicySnapshot.from_policy(plan.escalation_policy("platform-standard"))
    assert standard == PolicySnapshot(
        policy_id="platform-standard",
        levels=(LevelSnapshot(("schedule:platform-primary",), timedelta(minutes=15)),
                LevelSnapshot(("group:platform",), timedelta(minutes=30))),
        repeat=0,
        finally_notify=("role:incident_manager",),
    )


def test_snapshot_is_immune_to_later_plan_edits():
    plan = load_plan(EXAMPLE_PLAN)
    original = plan.escalation_policies[0]
    snapshot = PolicySnapshot.from_policy(original)
    stored = snapshot.to_json()
    edited = original.model_copy(update={"levels": original.levels[:1], "repeat": 0, "finally_notify": ()})
    assert PolicySnapshot.from_policy(edited).levels == snapshot.levels[:1]
    assert len(snapshot.levels) == 3
    assert snapshot.repeat == 1
    assert PolicySnapshot.from_json(stored) == snapshot
    # A running escalation keeps walking the levels it started with.
    who = lambda target: ("someone@contoso.com",)
    state = EscalationState(level=0, round=0, next_at=at(300), status="active", fence=1)
    step = advance(PolicySnapshot.from_json(stored), state, at(300), resolve=who)
    assert (step.level, step.state.next_at) == (1, at(900))


def test_snapshot_json_is_stable_and_in_seconds():
    snapshot = PolicySnapshot.one_level(["person:ana@contoso.com"], timedelta(minutes=5))
    assert snapshot.to_json() == (
        '{"finally_notify": ["role:incident_manager"], "levels": [{"after_seconds": 300, '
        '"targets": ["person:ana@contoso.com"]}], "policy_id": "", "repeat": 0, "version": 1}'
    )


ROUND_TRIPS = [
    ("three levels, repeat", P3_REPEAT),
    ("the example plan's critical policy", None),
    ("a manual page", PolicySnapshot.one_level(["group:tier1"], timedelta(seconds=20))),
    ("a fractional timeout", PolicySnapshot.one_level(["schedule:primary"], timedelta(seconds=1.5))),
    ("nobody to notify at the end", policy((["schedule:primary"], 5), finally_notify=())),
]


@pytest.mark.parametrize("case, snapshot", ROUND_TRIPS, ids=[r[0] for r in ROUND_TRIPS])
def test_snapshot_json_round_trip(case, snapshot):
    snapshot = snapshot or PolicySnapshot.from_policy(load_plan(EXAMPLE_PLAN).escalation_policies[0])
    text = snapshot.to_json()
    assert PolicySnapshot.from_json(text) == snapshot
    assert PolicySnapshot.from_json(text).to_json() == text


BAD_JSON = [
    ("another version", '{"version": 2, "policy_id": "", "levels": [], "repeat": 0, "finally_notify": []}',
     "version 1"),
    ("not an object", "[1, 2]", "version 1"),
    ("a level without after_seconds",
     '{"version": 1, "policy_id": "p", "levels": [{"targets": ["group:a"]}], "repeat": 0, "finally_notify": []}',
     "after_seconds"),
    ("no levels at all", '{"version": 1, "policy_id": "p", "levels": [], "repeat": 0, "finally_notify": []}',
     "at least one level"),
    ("not JSON", "levels: 3", "Expecting value"),
]


@pytest.mark.parametrize("case, text, message", BAD_JSON, ids=[b[0] for b in BAD_JSON])
def test_damaged_snapshot_json_is_a_value_error(case, text, message):
    with pytest.raises(ValueError, match=message):
        PolicySnapshot.from_json(text)


def test_one_level_manual_page():
    snapshot = PolicySnapshot.one_level(["person:tom@contoso.com"], timedelta(minutes=5))
    assert snapshot == PolicySnapshot(
        policy_id="", levels=(LevelSnapshot(("person:tom@contoso.com",), timedelta(minutes=5)),),
        repeat=0, finally_notify=("role:incident_manager",),
    )
    lines, state = walk(snapshot, every(0, 600))
    assert lines == ["0s L1/R1: tom", "300s exhausted: told dana"]
    assert state.status == "exhausted"


def test_one_level_with_the_plans_default_timeout_and_its_own_final_notification():
    timeout = load_plan(EXAMPLE_PLAN).paging.default_timeout
    snapshot = PolicySnapshot.one_level(("schedule:primary", "group:tier1"), timeout,
                                        finally_notify=("person:priya@contoso.com",))
    assert snapshot.levels == (LevelSnapshot(("schedule:primary", "group:tier1"), timedelta(minutes=5)),)
    assert snapshot.finally_notify == ("person:priya@contoso.com",)
    lines, _ = walk(snapshot, every(0, 600))
    assert lines == ["0s L1/R1: ana carl", "300s exhausted: told priya"]


INVALID = [
    ("one_level given a bare string", lambda: PolicySnapshot.one_level("person:a@b.com", timedelta(minutes=5)),
     TypeError, "not one string"),
    ("one_level with no targets", lambda: PolicySnapshot.one_level([], timedelta(minutes=5)),
     ValueError, "at least one target"),
    ("a negative wait", lambda: LevelSnapshot(("group:a",), timedelta(seconds=-1)), ValueError, "negative"),
    ("a negative repeat", lambda: policy((["group:a"], 5), repeat=-1), ValueError, "repeat"),
    ("active without next_at", lambda: EscalationState(0, 0, None, "active", 1), ValueError, "next_at"),
    ("acknowledged with next_at", lambda: EscalationState(0, 0, NOW, "acknowledged", 1), ValueError, "next_at"),
    ("a naive next_at", lambda: EscalationState(0, 0, datetime(2026, 11, 29, 14, 5), "active", 1),
     ValueError, "timezone-aware"),
    ("an unknown status", lambda: EscalationState(0, 0, None, "silenced", 1), ValueError, "unknown"),
    ("level below -1", lambda: EscalationState(-2, 0, NOW, "active", 1), ValueError, "out of range"),
]


@pytest.mark.parametrize("case, make, error, message", INVALID, ids=[i[0] for i in INVALID])
def test_invalid_values_fail_at_construction(case, make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_example_plan_policy_walked_with_its_own_targets():
    snapshot = PolicySnapshot.from_policy(load_plan(EXAMPLE_PLAN).escalation_policies[0])
    who = {
        "schedule:platform-primary": ["lena@contoso.com"],
        "schedule:tier1-follow-the-sun": ["tom.becker@contoso.com"],
        "group:tier1": ["lena@contoso.com", "omar@contoso.com"],
        "role:incident_manager": ["dana@contoso.com"],
    }
    lines, state = walk(snapshot, every(0, 7200), who=lambda t: who.get(t) or (t.removeprefix("person:"),))
    assert lines == [
        "0s L1/R1: lena", "300s L2/R1: tom.becker", "900s L3/R1: lena omar",
        "1800s L1/R2: lena", "2100s L2/R2: tom.becker", "2700s L3/R2: lena omar",
        "3600s exhausted: told dana priya.raman",
    ]
    assert state.status == "exhausted"
    assert json.loads(snapshot.to_json())["policy_id"] == "platform-critical"
