"""The text conventions users rely on: `INC-<n>` ids and absolute times with date and zone."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.errors import ValidationFailed

_REF = re.compile(r"^(?:inc-?)?(\d{1,9})$", re.IGNORECASE)


def incident_ref(number: int) -> str:
    """The id users see, e.g. INC-7."""
    return f"INC-{number}"


def parse_incident_ref(text: str) -> int:
    """`INC-7`, `inc7` or `7` -> 7; anything else is a ValidationFailed with the expected form."""
    match = _REF.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValidationFailed(f"'{text}' is not an incident id; write it like INC-7.")
    return int(match.group(1))


def looks_like_incident_ref(text: str) -> bool:
    """True for tokens such as INC-7 (a bare number is not enough to be sure)."""
    return bool(re.match(r"^inc-?\d{1,9}$", text.strip(), re.IGNORECASE))


def viewer_zone(name: str | None) -> ZoneInfo | timezone:
    """The viewer's zone when Teams told us a valid one, else UTC."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return timezone.utc


def format_time(moment: datetime, zone: ZoneInfo | timezone | None = None) -> str:
    """`2026-11-29 14:05 UTC`, or in the viewer's zone with its abbreviation."""
    zone = zone or timezone.utc
    local = moment.astimezone(zone)
    label = "UTC" if zone is timezone.utc else (local.tzname() or str(zone))
    return f"{local:%Y-%m-%d %H:%M} {label}"


def format_age(delta: timedelta) -> str:
    """A compact age such as `3d 4h`, `2h 5m`, `45s`."""
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


# Characters that make Markdown, mentions or HTML in Teams, and harmless lookalikes for them.
_INERT = str.maketrans({"*": "∗", "[": "⁅", "]": "⁆", "`": "ˋ", "<": "‹", ">": "›", "~": "∼", "\x00": None})


def inert_text(text: object, *, limit: int = 200) -> str:
    """Text from outside (a monitoring alert) made safe to put in any message, card or timeline
    entry as it is: one line, at most `limit` characters, and no character that Teams reads as
    Markdown, a mention or HTML (each becomes a lookalike). Escaping at each place it is shown
    would miss one; this is done once, where the text comes in."""
    line = " ".join(str(text).translate(_INERT).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
