"""The lifecycle transitions table."""
import pytest

from bot.domain.lifecycle import Status, is_open, next_status
from bot.errors import InvalidTransition

D, A, M, R = Status.DECLARED, Status.ACKNOWLEDGED, Status.MITIGATED, Status.RESOLVED

ALLOWED = [
    ("ack", D, A),
    ("mitigate", D, M),
    ("mitigate", A, M),
    ("resolve", D, R),
    ("resolve", A, R),
    ("resolve", M, R),
    ("reopen", R, A),
]


@pytest.mark.parametrize("action, current, expected", ALLOWED)
def test_allowed(action, current, expected):
    assert next_status(action, current.value) is expected


REFUSED = [
    ("ack", A, "already acknowledged"),
    ("ack", M, "already mitigated"),
    ("ack", R, "reopen"),
    ("mitigate", M, "already mitigated"),
    ("mitigate", R, "reopen"),
    ("resolve", R, "already resolved"),
    ("reopen", D, "still open"),
    ("reopen", A, "still open"),
    ("reopen", M, "still open"),
]


@pytest.mark.parametrize("action, current, why", REFUSED)
def test_refused_with_reason(action, current, why):
    with pytest.raises(InvalidTransition) as err:
        next_status(action, current.value, label="INC-3")
    assert why in str(err.value) and "INC-3" in str(err.value)


def test_table_is_complete():
    covered = {(a, c) for a, c, _ in ALLOWED} | {(a, c) for a, c, _ in REFUSED}
    assert covered == {(a, s) for a in ("ack", "mitigate", "resolve", "reopen") for s in Status}


def test_open():
    assert [is_open(s.value) for s in Status] == [True, True, True, False]


def test_unknown_action():
    with pytest.raises(ValueError):
        next_status("explode", "declared")
