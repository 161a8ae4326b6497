"""Durations as people write them in the response plan: `45s`, `5m`, `2h`, `3d`, `1w`, `1h30m`.

One compact, unit-suffixed form everywhere (plan, chat commands, cards) so an operator never has
to guess whether `30` means seconds or minutes. Any positive length is valid, however short,
because drills and tests run escalations in seconds.
"""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema

ACCEPTED_FORMS = (
    "write a whole number followed by a unit: s (seconds), m (minutes), h (hours), d (days) "
    "or w (weeks), e.g. 45s, 5m, 2h, 3d, 1w; combine units largest first, e.g. 1h30m or 1d12h"
)

# Largest unit first: the same order a duration must be written in.
_UNIT_SECONDS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}

# The lookahead demands at least one digit, so the empty string is not "zero of everything".
# No named groups: the same text goes into the JSON Schema, whose regexes are ECMA-262.
DURATION_PATTERN = r"^(?=\d)(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$"
_DURATION_RE = re.compile(DURATION_PATTERN)


class DurationError(ValueError):
    """A duration could not be read; `problem` says what is wrong, `fix` how to write one.

    The plan loader turns these two parts into a PlanProblem, so the operator sees the
    accepted forms next to the offending value rather than a bare "invalid value".
    """

    def __init__(self, problem: str, *, fix: str = ACCEPTED_FORMS) -> None:
        super().__init__(f"{problem}; {fix}")
        self.problem = problem
        self.fix = fix


def parse_duration(text: str, *, allow_zero: bool = False) -> timedelta:
    """Read `45s`, `5m`, `2h`, `3d`, `1w` or a combination such as `1h30m`.

    Zero is refused unless `allow_zero` (a contact delay of `0s` means "straight away"; a
    zero reminder interval would be a busy loop). Raises DurationError, a ValueError.
    """
    if not isinstance(text, str):
        raise DurationError(f"`{text!r}` is not a duration (it has no unit)")
    cleaned = text.strip()
    if cleaned.startswith("-"):
        raise DurationError(f"`{text}` is negative; durations must be positive")
    match = _DURATION_RE.match(cleaned)
    if match is None:
        raise DurationError(f"`{text}` is not a duration")
    counts = zip(_UNIT_SECONDS.values(), match.groups())
    seconds = sum(unit * int(count) for unit, count in counts if count)
    if seconds == 0 and not allow_zero:
        raise DurationError(f"`{text}` is zero; a duration must be longer than zero")
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise DurationError(f"`{text}` is too long") from None


def format_duration(value: timedelta) -> str:
    """Write a timedelta in the plan's compact form, the inverse of `parse_duration`.

    Weeks are used only when the whole duration is a number of weeks, so `90d` stays `90d`
    rather than becoming the unreadable `12w6d`. Raises ValueError for negative or
    sub-second values, which the plan cannot express.
    """
    if value < timedelta(0):
        raise ValueError(f"cannot write a negative duration ({value})")
    if value.microseconds:
        raise ValueError(f"cannot write a duration with fractions of a second ({value})")
    remaining = int(value.total_seconds())
    if remaining == 0:
        return "0s"
    if remaining % _UNIT_SECONDS["w"] == 0:
        return f"{remaining // _UNIT_SECONDS['w']}w"
    parts = []
    for unit in ("d", "h", "m", "s"):
        count, remaining = divmod(remaining, _UNIT_SECONDS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _validator(*, allow_zero: bool):
    def validate(value: Any) -> timedelta:
        if isinstance(value, timedelta):
            # Programmatic construction (tests, factories) may pass a timedelta directly.
            if value < timedelta(0) or (value == timedelta(0) and not allow_zero):
                raise DurationError(f"`{format_duration(abs(value))}` must be positive")
            return value
        if isinstance(value, bool) or isinstance(value, (int, float)):
            # YAML reads `after: 5` as a number; say which unit is missing instead of "not a str".
            raise DurationError(f"`{value}` has no unit (seconds? minutes?)")
        return parse_duration(value, allow_zero=allow_zero)

    return validate


_SERIALIZER = PlainSerializer(format_duration, return_type=str)

Duration = Annotated[
    timedelta,
    PlainValidator(_validator(allow_zero=False)),
    _SERIALIZER,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "A positive duration: 45s, 5m, 2h, 3d, 1w, or combined such as 1h30m.",
            "examples": ["45s", "5m", "2h", "3d", "1h30m"],
        }
    ),
]
"""A positive duration written as in the plan; held as a timedelta, written back as text."""

Delay = Annotated[
    timedelta,
    PlainValidator(_validator(allow_zero=True)),
    _SERIALIZER,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "A delay, zero or positive: 0s (straight away), 5m, 1h30m, ...",
            "examples": ["0s", "5m", "15m"],
        }
    ),
]
"""Like Duration but `0s` is allowed: "after 0s" means straight away."""
