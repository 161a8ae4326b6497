"""`cover me`: the schedule's group is asked with a card; the first to accept gets the override."""
import asyncio

from bot.domain import conversations
from storage import paging as store
from tests.http.harness import INVOKE
from tests.http.test_oncall_commands import _roster, _say

KNOWN = {"tom.becker@contoso.com": "aad-tom", "lukas.nowak@contoso.com": "aad-lukas"}


async def _cards(harness, connector, count):
    """Cover cards delivered in 1:1 chats, keyed by the recipient's AAD id."""
    async def rows():
        found = [r for r in await harness.outbox() if r.payload.get("render") == "cover_request" and r.status == "sent"]
        return found if len(found) >= count else None

    found = None
    for _ in range(250):
        found = await rows()
        if found:
            break
        await asyncio.sleep(0.02)
    assert found, "the cover cards were not delivered"
    posts = [att["content"] for r in connector.find(method="POST", path=r"/activities$")
             for att in (r.json or {}).get("attachments") or [] if "asks for cover" in str(att.get("content"))]
    assert len(posts) == count
    return {r.payload["user_aad"]: {"request_id": r.payload["request_id"]} for r in found}


async def test_the_first_volunteer_gets_the_override_and_the_second_is_told(harness, connector):
    await harness.bind_incidents_channel()  # (clears the connector's scripts: the roster comes after)
    _roster(connector)
    for email, aad in KNOWN.items():
        await harness.service.execute(lambda s, now, a=aad, e=email: conversations.remember_person(
            s, aad_object_id=a, display_name=e.split(".")[0].title(), email=e, now=now))
    await _say(harness, "cover me platform-primary from now for 4h", user="aad-sofia")
    assert harness.texts()[-1].startswith("I asked Lukas Nowak, Tom Becker to cover you on Platform primary on-call "
                                          "from 2026-11-29 15:05 CET to 2026-11-29 19:05 CET.")
    data = await _cards(harness, connector, 2)
    assert set(data) == {"aad-tom", "aad-lukas"}
    status, body = await harness.press("cover.accept", data["aad-lukas"], INVOKE, user=("aad-lukas", "Lukas Nowak"))
    assert "You cover it" in str(body)
    status, body = await harness.press("cover.accept", data["aad-tom"], INVOKE, user=("aad-tom", "Tom Becker"))
    assert "Already covered by Lukas Nowak" in str(body)
    [row] = await harness.service.read(lambda s: store.overrides_between(
        s, schedule_id="platform-primary", start=harness.clock.now(), end=harness.clock.now().replace(year=2027)))
    assert (row.email, row.replaces_email) == ("lukas.nowak@contoso.com", "sofia.martins@contoso.com")
    await _say(harness, "oncall platform-primary")
    assert "Lukas Nowak until 2026-11-29 19:05 CET" in harness.texts()[-1]
    told = await harness.until(lambda: [r for r in connector.find(method="POST", path=r"/activities$")
                                        if "covers you" in str(r.json)])
    assert "✅ Lukas Nowak covers you on Platform primary on-call" in told[0].json["text"]


async def test_cover_refusals_change_nothing(harness, connector):
    _roster(connector)
    await _say(harness, "cover me platform-primary from now for 4h", user="aad-aisha")
    assert "You are not on Platform primary on-call" in harness.texts()[-1]
    await _say(harness, "cover me platform-primary", user="aad-sofia")
    assert "Say `cover me [SCHEDULE] from tomorrow 09:00" in harness.texts()[-1]
    await _say(harness, "cover me platform-primary from now for 4h", user="aad-sofia")
    assert "has used Teams with me yet" in harness.texts()[-1]  # nobody in the group is known
    assert [r for r in await harness.outbox() if r.payload.get("render") == "cover_request"] == []
