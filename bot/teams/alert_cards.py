"""The alerts section of the incident card, and the `alerts` listing. Pure renderers; every
piece of alert text goes through `bot.teams.untrusted` (it is written by whoever can make a
monitor fire)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.domain.formatting import format_time, incident_ref
from bot.domain.model import AlertSummary
from bot.teams.untrusted import plain, safe_url

if TYPE_CHECKING:  # every incident card imports this module; the alert rows load with `alerts`
    from bot.domain.alerts import AlertLine

LIST_LIMIT = 20


def alerts_section(summary: AlertSummary) -> list[dict]:
    """A few lines: counts, the telling labels, links back to the source."""
    state = f"🔥 {summary.firing} firing" if summary.firing else "✅ all resolved"
    counts = f"**Alerts:** {state} · {summary.resolved} resolved" + (
        f" · {summary.groups} groups" if summary.groups > 1 else "")
    items: list[dict] = [{"type": "TextBlock", "text": counts, "wrap": True, "spacing": "Medium"}]
    if summary.flapping:
        items.append({"type": "TextBlock", "text": "〰️ Flapping: not paged again while it flaps", "wrap": True,
                      "isSubtle": True, "spacing": "None"})
    if summary.labels:
        items.append({"type": "FactSet", "spacing": "Small",
                      "facts": [{"title": plain(k, limit=40), "value": plain(v, limit=120)} for k, v in summary.labels]})
    actions = [{"type": "Action.OpenUrl", "title": plain(link.title, limit=40), "url": url}
               for link in summary.links if (url := safe_url(link.url))]
    if actions:
        items.append({"type": "ActionSet", "actions": actions[:3]})
    return items


def alerts_card(incident_id: int, lines: Sequence[AlertLine], silences: Sequence[str]) -> dict:
    """`alerts`: the incident's alerts, firing first, at most LIST_LIMIT, and the silences."""
    ref = incident_ref(incident_id)
    firing = sum(1 for line in lines if line.status == "firing")
    body: list[dict] = [{"type": "TextBlock", "text": f"Alerts of {ref}: {firing} firing, {len(lines) - firing} other",
                         "weight": "Bolder", "size": "Medium", "wrap": True}]
    for line in lines[:LIST_LIMIT]:
        mark = {"firing": "🔥", "resolved": "✅"}.get(line.status, "•")
        labels = ", ".join(f"{plain(k, limit=30)}={plain(v, limit=60)}" for k, v in list(line.labels.items())[:4])
        muted = " · 🔇 silenced" if line.silenced else ""
        body.append({"type": "TextBlock", "wrap": True, "spacing": "Small",
                     "text": f"{mark} {plain(line.title)} · since {format_time(line.since)}{muted}"})
        if labels:
            body.append({"type": "TextBlock", "text": labels, "wrap": True, "isSubtle": True, "size": "Small",
                         "spacing": "None"})
    if len(lines) > LIST_LIMIT:
        body.append({"type": "TextBlock", "text": f"…and {len(lines) - LIST_LIMIT} more.", "isSubtle": True})
    if silences:
        body.append({"type": "TextBlock", "text": "**Silences**", "spacing": "Medium", "wrap": True})
        body += [{"type": "TextBlock", "text": f"🔇 {plain(s, limit=300)}", "wrap": True, "spacing": "Small"}
                 for s in silences]
    return {"type": "AdaptiveCard", "$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "version": "1.5",
            "body": body}



PAYLOAD_PAGE_BYTES = 24_000  # of escaped UTF-8 per message: under Teams' ~28 KB with the header


def payload_pages(body: str) -> list[str]:
    """The body made safe for a code block in a message (a fence in it cannot end the block; angle
    brackets show as ‹ › so no tag such as an `<at>` mention can form), cut into pages of at most
    PAYLOAD_PAGE_BYTES bytes, never inside a character. Joined, the pages are the whole body."""
    data = body.replace("```", "`\u200b``").replace("<", "‹").replace(">", "›").encode("utf-8")
    pages, start = [], 0
    while start < len(data):
        end = min(len(data), start + PAYLOAD_PAGE_BYTES)
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # back off to a character's first byte
            end -= 1
        pages.append(data[start:end].decode("utf-8"))
        start = end
    return pages or [""]


def payload_text(incident_id: int, payload_id: int, body: str, *, page: int) -> str:
    """One page of a webhook body as received, as a code block in a message."""
    pages = payload_pages(body)
    page = min(max(1, page), len(pages))
    where = (f" (page {page} of {len(pages)}: say `alerts payload {payload_id} page {page + 1}` for more)"
             if page < len(pages) else (f" (page {page} of {len(pages)})" if len(pages) > 1 else ""))
    return f"Webhook {payload_id} of {incident_ref(incident_id)}{where}, as received:\n\n```\n{pages[page - 1]}\n```"
