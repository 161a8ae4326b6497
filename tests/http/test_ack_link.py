"""`/ack/{token}`: the one-click acknowledge link of e-mail and webhook pages, on the real app.

GET only shows the page and a button (mail scanners open links); POST acknowledges, once.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import yaml

from app import create_app
from bot import ack_links
from bot.domain import conversations
from bot.errors import ConfigError
from bot.plan import parse_plan
from storage import paging as paging_store
from storage.models import Incident
from tests.http.harness import GROUP, dev_settings, start_harness
from tests.support import EXAMPLE_PLAN

SECRET = "test-ack-secret-0123456789abcdef"
PRIYA = ("aad-priya", "Priya Raman", "priya.raman@contoso.com")


def _plan():
    """The example plan, plus a Payments API whose policy pages Priya (Teams now, e-mail after 10m)."""
    data = yaml.safe_load(EXAMPLE_PLAN.read_text())
    data["escalation_policies"].append({"id": "payments", "levels": [{"targets": [f"person:{PRIYA[2]}"], "after": "30m"}]})
    data["services"].append({"id": "payments-api", "name": "Payments API", "owner_group": "platform",
                             "escalation_policy": "payments"})
    return parse_plan(yaml.safe_dump(data, sort_keys=False))


async def _start(tmp_path, connector, clock, *, secret: str = SECRET):
    h = await start_harness(tmp_path / "fb.db", connector, clock, plan=_plan(), FIREBREAK_ACK_SECRET=secret,
                            FIREBREAK_PUBLIC_URL="https://firebreak.contoso.com")
    aad, name, mail = PRIYA
    await h.service.execute(lambda s, now: conversations.remember_person(
        s, aad_object_id=aad, display_name=name, email=mail, now=now))
    return h


@pytest.fixture
async def paged(tmp_path, connector, clock):
    """INC-1 declared for the Payments API: page 1 (Priya) exists and is being delivered."""
    h = await _start(tmp_path, connector, clock)
    await h.say("declare Payments API down sev1 service:payments-api", GROUP)
    await h.until(lambda: any("You are paged" in t for t in h.texts()))
    yield h
    await h.client.close()


def _link(clock, page_id: int = 1, *, valid=timedelta(hours=24), secret: str = SECRET) -> str:
    return f"/ack/{ack_links.sign(secret, page_id, clock.now() + valid)}"


async def _escalation(h):
    return await h.service.read(lambda s: paging_store.get_escalation(s, 1))


async def _acks(h) -> list:
    return [e for e in await h.timeline(1) if e.kind == "page_ack"]


def _text(page: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", page).split())


async def test_get_shows_the_page_and_a_button_but_does_not_acknowledge(paged, clock):
    async def retitle(session, now):  # a title Teams would never pass through, to prove escaping
        (await session.get(Incident, 1)).title = 'Payments <script>alert("x")</script> & co'
    await paged.service.execute(retitle)
    response = await paged.client.get(_link(clock))
    page = await response.text()
    assert response.status == 200 and response.content_type == "text/html"
    assert "INC-1: Payments &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co" in page
    assert "<script" not in page
    text = _text(page)
    assert "Severity SEV1 (Critical)" in text and "Paged Priya Raman, level 1, at 2026-11-29 14:05 UTC" in text
    assert page.count("<form") == 1 and '<form method="post"><button type="submit">' in page
    # the URL is a credential: not cached, not leaked through Referer, not framed
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    # a second look (a scanner, a preview) changes nothing either
    await paged.client.get(_link(clock))
    assert (await _escalation(paged)).status == "active" and await _acks(paged) == []


async def test_post_acknowledges_as_the_person_paged_and_stops_paging(paged, clock):
    response = await paged.client.post(_link(clock))
    text = _text(await response.text())
    assert response.status == 200 and "✅ You acknowledged the page for INC-1. Paging has stopped." in text
    escalation = await _escalation(paged)
    assert (escalation.status, escalation.acknowledged_by) == ("acknowledged", "Priya Raman")
    [ack] = await _acks(paged)
    assert (ack.source, ack.actor_name, ack.actor_aad) == ("ack_link", "Priya Raman", "")
    # the e-mail attempt due in 10 minutes is not needed any more
    [email_row] = [m for m in await paged.outbox() if m.key == "page:1:1"]
    assert email_row.status == "cancelled"
    await paged.until(lambda: "✅ Priya Raman acknowledged the page for INC-1; paging stopped." in paged.texts())


async def test_a_second_post_says_who_already_acknowledged(paged, clock):
    await paged.client.post(_link(clock))
    clock.advance(minutes=3)
    again = await paged.client.post(_link(clock))
    text = _text(await again.text())
    assert again.status == 200
    assert "Already acknowledged by Priya Raman at 2026-11-29 14:05 UTC; paging has stopped." in text
    assert "You acknowledged" not in text
    assert len(await _acks(paged)) == 1
    shown = await paged.client.get(_link(clock))
    page = await shown.text()
    assert "<form" not in page and "Already acknowledged by Priya Raman" in page


async def test_an_expired_link_is_410_and_says_to_use_teams(paged, clock):
    link = _link(clock, valid=timedelta(minutes=5))
    clock.advance(minutes=6)
    for response in (await paged.client.get(link), await paged.client.post(link)):
        text = _text(await response.text())
        assert response.status == 410
        assert "expired at 2026-11-29 14:10 UTC" in text and "Acknowledge the page in Teams instead" in text
    assert (await _escalation(paged)).status == "active"


@pytest.mark.parametrize("token", ["nonsense", "A" * 64, "wrong-secret"])
async def test_an_invalid_link_is_400_and_acknowledges_nothing(paged, clock, token):
    if token == "wrong-secret":
        token = _link(clock, secret="another-secret-0123456789abcdef").rsplit("/", 1)[1]
    for response in (await paged.client.get(f"/ack/{token}"), await paged.client.post(f"/ack/{token}")):
        assert response.status == 400
        assert "not valid" in await response.text() and "Teams" in await response.text()
    assert (await _escalation(paged)).status == "active" and await _acks(paged) == []


async def test_a_link_to_a_page_that_does_not_exist_is_404(paged, clock):
    response = await paged.client.post(_link(clock, page_id=999))
    assert response.status == 404 and "no longer exists" in await response.text()


async def test_a_resolved_incident_has_nothing_to_acknowledge(paged, clock):
    await paged.say("resolve Rolled back the deploy", GROUP)
    assert (await _escalation(paged)).status == "stopped"
    response = await paged.client.post(_link(clock))
    assert response.status == 200 and "Paging has already stopped" in await response.text()
    assert await _acks(paged) == []


async def test_without_a_secret_links_are_not_enabled(tmp_path, connector, clock):
    h = await _start(tmp_path, connector, clock, secret="")
    try:
        for response in (await h.client.get(_link(clock)), await h.client.post(_link(clock))):
            assert response.status == 404
            assert "Acknowledge links are not enabled" in await response.text()
    finally:
        await h.client.close()


def test_paging_settings_that_cannot_work_refuse_to_start(tmp_path):
    settings = dev_settings(tmp_path / "fb.db", FIREBREAK_ACK_SECRET="short", FIREBREAK_SMTP_HOST="smtp.contoso.com",
                            FIREBREAK_SMTP_TLS="none", FIREBREAK_SMTP_USERNAME="firebreak",
                            FIREBREAK_SMTP_PASSWORD="hunter2-secret")
    with pytest.raises(ConfigError) as refused:
        create_app(settings, plan=_plan())
    said = str(refused.value)
    assert "FIREBREAK_ACK_SECRET must be at least 16 characters" in said
    assert "FIREBREAK_SMTP_FROM must be the sender address" in said
    assert "FIREBREAK_SMTP_TLS=none would send the SMTP password unencrypted to smtp.contoso.com" in said
    assert "hunter2" not in said  # secrets are never echoed
