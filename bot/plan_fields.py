"""Field types shared by every section of the response plan: ids, e-mails, text, time zones,
and the error that carries a fix."""
from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, StringConstraints, WithJsonSchema

from bot.plan_checks import did_you_mean

SLUG_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class FieldProblem(ValueError):
    """A field's value is wrong; carries the fix so the loader can show it beside the path."""

    def __init__(self, problem: str, *, fix: str) -> None:
        super().__init__(f"{problem}; {fix}")
        self.problem = problem
        self.fix = fix


def _check_time_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        hint = did_you_mean(name, sorted(available_timezones()))
        raise FieldProblem(
            f"`{name}` is not an IANA time zone{hint}",
            fix="use a name such as Europe/London, Europe/Berlin, America/New_York or UTC "
            "(list: https://en.wikipedia.org/wiki/List_of_tz_database_time_zones)",
        ) from None
    return name


Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
"""An id: lowercase letters, digits, `-` and `_`, starting with a letter or digit."""

# Pattern first (it allows upper case), then lower-case: people type e-mails with capitals,
# and Teams hands us UPNs in whatever case Entra ID stores them.
Email = Annotated[str, StringConstraints(pattern=EMAIL_PATTERN), AfterValidator(str.lower)]
"""An e-mail address or UPN, compared case-insensitively."""

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
"""Free text that must not be empty."""

TimeZoneName = Annotated[
    str,
    AfterValidator(_check_time_zone),
    WithJsonSchema({"type": "string", "description": "IANA time zone, e.g. Europe/London"}),
]
