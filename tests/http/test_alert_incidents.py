"""An alert opens an incident the way a declare does: its space (a thread in the incidents
channel), its card, pages through the service's policy, notices to the groups the route tells;
when the alerts resolve, the space hears of it. With the real app and the fake Bot Connector."""
import json

import pytest

from app import ENGINE_TICK_KEY
from tests.http.harness import CHANNEL
from tests.http.test_alerts_http import alertmanager_body, bearer, post
from tests.http.test_paging import _known_in_teams, _page_cards, _paged

@pytest.fixture(autouse=True)
def token(monkeypatch):
    monkeypatch.setenv("FIREBREAK_ALERTMANAGER_TOKEN", "am-token-0123456789")


async def test_an_alert_opens_a_space_pages_and_tells_tier1(harness, connector):
    await harness.bind_incidents_channel()
    await _known_in_teams(harness)
    status, answer = await post(harness, "alertmanager", alertmanager_body(), headers=bearer())
    assert status == 200
    incident_id = answer["groups"][0]["incident"]
    # the space: sev1 wants its own channel; Graph is not set up here, so a thread in the incidents channel
    view = await harness.until_async(lambda: _with_space(harness, incident_id))
    assert view.incident.space_kind == "thread" and "thread in #Incidents" in str(await harness.timeline(incident_id))
    [first_post] = [r.json for r in connector.find(method="POST", path=r"^/v3/conversations$")
                    if (r.json or {}).get("isGroup")]
    assert "HighLatency" in json.dumps(first_post["activity"])  # the living card is the thread's first post
    # the page: field-service-app's policy, level 1 = schedule platform-primary (Sofia this week)
    await harness.client.server.app[ENGINE_TICK_KEY].tick()
    await harness.until(lambda: _page_cards(connector))
    assert await _paged(harness, connector) == ["sofia.martins@contoso.com"]
    # tier1 receives every alert: its members seen in Teams get a notice in their 1:1 chat
    notices = await harness.until(lambda: [t for t in harness.texts() if "was opened by an alert" in t])
    assert len(notices) == 3  # Aisha (she set up the channel), Priya and Tom; Marcus was never seen in Teams
    events = [e.text for e in await harness.timeline(incident_id)]
    assert any(t and t.startswith("groups told: tier1 (3 people reached") for t in events)

    # every alert of the group resolves: the space is told; the incident stays open for people to close
    doc = json.loads(alertmanager_body())
    doc["status"] = "resolved"
    for alert in doc["alerts"]:
        alert["status"] = "resolved"
    status, answer = await post(harness, "alertmanager", json.dumps(doc).encode(), headers=bearer())
    assert status == 200 and answer["groups"][0]["resolved"]
    told = await harness.until(lambda: [t for t in harness.texts() if "alerts of INC-" in t])
    assert told == [f"✅ All 3 alerts of INC-{incident_id} have resolved. If the service is healthy, the incident "
                    "manager can say `resolve SUMMARY`."]
    [reply] = [r for r in connector.find(method="POST", path=r"/activities$") if "alerts of INC-" in str(r.json)]
    assert reply.path == f"/v3/conversations/{view.incident.home_conversation_id}/activities"  # in the thread
    assert (await harness.service.view(incident_id)).incident.status == "declared"


async def test_without_an_incidents_channel_the_incident_says_why_it_has_no_space(harness):
    status, answer = await post(harness, "alertmanager", alertmanager_body(), headers=bearer())
    incident_id = answer["groups"][0]["incident"]
    text = await harness.until_async(lambda: _timeline_text(harness, incident_id, "no space was opened"))
    assert "say `setup incidents`" in text


async def _with_space(harness, incident_id):
    view = await harness.service.view(incident_id)
    return view if view.incident.home_conversation_id else None


async def _timeline_text(harness, incident_id, fragment):
    return next((e.text for e in await harness.timeline(incident_id) if e.text and fragment in e.text), None)


def _hostile_body() -> bytes:
    doc = json.loads(alertmanager_body())
    first = doc["alerts"][0]
    first["annotations"]["summary"] = "[click me](javascript:alert(1)) <at>Everyone</at> **urgent** <b>x</b>"
    first["generatorURL"] = "javascript:alert(document.cookie)"
    first["annotations"]["runbook_url"] = "https://runbooks.example.invalid/HighLatency"
    return json.dumps(doc).encode()


