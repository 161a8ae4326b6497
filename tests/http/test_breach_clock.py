"""The regulatory clock through the real app with a FakeClock: marking a possible breach starts
the plan's deadlines (example plan: `assess` within 24h, reminded 4h before; `notify-regulator`
within 72h, reminded 24h, 4h and 1h before), the owner (Priya) is told at once and reminded
exactly once per stage, overdue once; the decision and the notification are recorded."""
from app import ENGINE_TICK_KEY
from bot.domain import conversations
from storage import breach_clock as store
from tests.http.harness import GROUP, INVOKE, start_harness
from tests.http.test_breakglass import PRIYA, TOM, _direct, _kinds, _known

SOFIA = ("aad-sofia", "Sofia Martins")


async def _watch(harness, times=2):
    """Run the tick's 30-s watch now (twice by default: a second look must send nothing new)."""
    engine = harness.client.server.app[ENGINE_TICK_KEY]
    for _ in range(times):
        engine._watched_at = None
        await engine.tick()


async def _to_priya(harness):
    """Every 1:1 message queued for Priya (the duty owner), oldest first."""
    return [text for aad, text in await _direct(harness, sent=False, about="breach") if aad == "aad-priya"]


def _said(harness):
    """The last text said in a shared conversation (cards have no text; 1:1 chats the bot opened,
    delivered whenever the outbox gets to them, are left out)."""
    return [r.json["text"] for r in harness.connector.find(method="POST", path=r"/activities")
            if (r.json or {}).get("text") and "a:fake-conversation-" not in r.path][-1]


async def _incident(harness, manager=TOM):
    await _known(harness)
    await harness.say("declare Customer records e-mailed to the wrong supplier sev3", GROUP, user=manager)
    await harness.bind_incidents_channel()


