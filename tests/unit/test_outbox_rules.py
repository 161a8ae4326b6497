"""Outbox rules: rate-shaper tables, backoff bounds, batch planning and digests."""
import json
import random
from datetime import datetime, timedelta, timezone

import pytest

from bot.domain.outbox import (
    BACKOFF_CAP,
    MAX_ATTEMPTS,
    MAX_DIGEST_ITEMS,
    Digest,
    RateShaper,
    backoff,
    gives_up,
    make_digest,
    plan_batch,
    summary_of,
)
from storage.outbox import OutboxMessage

NOW = datetime(2026, 11, 29, 14, 5, tzinfo=timezone.utc)
S = RateShaper()


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def msg(i, *, conv="c1", bundle=None, kind="send", summary=None, created=0.0, payload=None):
    body = payload if payload is not None else {"text": f"message {i}", "summary": summary or f"summary {i}"}
    return OutboxMessage(
        id=i, key=f"k{i}", conversation_id=conv, kind=kind, bundle=bundle, payload_json=json.dumps(body),
        target_activity_id="act" if kind == "update" else None, status="sending", attempts=0,
        next_at=NOW, created_at=at(created), incident_id=7,
    )


# ---------------------------------------------------------------------------- RateShaper

ALLOWANCE = [
    ("nothing sent", [], 7),
    ("3 in the last second", [at(-0.2)] * 3, 4),
    ("a burst of 7 half a second ago", [at(-0.5)] * 7, 0),
    ("a burst of 7 exactly 1 s ago has left the 1 s window, not the 2 s one", [at(-1)] * 7, 1),
    ("a burst of 7 exactly 2 s ago has left both", [at(-2)] * 7, 7),
    ("8 in the last 2 s, none in the last second", [at(-1.5)] * 8, 0),
    ("a burst of 7 just under 1 s ago", [at(-0.999)] * 7, 0),
    ("59 in 30 s, none in the last second", [at(-20)] * 59, 1),
    ("1800 in the last hour, none in the last 30 s", [at(-1000)] * 1800, 0),
    ("60 in 30 s", [at(-20)] * 60, 0),
    ("60 sent exactly 30 s ago have left", [at(-30)] * 60, 7),
    ("55 in 30 s and 6 in the last second: the 30 s window is tighter", [at(-10)] * 49 + [at(-0.5)] * 6, 1),
    ("50 in 30 s and 5 in the last second: the 1 s window is tighter", [at(-10)] * 45 + [at(-0.5)] * 5, 2),
]


@pytest.mark.parametrize("case, recent, expected", ALLOWANCE, ids=[c[0] for c in ALLOWANCE])
def test_allowance(case, recent, expected):
    assert S.allowance(recent, NOW) == expected


NEXT_SLOT = [
    ("free now", [at(-0.5)] * 3, NOW),
    ("1 s window full: when the oldest of it leaves", [at(-0.7)] * 2 + [at(-0.1)] * 5, at(0.3)),
    ("2 s window full: when its oldest leaves", [at(-1.8)] * 4 + [at(-0.5)] * 4, at(0.2)),
    ("30 s window full: when its oldest leaves", [at(-29)] + [at(-10)] * 59, at(1)),
    ("both full: the later of the two", [at(-29.5)] + [at(-20)] * 52 + [at(-0.1)] * 7, at(0.9)),
    ("over the limit: enough must leave to make room", [at(-25)] * 10 + [at(-5)] * 55, at(5)),
]


@pytest.mark.parametrize("case, recent, expected", NEXT_SLOT, ids=[c[0] for c in NEXT_SLOT])
def test_next_slot(case, recent, expected):
    slot = S.next_slot(recent, NOW)
    assert slot == expected
    assert S.allowance(recent, slot) >= 1


def _max_in_window(times, length):
    times = sorted(times)
    return max(sum(1 for t in times if start <= t < start + length) for start in times)


def test_sending_greedily_by_the_shaper_never_breaks_a_sliding_window():
    sent, now = [], NOW
    while len(sent) < 200:
        take = min(S.allowance(sent, now), 200 - len(sent))
        sent += [now] * take
        now = S.next_slot(sent, now + timedelta(milliseconds=1) if take == 0 else now)
    assert _max_in_window(sent, timedelta(seconds=1)) == 7
    assert _max_in_window(sent, timedelta(seconds=2)) == 8
    assert _max_in_window(sent, timedelta(seconds=30)) == 60
    # and it uses the limits fully: 60 in the first 30 s, 120 by 60 s, 180 by 90 s
    assert sum(1 for t in sent if t < at(30)) == 60
    assert sum(1 for t in sent if t < at(90)) == 180