async def test_the_card_shows_the_alerts_and_keeps_alert_text_inert(harness, connector):
    await harness.bind_incidents_channel()
    status, answer = await post(harness, "alertmanager", _hostile_body(), headers=bearer())
    incident_id = answer["groups"][0]["incident"]
    await harness.until_async(lambda: _with_space(harness, incident_id))
    [thread] = [r.json for r in connector.find(method="POST", path=r"^/v3/conversations$") if (r.json or {}).get("isGroup")]
    card = thread["activity"]["attachments"][0]["content"]
    text = json.dumps(card, ensure_ascii=False)
    assert "**Alerts:** 🔥 3 firing · 0 resolved" in text
    assert {"title": "alertname", "value": "HighLatency"} in [f for b in card["body"] if b["type"] == "FactSet"
                                                             for f in b["facts"]]
    urls = [a["url"] for b in card["body"] if b["type"] == "ActionSet" for a in b["actions"]]
    assert "https://runbooks.example.invalid/HighLatency" in urls
    assert not any(u.startswith("javascript") for u in urls) and "javascript:alert(document" not in text
    # the title (from the hostile summary) is text: no live link, no mention tag, no HTML
    title = card["body"][0]["columns"][0]["items"][0]["text"]
    assert "<at>" not in text and "<b>" not in text
    assert "⁅click me⁆(javascript" in title and "‹at›Everyone‹/at›" in title and "∗∗urgent∗∗" in title


async def test_alerts_lists_them_and_silence_mutes_a_new_group(harness, connector, clock):
    await harness.bind_incidents_channel()
    status, answer = await post(harness, "alertmanager", alertmanager_body(), headers=bearer())
    incident_id = answer["groups"][0]["incident"]
    view = await harness.until_async(lambda: _with_space(harness, incident_id))
    space = view.incident.home_conversation_id
    connector.clear()
    await harness.say("alerts", CHANNEL, conversation_id=space)
    [listing] = [c for c in harness.cards() if "Alerts of INC-" in json.dumps(c)]
    assert f"Alerts of INC-{incident_id}: 3 firing, 0 other" in json.dumps(listing, ensure_ascii=False)
    # only the incident manager or the plan's acting groups (tier1) may silence
    await harness.say("silence 2h service=field-service-app", CHANNEL, conversation_id=space)
    assert not any("🔇 Silenced" in t for t in harness.texts())
    assert any("incident manager" in t for t in harness.texts())
    aisha = ("aad-aisha", "Aisha Patel")  # tier1
    await harness.say("silence 2h service=field-service-app", CHANNEL, conversation_id=space, user=aisha)
    assert any("🔇 Silenced service=field-service-app until" in t for t in harness.texts())
    events = [e.text for e in await harness.timeline(incident_id)]
    assert any(t and t.startswith("silenced service=field-service-app for 2h") for t in events)
    # a new group for the service, while silenced: recorded, no incident
    doc = json.loads(alertmanager_body())
    doc["groupKey"] = "{}:{alertname=\"DiskFull\"}"
    status, muted = await post(harness, "alertmanager", json.dumps(doc).encode(), headers=bearer())
    assert muted["groups"][0]["incident"] is None and muted["groups"][0]["silenced"] == 3
    await harness.say("alerts", CHANNEL, conversation_id=space)
    assert "🔇 service=field-service-app until" in json.dumps(harness.cards()[-1], ensure_ascii=False)
    # a matcher that is not label=value is explained, and nothing is silenced
    await harness.say("silence 2h checkout", CHANNEL, conversation_id=space, user=aisha)
    assert any("`checkout` is not a label matcher" in t for t in harness.texts())


async def test_the_full_payload_is_one_command_away_from_the_timeline(harness, connector):
    await harness.bind_incidents_channel()
    status, answer = await post(harness, "alertmanager", _hostile_body(), headers=bearer())
    incident_id, payload_id = answer["groups"][0]["incident"], answer["payload"]
    view = await harness.until_async(lambda: _with_space(harness, incident_id))
    space = view.incident.home_conversation_id
    opened = await _timeline_text(harness, incident_id, "opened by alert group")
    assert f"`alerts payload {payload_id}`" in opened
    await harness.say(f"alerts payload {payload_id}", CHANNEL, conversation_id=space)
    [shown] = [t for t in harness.texts() if t.startswith(f"Webhook {payload_id} of INC-{incident_id}")]
    assert '"fingerprint": "6bb710ed11b2b558"' in shown and "‹at›Everyone‹/at›" in shown and "<at>" not in shown
    assert "[click me](javascript" in shown  # the body as received (in a code block), not the inert title
    # another webhook, not on this incident's timeline, is not shown here
    await harness.say(f"alerts payload {payload_id + 99}", CHANNEL, conversation_id=space)
    assert any(f"timeline names no webhook {payload_id + 99}" in t for t in harness.texts())


async def test_the_living_card_follows_its_alerts(harness, connector):
    await harness.bind_incidents_channel()
    status, answer = await post(harness, "alertmanager", alertmanager_body(), headers=bearer())
    incident_id = answer["groups"][0]["incident"]
    await harness.until_async(lambda: _with_space(harness, incident_id))
    doc = json.loads(alertmanager_body())
    doc["alerts"][0]["status"] = "resolved"
    assert (await post(harness, "alertmanager", json.dumps(doc).encode(), headers=bearer()))[0] == 200
    updated = await harness.until(lambda: [u for u in harness.updates() if "2 firing · 1 resolved" in
                                           json.dumps(u, ensure_ascii=False)])
    assert updated  # the card posted in the space was updated in place
