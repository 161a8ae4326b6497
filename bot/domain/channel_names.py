"""Names for incident channels in Teams: `inc-7-payments-api-down`.

Pure functions, no I/O. Teams refuses some channel names (Microsoft, "Limits and
specifications for Microsoft Teams", section "Channel names"; Graph "Create channel"):

- at most 50 characters;
- none of ~ # % & * { } + / \\ : < > ? | ' " , nor "..", nor characters 0x00-0x1F, 0x80-0x9F;
- not the words forms, CON, CONIN$, CONOUT$, PRN, AUX, NUL, COM1-COM9, LPT1-LPT9,
  desktop.ini, _vti_;
- not starting with "_" or ".", not ending with ".".

Rather than strip each forbidden character, a name is built only from `[a-z0-9]` words joined by
"-", so every rule above holds by construction (no dots, underscores or control characters can
appear). Reserved words are dropped from the title: the name is a handle, the full title lives in
the channel description and the incident card. The `inc-<n>` prefix is never cut because it is
what makes the name unique and what responders search for.
"""
from __future__ import annotations

import re
import unicodedata

from bot.errors import ValidationFailed

MAX_CHANNEL_NAME = 50

# Lower-case forms of the documented reserved words that can survive our folding as one word.
# "CONIN$", "CONOUT$", "desktop.ini" and "_vti_" cannot: their "$", "." and "_" split or vanish.
RESERVED_WORDS = frozenset(
    {"forms", "con", "prn", "aux", "nul"}
    | {f"com{i}" for i in range(1, 10)}
    | {f"lpt{i}" for i in range(1, 10)}
)

# Apostrophes join ("can't" -> "cant"); every other non-alphanumeric run separates words.
_APOSTROPHES = re.compile(r"['\u2018\u2019\u02bc`]")
_WORD = re.compile(r"[a-z0-9]+")
_INC_PREFIX = re.compile(r"^inc-\d+")


def _words(title: str) -> list[str]:
    """ASCII words of `title`: accents folded (é -> e), emoji and non-Latin scripts dropped."""
    folded = unicodedata.normalize("NFKD", title)
    folded = _APOSTROPHES.sub("", folded)
    ascii_only = folded.encode("ascii", "ignore").decode("ascii").lower()
    return [w for w in _WORD.findall(ascii_only) if w not in RESERVED_WORDS]


def _append_words(base: str, words: list[str], limit: int) -> str:
    """`base` plus as many whole words as fit in `limit` characters.

    A first word longer than the room left is cut hard: a name that says nothing but `inc-7`
    because the title began with a 60-character identifier would help nobody.
    """
    name = base
    for word in words:
        candidate = f"{name}-{word}"
        if len(candidate) <= limit:
            name = candidate
            continue
        if name == base:
            room = limit - len(base) - 1
            if room > 0:
                name = f"{base}-{word[:room]}"
        break
    return name


def incident_channel_name(number: int, title: str) -> str:
    """The Teams channel name for incident `number`: `inc-<n>-<title words>`, at most 50 chars.

    Always valid for Teams, never empty, and stable for the same input (so a retried create
    asks for the same name and lands on the existing channel).
    """
    if isinstance(number, bool) or not isinstance(number, int) or number < 0:
        raise ValidationFailed(f"An incident number is a whole number >= 0, not {number!r}.")
    prefix = f"inc-{number}"
    if len(prefix) > MAX_CHANNEL_NAME:
        raise ValidationFailed(f"Incident number {number} is too long for a Teams channel name.")
    return _append_words(prefix, _words(title or ""), MAX_CHANNEL_NAME)


def unique_suffix(name: str, n: int) -> str:
    """`name` made distinct for the n-th attempt: `name-2`, `name-3`, ... (n=1: `name` itself).

    Used when the name is taken, for instance by a channel deleted less than 30 days ago (Teams
    keeps those names reserved and Graph does not list them). The result still fits in 50
    characters: words are dropped from the end of `name`, never its `inc-<n>` prefix.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValidationFailed(f"A collision counter is a whole number >= 1, not {n!r}.")
    if n == 1:
        return name
    suffix = f"-{n}"
    limit = MAX_CHANNEL_NAME - len(suffix)
    if len(name) <= limit:
        return f"{name}{suffix}"
    prefix_match = _INC_PREFIX.match(name)
    keep = prefix_match.end() if prefix_match else 0
    if keep > limit:
        raise ValidationFailed(f"No room for a suffix after {name[:keep]!r}.")
    cut = name.rfind("-", keep + 1, limit + 1)  # a word boundary after the prefix's own words
    base = name[:cut] if cut > 0 else name[:limit]  # one long word: cut it, as when naming
    return f"{base.rstrip('-')}{suffix}"