async def test_marking_starts_the_clock_reminds_the_owner_once_per_stage_and_notified_meets_it(harness, clock):
    await _incident(harness)
    await harness.say("breach", GROUP, user=SOFIA)  # anyone in the incident may start the clock
    assert _said(harness) == ("⚖️ INC-1 marked a possible personal-data breach by Sofia Martins; the clock "
                                   "started. Priya Raman (duty owner) was told.")
    shown = str(harness.cards()[-1])
    assert "`assess` (Personal-data breach notification (UK GDPR / GDPR Article 33)) due **2026-11-30 14:05 UTC**" in shown
    assert "`notify-regulator`" in shown and "due **2026-12-02 14:05 UTC**" in shown and "⏳ 3d 0h left" in shown
    [started] = await _to_priya(harness)
    assert "**INC-1** (Customer records e-mailed to the wrong supplier) was marked a possible personal-data breach by " \
           "Sofia Martins at 2026-11-29 14:05 GMT" in started
    assert "`notify-regulator` due **2026-12-02 14:05 GMT**" in started  # in Priya's zone (London)
    assert ("breach.marked", "marked a possible personal-data breach; clock started: assess due 2026-11-30 14:05 UTC; "
            "notify-regulator due 2026-12-02 14:05 UTC") in await _kinds(harness)

    # marking again (a day later, from the card too) never restarts the clock
    clock.advance(hours=1)
    await harness.say("breach", GROUP, user=TOM)
    assert "due **2026-11-30 14:05 UTC**" in str(harness.cards()[-1]) and "⏳ 23h 0m left" in str(harness.cards()[-1])
    status, body = await harness.press("incident.breach", {"incident_id": 1}, INVOKE, user=TOM)
    assert status == 200 and "INC-1 was already marked a possible data breach at 2026-11-29 14:05 UTC; the clock " \
        "is not restarted." in harness.texts()
    assert len(await harness.service.read(lambda s: store.deadlines_of(s, 1))) == 2
    assert len(await _to_priya(harness)) == 1

    await _watch(harness)
    assert len(await _to_priya(harness)) == 1  # nothing due yet
    clock.advance(hours=18, minutes=59)  # 19h59m after marking
    await _watch(harness)
    assert len(await _to_priya(harness)) == 1
    clock.advance(minutes=1)  # 20h: 4h before `assess`
    await _watch(harness)
    [_, assess_4h] = await _to_priya(harness)
    assert assess_4h.startswith("⏰ **INC-1**: the deadline `assess` is due **2026-11-30 14:05 GMT**, in 4h 0m.")
    clock.advance(hours=4)  # `assess` passes unmet
    await _watch(harness)
    [*_, overdue] = await _to_priya(harness)
    assert overdue.startswith("⚠️ **INC-1**: the deadline `assess` passed at 2026-11-30 14:05 GMT and is not met.")
    await harness.say("breach decision reportable names and addresses of 300 customers", GROUP, user=PRIYA)
    assert "Decision: **reportable** by Priya Raman" in str(harness.cards()[-1])
    clock.advance(hours=24)  # 48h: 24h before `notify-regulator`
    await _watch(harness)
    assert "the deadline `notify-regulator` is due **2026-12-02 14:05 GMT**, in 1d 0h." in (await _to_priya(harness))[-1]
    clock.advance(hours=20)  # 68h: 4h before
    await _watch(harness)
    assert "in 4h 0m." in (await _to_priya(harness))[-1]
    assert len(await _to_priya(harness)) == 5
    await harness.say("breach notified notify-regulator ICO breach form submitted, reference IC-4411, by Priya",
                      GROUP, user=PRIYA)
    shown = str(harness.cards()[-1])
    assert "✅ met by Priya Raman at 2026-12-02 10:05 UTC: notification made: ICO breach form submitted, " \
           "reference IC-4411, by Priya" in shown
    clock.advance(hours=10)  # past 1h-before and the deadline itself: nothing more
    await _watch(harness)
    assert len(await _to_priya(harness)) == 5
    kinds = await _kinds(harness)
    assert ("breach.met", "`notify-regulator` met: notification made: ICO breach form submitted, reference IC-4411, "
            "by Priya") in kinds
    assert ("breach.decision", "reportable: names and addresses of 300 customers") in kinds
    assert [t for k, t in kinds if k == "breach.reminder"] == [
        "Personal-data breach notification (UK GDPR / GDPR Article 33): priya.raman@contoso.com told in Teams",
        "reminded priya.raman@contoso.com: `assess` due in 4h 0m",
        "reminded priya.raman@contoso.com: `assess` overdue",
        "reminded priya.raman@contoso.com: `notify-regulator` due in 1d 0h",
        "reminded priya.raman@contoso.com: `notify-regulator` due in 4h 0m",
    ]
    await harness.until_async(lambda: _all_sent(harness))
    assert [aad for aad, _ in await _direct(harness, sent=False, about="breach")] == ["aad-priya"] * 5  # and no one else


async def _all_sent(harness):
    return all(r.status == "sent" for r in await harness.outbox() if r.payload.get("render") == "direct")


async def test_not_reportable_closes_the_deadlines_and_stops_the_reminders(harness, clock):
    await _incident(harness)
    await harness.say("breach", GROUP, user=TOM)
    await harness.say("breach decision not-reportable", GROUP, user=TOM)
    assert "Give the reason" in _said(harness)
    await harness.say("breach decision maybe because", GROUP, user=TOM)
    assert "Say `breach decision reportable REASON` or `breach decision not-reportable REASON`." in _said(harness)
    # Sofia may start the clock but not decide: not the manager, an acting group member or the owner
    await harness.say("breach decision not-reportable encrypted laptop", GROUP, user=SOFIA)
    assert _said(harness) == ("Sorry Sofia Martins, only the incident manager (Tom Becker), a member of Tier 1 "
                                   "responders, the duty owner (Priya Raman) may record the breach decision for INC-1.")
    assert [t for k, t in await _kinds(harness) if k == "refused"] == [
        "record the breach decision: " + _said(harness)]
    await harness.say("breach", GROUP, user=SOFIA)
    assert "Decision: not yet made" in str(harness.cards()[-1])  # the refused decision changed nothing
    clock.advance(hours=2)
    await harness.say("breach decision not-reportable the laptop was encrypted (BitLocker, key not lost)", GROUP,
                      user=TOM)
    shown = str(harness.cards()[-1])
    assert "Decision: **not-reportable** by Tom Becker at 2026-11-29 16:05 UTC" in shown
    assert shown.count("✅ met by Tom Becker at 2026-11-29 16:05 UTC: not reportable: the laptop was encrypted") == 2
    for _ in range(8):  # through every reminder time and both deadlines
        clock.advance(hours=10)
        await _watch(harness, times=1)
    assert len(await _to_priya(harness)) == 1  # only "the clock started"
    await harness.say("breach done assess risk assessed", GROUP, user=TOM)
    assert "`assess` was already closed by Tom Becker" in _said(harness)
    await harness.say("breach notified nope ICO", GROUP, user=TOM)
    assert _said(harness) == "There is no deadline `nope` on this incident's clock. Deadlines: assess, notify-regulator."
    assert ("breach.decision", "not-reportable: the laptop was encrypted (BitLocker, key not lost); deadlines closed: "
            "assess, notify-regulator") in await _kinds(harness)


