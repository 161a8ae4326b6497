"""Which breach reminder is due at an instant: one per stage, the latest reached, overdue last."""
from datetime import datetime, timedelta, timezone

import pytest

from bot.domain.breach_rules import OVERDUE, next_remind_at, reminder_key, stage_at, stage_times, time_left

DUE = datetime(2026, 12, 2, 14, 5, tzinfo=timezone.utc)
H = 3600
BEFORE = (24 * H, 4 * H, 1 * H)


def at(hours_before: float) -> datetime:
    return DUE - timedelta(hours=hours_before)


def test_stages_run_from_the_earliest_reminder_to_the_deadline():
    assert stage_times(DUE, BEFORE) == [(at(24), 24 * H), (at(4), 4 * H), (at(1), H), (DUE, OVERDUE)]
    assert stage_times(DUE, ()) == [(DUE, OVERDUE)]  # no reminders asked: only "overdue"


@pytest.mark.parametrize("now, stage", [
    (at(72), None),
    (at(24) - timedelta(seconds=1), None),
    (at(24), 24 * H),
    (at(5), 24 * H),
    (at(4), 4 * H),
    (at(1), H),
    (DUE - timedelta(seconds=1), H),
    (DUE, OVERDUE),
    (DUE + timedelta(days=30), OVERDUE),
])
def test_the_stage_reached_is_the_latest_whose_time_has_come(now, stage):
    assert stage_at(DUE, BEFORE, now) == stage


def test_a_missed_stage_is_skipped_not_sent_late():
    # the process was down from 30h to 2h before: only the 4h stage is current, the 24h one is gone
    assert stage_at(DUE, BEFORE, at(2)) == 4 * H


@pytest.mark.parametrize("after, expected", [
    (at(72), at(24)),
    (at(24), at(4)),  # strictly after: a stage sent at its own instant is not due again
    (at(3), at(1)),
    (at(1), DUE),
    (DUE, None),
    (DUE + timedelta(hours=1), None),
])
def test_the_next_reminder_time(after, expected):
    assert next_remind_at(DUE, BEFORE, after=after) == expected


def test_each_stage_has_its_own_key():
    keys = {reminder_key(7, s) for _, s in stage_times(DUE, BEFORE)}
    assert keys == {"breach-reminder:7:86400", "breach-reminder:7:14400", "breach-reminder:7:3600",
                    "breach-reminder:7:overdue"}
    assert reminder_key(8, OVERDUE) != reminder_key(7, OVERDUE)


def test_time_left_or_overdue():
    assert time_left(DUE, at(26)) == "1d 2h left"
    assert time_left(DUE, DUE) == "overdue by 0s"
    assert time_left(DUE, DUE + timedelta(hours=2, minutes=5)) == "overdue by 2h 5m"
