"""Time windows typed in chat: `from 2026-12-01 09:00 to 2026-12-01 17:00`, `from now for 4h`,
`from tomorrow 09:00 to tomorrow 18:00`, `from today 18:00 to 22:00`.

Pure: the caller passes `now` and the viewer's zone, and every time is read in that zone (a
person saying 09:00 means their 09:00). A small strict grammar rather than free-form parsing,
so a typo is an error that shows the accepted forms, never a silently wrong override.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from bot.durations import parse_duration
from bot.errors import ValidationFailed

FORMS = ("`from 2026-12-01 09:00 to 2026-12-01 17:00`, `from now for 4h`, "
         "`from tomorrow 09:00 to tomorrow 17:00` or `from today 18:00 to 22:00`")
_WINDOW = re.compile(r"^\s*from\s+(?P<start>.+?)\s+(?:(?:to|until)\s+(?P<end>.+?)|for\s+(?P<length>\S+))\s*$", re.I)
_POINT = re.compile(r"^(?:(?P<day>today|tomorrow|\d{4}-\d{2}-\d{2})\s+)?(?P<clock>\d{1,2}:\d{2})$", re.I)


@dataclass(frozen=True)
class Window:
    """[start, end) in UTC."""

    start: datetime
    end: datetime


def split_window(text: str) -> tuple[str, str]:
    """(`text` before the window, the window phrase starting at `from`); the phrase is "" if none."""
    match = re.search(r"(?:^|\s)(from\s.+)$", text, re.I)
    if match is None:
        return text.strip(), ""
    return text[: match.start(1)].strip(), match.group(1).strip()


def parse_window(text: str, *, now: datetime, zone: ZoneInfo | timezone) -> Window:
    """The window `text` names; ValidationFailed shows the accepted forms."""
    match = _WINDOW.match(text or "")
    if match is None:
        raise ValidationFailed(f"I could not read that time window. Say it like {FORMS}.")
    start = _point(match.group("start"), now=now, zone=zone, base=None)
    if match.group("length"):
        try:
            end = start + parse_duration(match.group("length"))
        except ValueError as exc:
            raise ValidationFailed(f"{exc}. Say it like {FORMS}.") from None
    else:
        end = _point(match.group("end"), now=now, zone=zone, base=start)
    if end <= start:
        raise ValidationFailed("The window ends before it starts. Check the two times.")
    if end <= now:
        raise ValidationFailed("That window is already over.")
    if end - start > timedelta(days=31):
        raise ValidationFailed("Keep it to at most 31 days; longer changes belong in the plan's schedule.")
    return Window(start.astimezone(timezone.utc), end.astimezone(timezone.utc))


def _point(text: str, *, now: datetime, zone: ZoneInfo | timezone, base: datetime | None) -> datetime:
    """`now`, or `[today|tomorrow|YYYY-MM-DD] HH:MM` in `zone`. A bare end time is on the start's
    day (or the next day when that would be before the start)."""
    if text.strip().lower() == "now":
        return now
    match = _POINT.match(text.strip())
    if match is None:
        raise ValidationFailed(f"I could not read the time `{text}`. Say it like {FORMS}.")
    hour, minute = (int(x) for x in match.group("clock").split(":"))
    if hour > 23 or minute > 59:
        raise ValidationFailed(f"`{match.group('clock')}` is not a time of day.")
    local_now = now.astimezone(zone)
    day_word = (match.group("day") or "").lower()
    if day_word == "today":
        day = local_now.date()
    elif day_word == "tomorrow":
        day = local_now.date() + timedelta(days=1)
    elif day_word:
        try:
            day = date.fromisoformat(day_word)
        except ValueError:
            raise ValidationFailed(f"`{day_word}` is not a date; write YYYY-MM-DD.") from None
    else:
        day = (base.astimezone(zone).date() if base is not None else local_now.date())
    moment = datetime.combine(day, time(hour, minute), tzinfo=zone)
    if not day_word and base is not None and moment <= base:
        moment = datetime.combine(day + timedelta(days=1), time(hour, minute), tzinfo=zone)
    return moment