async def test_the_card_button_marks_and_a_decision_needs_a_marked_incident(harness):
    await _incident(harness)
    await harness.say("breach decision reportable yes", GROUP, user=TOM)
    assert "INC-1 is not marked a possible data breach. Say `breach` in its space" in _said(harness)
    status, body = await harness.press("incident.breach", {"incident_id": 1}, INVOKE, user=SOFIA)
    assert status == 200 and "Acknowledge" in str(body)  # the living card stays as it was
    confirm = harness.cards()[-1]  # one press only asks
    assert "Start the breach clock?" in str(confirm)
    assert not await harness.service.read(lambda s: store.get_mark(s, 1))
    [button] = confirm["actions"]
    assert button["title"] == "Start the breach clock" and button["data"] == {"incident_id": 1, "confirm": True}
    status, body = await harness.press(button["verb"], button["data"], INVOKE, user=SOFIA)
    assert status == 200 and "regulatory clock" in str(body)  # the question becomes the clock
    assert "⚖️ INC-1 marked a possible personal-data breach by Sofia Martins; the clock started. Priya Raman " \
           "(duty owner) was told." in harness.texts()
    assert [e.source for e in await harness.timeline(1) if e.kind == "breach.marked"] == ["card"]
    await harness.say("timeline", GROUP, user=SOFIA)
    assert "Possible data breach: marked a possible personal-data breach; clock started" in str(harness.cards()[-1])
    [started] = await _to_priya(harness)
    assert "marked a possible personal-data breach by Sofia Martins" in started


async def test_the_clock_survives_a_restart(tmp_path, connector, clock):
    first = await start_harness(tmp_path / "fb.db", connector, clock)
    try:
        await _incident(first)
        await first.say("breach", GROUP, user=TOM)
        await first.until_async(lambda: _all_sent(first))
    finally:
        await first.client.close()
    clock.advance(hours=20)  # `assess` is 4h away when the new process looks
    second = await start_harness(tmp_path / "fb.db", connector, clock)
    try:
        await _watch(second)
        texts = await _to_priya(second)
        assert len(texts) == 2 and "the deadline `assess` is due **2026-11-30 14:05 GMT**, in 4h 0m." in texts[-1]
        await second.say("breach", GROUP, user=TOM)
        assert "due **2026-11-30 14:05 UTC**" in str(second.cards()[-1])  # not restarted by the new process
    finally:
        await second.client.close()


async def _space_posts(harness, about="breach"):
    """Messages queued into INC-1's own space (its group chat) about the breach clock: [text]."""
    home = (await harness.incident(1)).home_conversation_id
    return [r.payload["text"] for r in await harness.outbox()
            if r.conversation_id == home and about in str(r.payload.get("summary", ""))]