def test_shaper_limits_are_configurable():
    tight = RateShaper(per_second=2, per_30s=3)
    assert tight.allowance([at(-0.5)], NOW) == 1
    assert tight.allowance([at(-5)] * 3, NOW) == 0
    assert tight.next_slot([at(-5)] * 3, NOW) == at(25)


# ---------------------------------------------------------------------------- backoff


@pytest.mark.parametrize("attempt", [1, 3, MAX_ATTEMPTS])
@pytest.mark.parametrize("retry_after, expected", [(3, 3), (0.5, 0.5), (900, 900), (0, 0)])
def test_retry_after_wins_exactly(attempt, retry_after, expected):
    for rng in (lambda: 0.0, lambda: 1.0):
        assert backoff(attempt, retry_after, rng=rng) == timedelta(seconds=expected)


BOUNDS = [(1, 1, 2), (2, 2, 4), (3, 4, 8), (5, 16, 32), (9, 150, 300), (60, 150, 300)]


@pytest.mark.parametrize("attempt, low, high", BOUNDS)
def test_exponential_backoff_with_equal_jitter(attempt, low, high):
    assert backoff(attempt, None, rng=lambda: 0.0) == timedelta(seconds=low)
    assert backoff(attempt, None, rng=lambda: 1.0) == timedelta(seconds=high)
    rnd = random.Random(attempt)
    for _ in range(50):
        assert timedelta(seconds=low) <= backoff(attempt, None, rng=rnd.random) <= timedelta(seconds=high)
    assert backoff(attempt, None, rng=lambda: 1.0) <= BACKOFF_CAP


def test_attempts_are_bounded():
    assert not gives_up(MAX_ATTEMPTS - 1)
    assert gives_up(MAX_ATTEMPTS)


# ---------------------------------------------------------------------------- summaries


def test_summary_convention():
    assert summary_of(msg(1, payload={"summary": "  INC-7   paged  Ana ", "text": "x"})) == "INC-7 paged Ana"
    assert summary_of(msg(2, payload={"text": "first line\nsecond"})) == "first line"
    assert summary_of(msg(3, payload={"attachments": []})) == "k3"
    long = summary_of(msg(4, payload={"summary": "x" * 500}))
    assert len(long) == 200 and long.endswith("…")


# ---------------------------------------------------------------------------- plan_batch


def _keys(items):
    return [i.key for i in items]


def test_plan_orders_each_conversation_by_creation():
    due = [msg(5, created=2), msg(2, conv="c2", created=1), msg(3, created=1), msg(1, conv="c2", created=1),
           msg(4, created=0)]
    random.Random(1).shuffle(due)
    batch = plan_batch(due=due, recent_by_conversation={}, now=NOW, shaper=S)
    plans = {p.conversation_id: p for p in batch.conversations}
    assert _keys(plans["c1"].send_now) == ["k4", "k3", "k5"]
    assert _keys(plans["c2"].send_now) == ["k1", "k2"]
    assert all(p.wait == () and p.wait_until is None for p in plans.values())


def test_excess_without_bundle_waits_for_the_next_slot_and_is_not_dropped():
    due = [msg(i) for i in range(1, 11)]
    plan = plan_batch(due=due, recent_by_conversation={}, now=NOW, shaper=S).conversations[0]
    assert _keys(plan.send_now) == [f"k{i}" for i in range(1, 8)]
    assert _keys(plan.wait) == ["k8", "k9", "k10"]
    assert plan.wait_until == at(1)
    assert not any(isinstance(i, Digest) for i in (*plan.send_now, *plan.wait))


def test_recent_sends_count_against_the_allowance():
    due = [msg(i) for i in range(1, 4)]
    plan = plan_batch(due=due, recent_by_conversation={"c1": [at(-10)] * 59}, now=NOW, shaper=S).conversations[0]
    assert _keys(plan.send_now) == ["k1"]
    assert _keys(plan.wait) == ["k2", "k3"]
    assert plan.wait_until == at(20)


def test_no_room_at_all_everything_waits():
    due = [msg(1), msg(2)]
    plan = plan_batch(due=due, recent_by_conversation={"c1": [at(-0.5)] * 7}, now=NOW, shaper=S).conversations[0]
    assert plan.send_now == () and _keys(plan.wait) == ["k1", "k2"] and plan.wait_until == at(0.5)


