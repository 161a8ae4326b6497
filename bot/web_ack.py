"""`GET` and `POST /ack/{token}`: acknowledge a page from the link in its e-mail or webhook message.

The token (`bot/ack_links.py`) names one page and is signed with FIREBREAK_ACK_SECRET; without
that secret these routes answer 404 "acknowledge links are not enabled".

Why a GET never acknowledges: mail security scanners (Defender Safe Links, Proofpoint,
Mimecast) and link previews fetch the links in a message, often before anyone reads it. If
opening the link acknowledged the page, a robot would stop the paging while nobody is
answering. So GET only shows what the page is about and one button. The button POSTs to the
same URL, and only that POST acknowledges. Scanners do not submit forms.

Why there is no CSRF token: the signed token in the URL is the credential. There is no cookie
or session for a cross-site request to ride on. Anyone able to make the POST already holds the
link and could press the button. The pages refuse to be framed (no clickjacking of the button),
send no Referer (the link does not leak to the sites linked from it), and are never cached.

Who acknowledges: the person the page was sent to (their name from the plan, else the page's
e-mail), since the link went to their mailbox or phone. The timeline records the source
`ack_link`. Acknowledging twice is harmless: the second POST says who already did.
"""
from __future__ import annotations

import html
import logging
from dataclasses import dataclass

from aiohttp import web

from bot.ack_links import AckLinkExpired, AckLinkInvalid, verify
from bot.domain import paging
from bot.domain.formatting import format_time, incident_ref
from bot.domain.model import Actor, IncidentView, Source
from bot.domain.service import IncidentService
from bot.errors import NotFound
from bot.senders.common import person_name
from storage.paging import Escalation, PageRecord

log = logging.getLogger(__name__)

DISABLED = "Acknowledge links are not enabled on this Firebreak."
IN_TEAMS = ("Acknowledge the page in Teams instead: press Acknowledge on the page card in your chat with "
            "Firebreak, or ask the incident manager.")
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "X-Robots-Tag": "noindex, nofollow",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
}


@dataclass(frozen=True)
class _Target:
    page: PageRecord
    escalation: Escalation
    view: IncidentView


def add_ack_routes(app: web.Application, *, service: IncidentService, secret: str) -> None:
    """Serve `/ack/{token}`: GET shows the page and a button, POST acknowledges (see the module docstring)."""

    async def resolve(request: web.Request) -> _Target | web.Response:
        if not secret:
            return _html(404, "Not enabled", f"<p>{_e(DISABLED)}</p><p>{_e(IN_TEAMS)}</p>")
        try:
            page_id = verify(secret, request.match_info["token"], service.clock.now())
        except AckLinkExpired as exc:
            return _html(410, "Link expired", f"<p>{_e(str(exc))}</p><p>{_e(IN_TEAMS)}</p>")
        except AckLinkInvalid as exc:
            return _html(400, "Link not valid", f"<p>{_e(str(exc))}</p><p>{_e(IN_TEAMS)}</p>")
        found = await service.read(lambda s: paging.page_and_escalation(s, page_id))
        if found is None:
            return _html(404, "No such page", f"<p>This page no longer exists.</p><p>{_e(IN_TEAMS)}</p>")
        page, escalation = found
        try:
            view = await service.view(page.incident_id)
        except NotFound:
            return _html(404, "No such incident", "<p>The incident of this page no longer exists.</p>")
        return _Target(page, escalation, view)

    async def show(request: web.Request) -> web.Response:
        target = await resolve(request)
        if isinstance(target, web.Response):
            return target
        ref = incident_ref(target.view.id)
        state = _state(target.escalation)
        if state is None:
            action = ("<form method=\"post\"><button type=\"submit\">Acknowledge the page</button></form>"
                      "<p class=\"note\">Acknowledging stops the paging for this incident: nobody else is paged "
                      "after you.</p>")
        else:
            action = f"<p><strong>{_e(state)}</strong></p>"
        return _html(200, f"Page for {ref}", _summary(service, target) + action)

    async def acknowledge(request: web.Request) -> web.Response:
        target = await resolve(request)
        if isinstance(target, web.Response):
            return target
        plan = service.plan
        email = target.page.email
        actor = Actor(aad_id="", name=person_name(plan, email), email=email)
        try:
            row, acked = await service.execute(lambda s, now: paging.acknowledge(
                s, escalation_id=target.escalation.id, actor=actor, source=Source.ACK_LINK, now=now))
        except NotFound:
            return _html(404, "No such page", f"<p>This page no longer exists.</p><p>{_e(IN_TEAMS)}</p>")
        ref = incident_ref(target.view.id)
        if acked:
            log.info("page acknowledged by link", extra={"incident_id": target.view.id})
            done = f"<p><strong>✅ You acknowledged the page for {_e(ref)}. Paging has stopped.</strong></p>"
        else:
            done = f"<p><strong>{_e(_state(row) or 'Nothing to acknowledge.')}</strong></p>"
        space = target.view.incident.space_url
        if space:
            done += f"<p><a href=\"{_e(space)}\">Join the incident's space in Teams</a></p>"
        return _html(200, f"Page for {ref}", _summary(service, target) + done)

    app.router.add_get("/ack/{token}", show)
    app.router.add_post("/ack/{token}", acknowledge)


def _state(escalation: Escalation) -> str | None:
    """Why there is nothing to acknowledge, or None while the page may be acknowledged."""
    if escalation.status == "acknowledged":
        when = f" at {format_time(escalation.acknowledged_at)}" if escalation.acknowledged_at else ""
        return f"Already acknowledged by {escalation.acknowledged_by or 'someone'}{when}; paging has stopped."
    if escalation.status == "stopped":
        return "Paging has already stopped (the incident was resolved or paging was called off)."
    return None


def _summary(service: IncidentService, target: _Target) -> str:
    plan = service.plan
    inc = target.view.incident
    try:
        severity = f"{inc.severity.upper()} ({plan.severity(inc.severity).name})"
    except NotFound:
        severity = inc.severity.upper()
    page = target.page
    rows = [("Severity", severity), ("Status", inc.status.capitalize()),
            ("Paged", f"{person_name(plan, page.email)}, level {page.level + 1}, at {format_time(page.created_at)}")]
    table = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return (f"<h1>🚨 {_e(incident_ref(target.view.id))}: {_e(inc.title)}</h1>"
            f"<table>{table}</table>")


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _html(status: int, title: str, body: str) -> web.Response:
    page = ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<meta name=\"robots\" content=\"noindex, nofollow\">"
            f"<title>{_e(title)} · Firebreak</title><style>"
            "body{font-family:'Segoe UI',Arial,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#242424}"
            "h1{font-size:1.4rem}th{text-align:left;padding:2px 1rem 2px 0;vertical-align:top}"
            "button{font-size:1.1rem;padding:.6rem 1.4rem;background:#107c10;color:#fff;border:0;border-radius:4px;"
            "cursor:pointer}.note{color:#616161}"
            f"</style></head><body>{body}</body></html>")
    return web.Response(status=status, text=page, content_type="text/html", charset="utf-8", headers=HEADERS)
