"""Paging scenarios with the real app, a FakeClock and the fake Bot Connector: declare for a
service -> level 1 paged -> no ack -> level 2 -> an ack stops it; and nothing else is sent."""
import asyncio

from app import ENGINE_TICK_KEY
from bot.domain import conversations
from storage import paging as store
from tests.http.harness import GROUP, INVOKE

PEOPLE = {  # AAD ids the bot has seen (as if they had used it in Teams)
    "sofia.martins@contoso.com": ("aad-sofia", "Sofia Martins"),
    "tom.becker@contoso.com": ("aad-tom", "Tom Becker"),
    "aisha.patel@contoso.com": ("aad-aisha", "Aisha Patel"),
    "priya.raman@contoso.com": ("aad-priya", "Priya Raman"),
}


async def _known_in_teams(harness):
    for email, (aad, name) in PEOPLE.items():
        await harness.service.execute(lambda s, now, a=aad, n=name, e=email: conversations.remember_person(
            s, aad_object_id=a, display_name=n, email=e, now=now))


def _page_cards(connector):
    """Every page card delivered in Teams, in order (a new message in a 1:1 chat Teams accepted)."""
    return [att["content"] for r in connector.find(method="POST", path=r"/activities$") if r.status == 201
            for att in (r.json or {}).get("attachments") or [] if "🚨 Page:" in str(att.get("content"))]


async def _paged(harness, connector):
    """Who each delivered page card was for, in order (looked up by the page id on its buttons)."""
    emails = []
    for card in _page_cards(connector):
        page_id = card["actions"][0]["data"]["page_id"]
        emails.append((await harness.service.read(lambda s, p=page_id: store.get_page(s, p))).email)
    return emails


async def _eventually(probe, timeout=5.0):
    for _ in range(int(timeout / 0.02)):
        found = await probe()
        if found:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError("not seen in time")


async def _kinds(harness, incident_id=1):
    return [(e.kind, e.text) for e in await harness.timeline(incident_id)]


async def test_declare_pages_level_one_escalates_to_level_two_and_an_ack_stops_it(harness, connector, clock):
    tick = harness.client.server.app[ENGINE_TICK_KEY].tick
    await _known_in_teams(harness)
    await harness.say("declare Payments API down sev1 service:azure-api", GROUP)
    await tick()
    # level 1: schedule platform-primary has Sofia on call this week, reached in a new 1:1 chat
    await harness.until(lambda: _page_cards(connector))
    assert await _paged(harness, connector) == ["sofia.martins@contoso.com"]
    [chat] = [r.json for r in connector.find(method="POST", path=r"^/v3/conversations$")]
    assert chat["members"] == [{"id": "aad-sofia"}] and chat["isGroup"] is False
    assert "INC-1" in str(_page_cards(connector)[0]) and "Payments API down" in str(_page_cards(connector)[0])
    events = await _kinds(harness)
    assert ("escalation", "paging started (policy platform-critical): SEV1 declared for "
            "Work-order API (Azure App Service, West Europe)") in events
    assert ("page", "Level 1 of 3 (round 1 of 2): paged Sofia Martins via schedule:platform-primary") in events
    await _eventually(lambda: _has(harness, ("page_delivery", "page to Sofia Martins delivered via teams")))

    # no ack for 5 minutes: level 2 pages the follow-the-sun schedule (Aisha, Chicago daytime) and Tom
    clock.advance(minutes=4, seconds=59)
    await tick()
    assert len(_page_cards(connector)) == 1  # not yet
    clock.advance(seconds=1)
    await tick()
    await harness.until(lambda: len(_page_cards(connector)) == 3)
    assert sorted((await _paged(harness, connector))[1:]) == ["aisha.patel@contoso.com", "tom.becker@contoso.com"]
    # Sofia's e-mail (her second contact method, 5 minutes in) is attempted; e-mail is not set up here
    await _eventually(lambda: _has_text(harness, "page to Sofia Martins via email: failed (e-mail is not configured"))

    # Tom acknowledges from his page card
    [tom_card] = [c for c, e in zip(_page_cards(connector), await _paged(harness, connector)) if e.startswith("tom")]
    data = tom_card["actions"][0]["data"]
    status, body = await harness.press("page.ack", data, INVOKE, user=("aad-tom", "Tom Becker"))
    assert status == 200 and "You acknowledged this page" in str(body)
    escalation = await harness.service.read(lambda s: store.get_escalation(s, data["escalation_id"]))
    assert (escalation.status, escalation.acknowledged_by) == ("acknowledged", "Tom Becker")
    told = await harness.until(lambda: [t for t in harness.texts() if "acknowledged the page for INC-1" in t])
    assert told == ["✅ Tom Becker acknowledged the page for INC-1; paging stopped."]
    # pressed again by someone else: nothing changes
    status, body = await harness.press("page.ack", data, INVOKE, user=("aad-aisha", "Aisha Patel"))
    assert "Already handled: Tom Becker acknowledged it." in str(body)

    # time passes: nothing more is paged, and the contact attempts still waiting were cancelled
    clock.advance(minutes=30)
    await tick()
    await asyncio.sleep(0.3)
    assert len(_page_cards(connector)) == 3
    rows = await harness.outbox()
    assert [r.key for r in rows if r.status == "pending"] == []
    cancelled = sorted(r.payload["method"] for r in rows if r.status == "cancelled")
    assert cancelled == ["email", "webhook"]  # Aisha's e-mail (10m) and Tom's SMS webhook (5m)
    kinds = [k for k, _ in await _kinds(harness)]
    assert kinds.count("page") == 2 and kinds.count("page_ack") == 1
    # no unexpected outbound message: the group chat's replies and notices, three pages, nothing else
    chats = {r.json["members"][0]["id"] for r in connector.find(method="POST", path=r"^/v3/conversations$")}
    assert chats == {"aad-sofia", "aad-aisha", "aad-tom"}
    posted_in = {r.path.split("/")[3] for r in connector.find(method="POST", path=r"/activities$")}
    assert len(posted_in) == 4  # the group chat and the three 1:1 chats


async def _has(harness, event):
    return event in await _kinds(harness)


async def _has_text(harness, text):
    return any(text in (t or "") for _, t in await _kinds(harness))


async def test_a_throttled_page_waits_for_retry_after_then_goes_once(harness, connector, clock):
    tick = harness.client.server.app[ENGINE_TICK_KEY].tick
    await _known_in_teams(harness)
    connector.fail_next(r"^/v3/conversations/a:[^/]+/activities$", 429, headers={"Retry-After": "30"}, method="POST")
    await harness.say("declare Payments API down sev1 service:azure-api", GROUP)
    await tick()
    refused = await harness.until(lambda: [r for r in connector.find(method="POST", path=r"/activities$")
                                           if r.status == 429])
    assert len(refused) == 1 and _page_cards(connector) == []  # the 429 is recorded, not counted as a page
    await asyncio.sleep(0.3)
    assert len(connector.find(method="POST", path=r"^/v3/conversations/a:[^/]+/activities$")) == 1  # waits
    clock.advance(seconds=30)
    await harness.until(lambda: _page_cards(connector))
    await asyncio.sleep(0.3)
    assert len(_page_cards(connector)) == 1  # exactly once, after the wait
    assert await _paged(harness, connector) == ["sofia.martins@contoso.com"]
