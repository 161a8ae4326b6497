"""`oncall`, `override` and `page` typed in Teams, against the example plan's schedules."""
from app import ENGINE_TICK_KEY
from storage import paging as store
from storage.models import AuditEvent
from tests.http.harness import GROUP, PERSONAL

PEOPLE = {
    "aad-tom": ("Tom Becker", "tom.becker@contoso.com"),
    "aad-aisha": ("Aisha Patel", "aisha.patel@contoso.com"),
    "aad-sofia": ("Sofia Martins", "sofia.martins@contoso.com"),
}


def _roster(connector):
    for aad, (name, upn) in PEOPLE.items():
        connector.script(rf"/members/{aad}$", status=200, times=None,
                         body={"id": aad, "aadObjectId": aad, "name": name, "userPrincipalName": upn})


def _say(harness, text, *, user="aad-tom", mention=None, fixture=PERSONAL):
    """`text` from `user`; `mention` (an aad id) is @mentioned where `{at}` stands."""
    name = PEOPLE[user][0]
    body = harness.activity(fixture, text=text.replace("{at}", f"<at>{PEOPLE[mention][0]}</at>") if mention else text,
                            user=(user, name))
    body["entities"] = [e for e in body.get("entities") or [] if e.get("type") not in ("mention", "clientInfo")]
    body["entities"].append({"type": "clientInfo", "timezone": "Europe/Berlin", "locale": "en-US"})
    body["localTimezone"] = "Europe/Berlin"
    if mention:
        body["entities"].append({"type": "mention", "text": f"<at>{PEOPLE[mention][0]}</at>",
                                 "mentioned": {"id": mention, "name": PEOPLE[mention][0]}})
    return harness.post(body)


async def test_oncall_shows_now_next_and_gaps_in_the_viewers_zone(harness, connector):
    _roster(connector)
    await _say(harness, "oncall")
    text = harness.texts()[-1]
    # 2026-11-29 is a Sunday: Sofia holds the weekly platform rota until Monday 09:00 Berlin
    assert "**Platform primary on-call** (`platform-primary`): Sofia Martins until 2026-11-30 09:00 CET" in text
    assert "then Lukas Nowak from 2026-11-30 09:00 CET" in text
    # the follow-the-sun rota has a nightly gap (between Chicago evening and London morning)
    assert "**Tier 1 follow-the-sun**" in text and "⚠️ Gap in the next 7 days" in text

    await _say(harness, "oncall nope")
    assert "Unknown schedule `nope`" in harness.texts()[-1] and "platform-primary" in harness.texts()[-1]


async def test_override_puts_someone_on_call_and_is_recorded(harness, connector):
    _roster(connector)
    await _say(harness, "override {at} platform-primary from now for 2h", mention="aad-tom")
    assert ("Tom Becker is on call for Platform primary on-call from 2026-11-29 15:05 CET to "
            "2026-11-29 17:05 CET (instead of Sofia Martins).") == harness.texts()[-1]
    await _say(harness, "oncall platform-primary")
    assert "Tom Becker until 2026-11-29 17:05 CET; then Sofia Martins from 2026-11-29 17:05 CET" in harness.texts()[-1]
    [row] = await harness.service.read(lambda s: store.overrides_between(
        s, schedule_id="platform-primary", start=harness.clock.now(), end=harness.clock.now().replace(year=2027)))
    assert (row.email, row.replaces_email, row.created_by_name) == ("tom.becker@contoso.com",
                                                                   "sofia.martins@contoso.com", "Tom Becker")

    async def audit(session):
        from sqlalchemy import select
        return (await session.execute(select(AuditEvent).where(AuditEvent.action == "oncall.override"))).scalars().all()
    [event] = await harness.service.read(audit)
    assert event.actor_name == "Tom Becker" and '"email": "tom.becker@contoso.com"' in event.new_value


