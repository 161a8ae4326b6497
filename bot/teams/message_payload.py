"""The Teams message a message action was started on, as plain data.

Teams hands a message action the message as `messagePayload`: its body is HTML (paragraphs,
`<br>`, `<at>` mentions, emoji as `<img alt>`, entities), its author is a user or an app, and
`linkToMessage` is a deep link back to it. Responders read the timeline as text, so the body is
turned into text here, once, and everything downstream works with `QuotedMessage`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from html import unescape
from html.parser import HTMLParser
from typing import Any

# Tags that end a line of text when Teams renders the message.
_BLOCK_TAGS = frozenset({
    "p", "div", "br", "li", "ul", "ol", "tr", "table", "blockquote", "pre",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr",
})
_SKIPPED_TAGS = frozenset({"script", "style", "attachment", "template"})


class _TextExtractor(HTMLParser):
    """Collects the visible text of a Teams message body, one line per block."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")
        elif tag == "img":  # Teams sends emoji as <img alt="😀">; other images have no text
            alt = dict(attrs).get("alt")
            if alt and not self._skipping:
                self.parts.append(alt)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _SKIPPED_TAGS:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(content: str) -> str:
    """The text a person sees in a Teams message body: tags gone, entities decoded, one line per
    paragraph or `<br>`, runs of spaces collapsed and blank lines dropped (the timeline shows
    each entry as one block)."""
    parser = _TextExtractor()
    parser.feed(content)
    parser.close()
    text = "".join(parser.parts).replace("\u00a0", " ")
    lines = (re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


@dataclass(frozen=True)
class QuotedMessage:
    """A message someone pointed Firebreak at: its text, who wrote it, and where it is."""

    text: str = ""
    author: str = ""
    link: str | None = None
    message_id: str | None = None
    subject: str | None = None
    created: datetime | None = None

    @property
    def empty(self) -> bool:
        return not (self.text or self.link or self.message_id)

    def as_data(self) -> dict[str, str]:
        """The fields a form carries to its submit, in case Teams sends no messagePayload there."""
        data = {"text": self.text, "author": self.author, "link": self.link or "", "id": self.message_id or ""}
        return {key: value for key, value in data.items() if value}


def _get(obj: Any, attr: str, key: str) -> Any:
    """Read a field from an msrest model (`attr`) or a plain dict (`key`)."""
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(key)
    value = getattr(obj, attr, None)
    if value is None:
        extra = getattr(obj, "additional_properties", None) or {}
        value = extra.get(key)
    return value


def _safe_link(raw: Any) -> str | None:
    """Only https links go on the record (Teams' own are https://teams.microsoft.com/l/...)."""
    if isinstance(raw, str) and raw.strip().lower().startswith("https://"):
        return raw.strip()
    return None


def _parse_time(raw: Any) -> datetime | None:
    if not isinstance(raw, str) or not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def quoted_message(payload: Any) -> QuotedMessage:
    """A `messagePayload` (model or dict) as a QuotedMessage; an absent payload gives an empty one."""
    if payload is None:
        return QuotedMessage()
    body = _get(payload, "body", "body")
    content = _get(body, "content", "content") or ""
    kind = (_get(body, "content_type", "contentType") or "html").lower()
    text = html_to_text(content) if kind == "html" else unescape(str(content)).strip()
    sender = _get(payload, "from_property", "from")
    who = _get(sender, "user", "user") or _get(sender, "application", "application")
    author = _get(who, "display_name", "displayName") or ""
    subject = _get(payload, "subject", "subject")
    return QuotedMessage(
        text=text,
        author=str(author).strip(),
        link=_safe_link(_get(payload, "link_to_message", "linkToMessage")),
        message_id=_get(payload, "id", "id") or None,
        subject=html_to_text(subject) if isinstance(subject, str) and subject.strip() else None,
        created=_parse_time(_get(payload, "created_date_time", "createdDateTime")),
    )


def carried_message(data: Any) -> QuotedMessage:
    """The message fields a form carried in its submit data (see `QuotedMessage.as_data`)."""
    if not isinstance(data, dict):
        return QuotedMessage()

    def text(key: str) -> str:
        value = data.get(key)
        return value.strip() if isinstance(value, str) else ""

    return QuotedMessage(text=text("text"), author=text("author"), link=_safe_link(text("link")),
                         message_id=text("id") or None)