async def test_an_owner_never_seen_in_teams_is_reminded_through_the_incident_space_once(harness, clock):
    for aad, name, email in (("aad-tom", "Tom Becker", "tom.becker@contoso.com"),
                             ("aad-sofia", "Sofia Martins", "sofia.martins@contoso.com")):  # not Priya, the owner
        await harness.service.execute(lambda s, now, a=aad, n=name, e=email: conversations.remember_person(
            s, aad_object_id=a, display_name=n, email=e, now=now))
    await harness.say("declare Customer records e-mailed to the wrong supplier sev3", GROUP, user=TOM)
    await harness.bind_incidents_channel()
    await harness.say("breach", GROUP, user=SOFIA)
    assert _said(harness) == (
        "⚖️ INC-1 marked a possible personal-data breach by Sofia Martins; the clock started. Priya Raman (duty "
        "owner) could not be told in Teams (they have not used Firebreak yet): tell them now, by phone or e-mail "
        "(priya.raman@contoso.com).")
    clock.advance(hours=20)  # 4h before `assess`: Priya cannot be reached in Teams
    await _watch(harness, times=3)  # a second and third look add nothing
    [posted] = await _space_posts(harness)
    assert posted.startswith("⏰ **INC-1**: the deadline `assess` is due **2026-11-30 14:05 UTC**, in 4h 0m. "
                             "Its owner, Priya Raman (priya.raman@contoso.com), cannot be reached in Teams: "
                             "please tell them now.")
    reminders = [t for k, t in await _kinds(harness) if k == "breach.reminder"]
    assert reminders[-1] == ("could not remind priya.raman@contoso.com in Teams (they have not used Firebreak yet): "
                             "`assess` due in 4h 0m; posted in the incident's space for the responders to tell them")
    assert len(reminders) == 2  # "could not be told" at the start, and this one
    clock.advance(hours=4)  # overdue: one more, once
    await _watch(harness)
    assert len(await _space_posts(harness)) == 2 and "passed at 2026-11-30 14:05 UTC and is not met" in \
        (await _space_posts(harness))[-1]
    assert len([k for k, _ in await _kinds(harness) if k == "breach.reminder"]) == 3
    await harness.until(lambda: [t for t in harness.texts() if t and "passed at 2026-11-30 14:05 UTC" in t])
    assert await _direct(harness, sent=False, about="breach") == []  # no 1:1 could go


async def test_the_card_button_asks_before_starting_the_legal_clock(harness):
    await _incident(harness)
    sent_before = len(harness.sent())
    status, body = await harness.press("incident.breach", {"incident_id": 1}, INVOKE, user=SOFIA)
    assert status == 200 and "Customer records e-mailed" in str(body)  # the living card, unchanged
    [question] = harness.sent()[sent_before:]  # a new message, the question only
    text = str(question)
    assert "This starts the legal deadlines of Personal-data breach notification (UK GDPR / GDPR Article 33): " \
           "`assess` within 1d, `notify-regulator` within 3d" in text
    assert "and tells Priya Raman (the duty's owner). Start the breach clock?" in text
    assert [e for e in await harness.timeline(1) if e.kind.startswith("breach.")] == []
    assert await _to_priya(harness) == []  # nobody told, no deadline running
    await harness.press("incident.breach", {"incident_id": 1}, INVOKE, user=SOFIA)  # asking again still only asks
    assert not await harness.service.read(lambda s: store.get_mark(s, 1))
    await harness.press("incident.breach", {"incident_id": 1, "confirm": True}, INVOKE, user=SOFIA)
    assert await harness.service.read(lambda s: store.get_mark(s, 1))
    assert len(await harness.service.read(lambda s: store.deadlines_of(s, 1))) == 2
    await harness.until_async(lambda: _all_sent(harness))
    assert len(await _to_priya(harness)) == 1


EVIL = "[click](https://evil.example) <at>x</at> **bold**"


async def test_what_people_type_is_shown_as_text_in_the_clock_card(harness):
    await _incident(harness)
    await harness.say("breach", GROUP, user=TOM)
    await harness.say(f"breach decision reportable {EVIL}", GROUP, user=TOM)
    await harness.say(f"breach done assess {EVIL}", GROUP, user=TOM)
    shown = [b["text"] for b in harness.cards()[-1]["body"]]
    decision = [t for t in shown if t.startswith("Decision:")][0]
    escaped = r"\[click\](https://evil.example) @x \*\*bold\*\*"  # the mention arrived as "@x" (Teams' text)
    assert decision.endswith(f": {escaped}")
    met = [t for t in shown if t.startswith("`assess`")][0]
    assert met.endswith(f": {escaped}")
    assert "<at>" not in str(shown) and "[click](" not in str(shown)