def test_excess_with_a_bundle_becomes_one_digest_naming_every_message():
    due = [msg(1), msg(2, bundle="alerts"), msg(3)] + [msg(i, bundle="alerts") for i in range(4, 12)] + [msg(12)]
    plan = plan_batch(due=due, recent_by_conversation={}, now=NOW, shaper=S).conversations[0]
    assert plan.wait == ()
    kinds = [i.key if not isinstance(i, Digest) else "DIGEST" for i in plan.send_now]
    assert kinds == ["k1", "DIGEST", "k3", "k12"]  # the digest takes its oldest member's place
    digest = plan.send_now[1]
    bundled = [2] + list(range(4, 12))
    assert digest.member_ids == tuple(bundled)
    items = digest.payload["digest"]["items"]
    assert [i["key"] for i in items] == [f"k{i}" for i in bundled]
    for i in bundled:
        assert f"- summary {i}\n" in digest.payload["text"] + "\n"
    assert digest.payload["summary"] == "9 updates (alerts)"
    assert digest.incident_id == 7 and digest.conversation_id == "c1"


def test_no_digest_while_under_the_allowance():
    due = [msg(i, bundle="alerts") for i in range(1, 6)]
    plan = plan_batch(due=due, recent_by_conversation={}, now=NOW, shaper=S).conversations[0]
    assert _keys(plan.send_now) == ["k1", "k2", "k3", "k4", "k5"]


def test_different_bundles_make_different_digests_and_a_lone_member_stays_itself():
    due = ([msg(i, bundle="a") for i in range(1, 5)] + [msg(i, bundle="b") for i in range(5, 9)]
           + [msg(9, bundle="c")] + [msg(i) for i in range(10, 14)])
    plan = plan_batch(due=due, recent_by_conversation={}, now=NOW, shaper=S).conversations[0]
    items = (*plan.send_now, *plan.wait)
    digests = [i for i in items if isinstance(i, Digest)]
    assert [(d.bundle, d.member_ids) for d in digests] == [("a", (1, 2, 3, 4)), ("b", (5, 6, 7, 8))]
    assert _keys([i for i in items if not isinstance(i, Digest)]) == ["k9", "k10", "k11", "k12", "k13"]
    assert len(plan.send_now) == 7 and len(plan.wait) == 0


def test_card_updates_are_never_folded():
    due = [msg(i, bundle="a", kind="update") for i in range(1, 10)]
    plan = plan_batch(due=due, recent_by_conversation={}, now=NOW, shaper=S).conversations[0]
    assert len(plan.send_now) == 7 and len(plan.wait) == 2
    assert not any(isinstance(i, Digest) for i in (*plan.send_now, *plan.wait))


def test_large_bundles_are_split_into_digests_of_bounded_size():
    due = [msg(i, bundle="a") for i in range(1, 121)]
    plan = plan_batch(due=due, recent_by_conversation={}, now=NOW, shaper=S).conversations[0]
    sizes = [len(d.members) for d in plan.send_now]
    assert sizes == [MAX_DIGEST_ITEMS, MAX_DIGEST_ITEMS, 20]


def test_a_folded_digest_is_flattened_so_every_original_stays_named():
    inner = make_digest([msg(1, bundle="a"), msg(2, bundle="a")])
    inner_row = msg(3, bundle="a", payload=inner.payload)
    outer = make_digest([inner_row, msg(4, bundle="a")])
    assert [i["key"] for i in outer.payload["digest"]["items"]] == ["k1", "k2", "k4"]
    assert outer.payload["summary"] == "3 updates (a)"
    assert outer.key != inner.key and outer.key.startswith("digest:")


def test_plan_does_not_touch_the_rows():
    due = [msg(i, bundle="a") for i in range(1, 12)]
    before = [(m.status, m.next_at, m.payload_json) for m in due]
    plan_batch(due=due, recent_by_conversation={}, now=NOW, shaper=S)
    assert [(m.status, m.next_at, m.payload_json) for m in due] == before


def test_digest_size_counts_the_originals_inside_earlier_digests():
    full = msg(1, bundle="a", payload=make_digest([msg(100 + i, bundle="a") for i in range(MAX_DIGEST_ITEMS)]).payload)
    half = msg(2, bundle="a", payload=make_digest([msg(200 + i, bundle="a") for i in range(30)]).payload)
    due = [full, half] + [msg(i, bundle="a") for i in range(3, 30)] + [msg(i) for i in range(30, 40)]
    plan = plan_batch(due=due, recent_by_conversation={}, now=NOW, shaper=S).conversations[0]
    items = (*plan.send_now, *plan.wait)
    assert items[0] is full  # already full: stays as it is
    digests = [i for i in items if isinstance(i, Digest)]
    assert [len(d.payload["digest"]["items"]) for d in digests] == [50, 7]
    assert all(len(d.payload["digest"]["items"]) <= MAX_DIGEST_ITEMS for d in digests)
