"""Automatic announcements: one compact card per incident in the announcements channel, posted
through the outbox, refreshed in place as the incident changes, mentioning the plan's people."""
import asyncio

from sqlalchemy import select

from storage.outbox import OutboxMessage
from tests.http.harness import CHANNEL, GROUP
from tests.support import assert_valid_card

AISHA = ("aad-aisha", "Aisha Patel")  # tier1 in the example plan: announced for sev1 and sev2
ANNOUNCEMENTS = "19:announcements@thread.tacv2"


async def _until(predicate, timeout=5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting for the outbox")
        await asyncio.sleep(0.05)


async def _set_up(harness, connector):
    connector.script(r"/members/aad-aisha", status=200, times=None, body={
        "id": "aad-aisha", "aadObjectId": "aad-aisha", "name": "Aisha Patel", "userPrincipalName": "aisha.patel@contoso.com"})
    body = harness.activity(CHANNEL, text="setup announcements", user=AISHA)
    body["conversation"]["id"] = f"{ANNOUNCEMENTS};messageid=1"
    body["channelData"]["channel"] = {"id": ANNOUNCEMENTS, "name": "Announcements"}
    await harness.post(body)
    connector.clear()


def _posts(connector):
    return [r for r in connector.find(method="POST", path=r"^/v3/conversations$")
            if (r.json.get("channelData") or {}).get("channel", {}).get("id") == ANNOUNCEMENTS]


async def test_declare_is_announced_and_later_changes_update_the_same_message(harness, connector):
    await _set_up(harness, connector)
    await harness.say("declare Payments API down sev1", GROUP)
    await _until(lambda: len(_posts(connector)) == 1)
    card = _posts(connector)[0].json["activity"]["attachments"][0]["content"]
    assert_valid_card(card)
    assert "INC-1: Payments API down" in str(card) and "SEV1" in str(card) and "Alex Wilber" in str(card)
    mentioned = [e["mentioned"]["id"] for e in card["msteams"]["entities"]]
    assert mentioned == ["aad-aisha"] and "<at>Aisha Patel</at>" in str(card["body"])
    for _ in range(50):
        if [e for e in await harness.timeline(1) if e.kind == "announced"]:
            break
        await asyncio.sleep(0.05)
    [announced] = [e for e in await harness.timeline(1) if e.kind == "announced"]
    assert announced.text == "announced in #Announcements"

    await harness.say("sev sev2", GROUP)
    await _until(lambda: len(connector.find(method="PUT", path=ANNOUNCEMENTS)) == 1)
    [update] = connector.find(method="PUT", path=ANNOUNCEMENTS)
    assert "SEV2" in str(update.json["attachments"][0]["content"])
    assert len(_posts(connector)) == 1, "one announcement per incident, refreshed in place"

    await harness.say("note no announcement for notes", GROUP)
    await harness.say("resolve fixed", GROUP)
    await _until(lambda: len(connector.find(method="PUT", path=ANNOUNCEMENTS)) == 2)
    assert "Resolved" in str(connector.find(method="PUT", path=ANNOUNCEMENTS)[-1].json)


async def test_without_an_announcements_channel_nothing_is_queued(harness):
    await harness.say("declare Quiet sev1", GROUP)
    rows = await harness.service.read(lambda s: _outbox(s))
    assert rows == []


async def test_a_refused_announcement_fails_for_good_without_touching_the_incident(harness, connector):
    await _set_up(harness, connector)
    connector.fail_next(r"^/v3/conversations$", 403, method="POST")
    await harness.say("declare Refused sev1", GROUP)
    await _until(lambda: bool(connector.find(method="POST", path=r"^/v3/conversations$")))
    await asyncio.sleep(0.2)
    [row] = await harness.service.read(lambda s: _outbox(s))
    assert row.status == "failed" and "403" in (row.last_error or "")
    assert (await harness.incident(1)).status == "declared"


async def _outbox(session):
    """The announcement rows (the tick may also queue on-call digests for people it knows)."""
    rows = (await session.execute(select(OutboxMessage))).scalars().all()
    return [r for r in rows if r.payload.get("render") == "announcement"]


async def test_a_burst_is_bundled_into_a_digest_that_keeps_the_mentions(harness, connector):
    await _set_up(harness, connector)
    # Teams holds the channel for 2 s: nine announcements pile up behind the refused one
    connector.fail_next(r"^/v3/conversations$", 429, headers={"Retry-After": "2"}, method="POST")
    for n in range(10):
        await harness.say(f"declare Outage {n} sev1", GROUP, conversation_id=f"chat-{n}")
    await _until(lambda: bool(_posts(connector)))  # the refused first one
    harness.clock.advance(seconds=2)  # the outbox runs on the app's (fake) clock
    await _until(lambda: any("bundled" in (p.json["activity"].get("text") or "") for p in _posts(connector)), timeout=10)
    [digest] = [p.json["activity"] for p in _posts(connector) if "bundled" in (p.json["activity"].get("text") or "")]
    named = {n for n in range(1, 11) if f"INC-{n} " in digest["text"]}
    cards = {n for n in range(1, 11) for p in _posts(connector) if f"INC-{n}:" in str(p.json["activity"].get("attachments"))}
    assert named | cards == set(range(1, 11)) and named  # every incident announced, some in the digest
    assert "<at>Aisha Patel</at>" in digest["text"]  # sev1 mentions tier1, even in a digest
    assert [e["mentioned"]["id"] for e in digest["entities"]] == ["aad-aisha"]
