"""The tick watches the schedules: the owner hears about gaps in the next 7 days (once per gap),
and at a handoff the outgoing and incoming person get a digest in a 1:1 chat."""
import asyncio

from app import ENGINE_TICK_KEY
from bot.domain import conversations
from tests.http.harness import GROUP

PEOPLE = {
    "priya.raman@contoso.com": ("aad-priya", "Priya Raman"),
    "sofia.martins@contoso.com": ("aad-sofia", "Sofia Martins"),
    "lukas.nowak@contoso.com": ("aad-lukas", "Lukas Nowak"),
}


async def _known(harness):
    for email, (aad, name) in PEOPLE.items():
        await harness.service.execute(lambda s, now, a=aad, n=name, e=email: conversations.remember_person(
            s, aad_object_id=a, display_name=n, email=e, now=now))


async def _sent(harness, connector, count):
    """(recipient AAD id, text) of the 1:1 messages delivered, once `count` of them have gone."""
    async def delivered():
        rows = [r for r in await harness.outbox() if r.conversation_id.startswith("user:") and r.status == "sent"]
        return rows if len(rows) >= count else None

    for _ in range(250):
        rows = await delivered()
        if rows:
            posts = connector.find(method="POST", path=r"^/v3/conversations/a:[^/]+/activities$")
            assert sorted(p.json["text"] for p in posts) == sorted(r.payload["text"] for r in rows)
            return [(r.conversation_id.removeprefix("user:"), r.payload["text"]) for r in rows]
        await asyncio.sleep(0.02)
    rows = [(r.key, r.status, r.last_error) for r in await harness.outbox()]
    raise AssertionError(f"fewer than {count} 1:1 messages were delivered: {rows}")


async def _watch(harness):
    engine = harness.client.server.app[ENGINE_TICK_KEY]
    engine._watched_at = None  # the next tick looks at the schedules now, not 30 s after the last look
    await engine.tick()


async def test_gaps_are_told_to_the_owner_once_and_handoffs_get_a_digest(harness, connector, clock):
    await harness.bind_incidents_channel()  # Aisha said it, so she is known in Teams too
    await _known(harness)
    await harness.say("declare Sync lag sev3", GROUP)
    await _watch(harness)
    # the owner of the follow-the-sun schedule hears about its nightly gaps, in her zone (London)
    [warning] = [t for aad, t in await _sent(harness, connector, 3) if t.startswith("⚠️")]
    assert warning.startswith("⚠️ Nobody is on call for **Tier 1 follow-the-sun** in these windows")
    assert "- 2026-11-30 02:00 GMT to 2026-11-30 08:00 GMT" in warning
    assert warning.count("\n- ") == 7  # one a night for the next 7 days
    # 14:00 UTC was a handoff of that rota (London to Chicago): Priya off, Aisha on, each with a digest
    digests = {aad: t for aad, t in await _sent(harness, connector, 3) if t.startswith("🔁")}
    assert set(digests) == {"aad-priya", "aad-aisha"}
    assert digests["aad-priya"].startswith("🔁 Handoff for **Tier 1 follow-the-sun** at 2026-11-29 14:00 GMT: "
                                           "you are off call now")
    assert digests["aad-aisha"].startswith("🔁 Handoff for **Tier 1 follow-the-sun** at 2026-11-29 08:00 CST: "
                                           "you are on call now")
    assert "- INC-1 SEV3 declared: Sync lag" in digests["aad-aisha"]
    assert "**Your unacknowledged pages**: none" in digests["aad-aisha"]
    await _watch(harness)
    await asyncio.sleep(0.2)
    assert len(await _sent(harness, connector, 3)) == 3  # each told once

    # Monday 09:00 Berlin: Sofia hands the platform rota to Lukas; both get a digest
    clock.advance(hours=17, minutes=56)  # 2026-11-30 08:01 UTC
    await _watch(harness)
    later = await _sent(harness, connector, 6)
    new = {aad: t for aad, t in later[3:]}
    assert new["aad-sofia"].startswith("🔁 Handoff for **Platform primary on-call** at 2026-11-30 08:00 WET: "
                                       "you are off call now")
    assert new["aad-lukas"].startswith("🔁 Handoff for **Platform primary on-call** at 2026-11-30 09:00 CET: "
                                       "you are on call now")
    # and the gap night that came into the 7-day horizon is told on its own
    assert "2026-12-07 02:00 GMT" in new["aad-priya"] and new["aad-priya"].count("\n- ") == 1