async def test_override_refusals_and_bad_windows_change_nothing(harness, connector):
    _roster(connector)
    # Aisha is not responsible for the platform rota
    await _say(harness, "override me platform-primary from now for 2h", user="aad-aisha")
    assert "Only people responsible for Platform primary on-call" in harness.texts()[-1]
    await _say(harness, "override me platform-primary")
    assert "When? Say `override @person [SCHEDULE] from tomorrow 09:00" in harness.texts()[-1]
    await _say(harness, "override me platform-primary from 25:00 to 26:00")
    assert "not a time of day" in harness.texts()[-1]
    await _say(harness, "override me platform-primary from today 10:00 to today 11:00")
    assert "already over" in harness.texts()[-1]
    await _say(harness, "override me from now for 2h")  # Tom is in both schedules: which one?
    assert "Which schedule? Name one of: platform-primary, tier1-follow-the-sun." in harness.texts()[-1]
    rows = await harness.service.read(lambda s: store.overrides_between(
        s, schedule_id=None, start=harness.clock.now().replace(year=2020), end=harness.clock.now().replace(year=2030)))
    assert rows == []


async def test_page_a_schedule_from_the_incident_chat(harness, connector, clock):
    _roster(connector)
    await _say(harness, "declare Sync lag sev3", fixture=GROUP)
    await _say(harness, "page schedule:platform-primary work orders stuck", fixture=GROUP)
    assert ("Paging whoever is on call for Platform primary on-call for INC-1: 5m to acknowledge before the "
            "incident manager is told. Acknowledgements show here.") == harness.texts()[-1]
    await harness.client.server.app[ENGINE_TICK_KEY].tick()
    [escalation] = await harness.service.read(lambda s: store.escalations_of(s, 1))
    pages = await harness.service.read(lambda s: store.pages_of(s, escalation.id))
    assert [p.email for p in pages] == ["sofia.martins@contoso.com"]
    assert escalation.reason == "Tom Becker paged whoever is on call for Platform primary on-call: work orders stuck"
    # 5 minutes without an ack: the incident manager (Tom, who declared) is told
    clock.advance(minutes=5)
    await harness.client.server.app[ENGINE_TICK_KEY].tick()
    clock.advance(minutes=5)
    await harness.client.server.app[ENGINE_TICK_KEY].tick()
    pages = await harness.service.read(lambda s: store.pages_of(s, escalation.id))
    assert [p.email for p in pages] == ["sofia.martins@contoso.com", "tom.becker@contoso.com"]


async def test_page_a_person_and_the_wrong_ways_to_ask(harness, connector):
    _roster(connector)
    await _say(harness, "declare Sync lag sev3", fixture=GROUP)
    await _say(harness, "page {at} can you look at the gateway?", mention="aad-sofia", fixture=GROUP)
    assert harness.texts()[-1].startswith("Paging Sofia Martins for INC-1")
    [escalation] = await harness.service.read(lambda s: store.escalations_of(s, 1))
    assert escalation.reason == "Tom Becker paged Sofia Martins: can you look at the gateway?"
    for wrong, expected in (("page", "Who should I page?"), ("page Sofia", "I can page an @mention"),
                            ("page schedule:nope", "Unknown schedule `nope`"),
                            ("page service:entra-id", "names no escalation policy")):
        await _say(harness, wrong, fixture=GROUP)
        assert expected in harness.texts()[-1], (wrong, harness.texts()[-1])
    assert len(await harness.service.read(lambda s: store.escalations_of(s, 1))) == 1


async def test_the_running_app_serves_the_calendar_with_overrides(tmp_path, connector, clock):
    from icalendar import Calendar

    from bot.web_calendar import calendar_token
    from tests.http.harness import start_harness

    h = await start_harness(tmp_path / "cal.db", connector, clock, FIREBREAK_CALENDAR_SECRET="calendar-secret-123")
    try:
        _roster(connector)
        await _say(h, "override {at} platform-primary from now for 2h", mention="aad-tom")
        token = calendar_token("calendar-secret-123", "platform-primary")
        resp = await h.client.get(f"/calendar/platform-primary.ics?token={token}")
        assert resp.status == 200 and resp.content_type == "text/calendar"
        events = [e for e in Calendar.from_ical(await resp.read()).walk("VEVENT")]
        summaries = [str(e["SUMMARY"]) for e in events]
        assert "On call: Tom Becker (Platform primary on-call)" in summaries
        assert (await h.client.get("/calendar/platform-primary.ics?token=wrong")).status == 401
    finally:
        await h.client.close()
