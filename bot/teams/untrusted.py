"""Text and links that come from outside (monitoring alerts) made safe for a card.

Alert text is written by whoever can make a monitor fire. In a TextBlock it must stay text:
no Markdown (links, emphasis, headings that change what a responder reads), no `<at>` tags
(a mention spam vector in Teams), no HTML, no line breaks that fake card structure. Links go
only in `Action.OpenUrl` and only with http or https, so `javascript:` and friends never reach
a card.
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit

_MARKDOWN = re.compile(r"([\\`*_\[\]~])")  # what the Adaptive Card Markdown subset reacts to mid-line
_LINE_START = re.compile(r"^(\s*)(?:([-+#])|(\d+)\.)")  # lists (and headings) only at the start of a line
MAX_URL = 2048


def plain(text: object, *, limit: int = 200) -> str:
    """One line of inert text: angle brackets replaced, Markdown escaped (CommonMark backslash
    escapes, only where the card's Markdown subset would react: emphasis, links, code, a list
    at the start), whitespace collapsed, cut at `limit` characters (with an ellipsis)."""
    line = " ".join(str(text).split())
    if len(line) > limit:
        line = line[: limit - 1] + "…"
    line = line.replace("<", "‹").replace(">", "›")
    line = _MARKDOWN.sub(r"\\\1", line)
    return _LINE_START.sub(lambda m: m.group(1) + (f"\\{m.group(2)}" if m.group(2) else f"{m.group(3)}\\."), line)


def safe_url(url: object) -> str | None:
    """`url` if it is an absolute http(s) URL of sane length, else None."""
    if not isinstance(url, str) or len(url) > MAX_URL or any(c in url for c in "\r\n\t "):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme in ("http", "https") and parts.netloc else None
