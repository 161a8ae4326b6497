"""`comms` in an incident's chat: who must be told, with filled templates, and recording what was sent."""
from tests.support import assert_valid_card

MEGAN = ("aad-megan", "Megan Bowen")


def _audiences(card: dict) -> dict[str, dict]:
    """Each audience's container on a comms card, by the id on its button."""
    found = {}
    for item in card["body"]:
        if item.get("type") == "Container":
            [action_set] = [i for i in item["items"] if i["type"] == "ActionSet"]
            found[action_set["actions"][0]["data"]["audience"]] = item
    return found


def _message(container: dict) -> str:
    return next(i["value"] for i in container["items"] if i["type"] == "Input.Text" and i["id"].startswith("text_"))


def _facts(container: dict) -> dict[str, str]:
    facts = next(i for i in container["items"] if i["type"] == "FactSet")["facts"]
    return {f["title"]: f["value"] for f in facts}


async def _comms_card(harness, text="comms", **kw) -> dict:
    before = len(harness.cards())
    await harness.say(text, **kw)
    cards = harness.cards()
    assert len(cards) == before + 1, harness.texts()[-1]
    assert_valid_card(cards[-1])
    return cards[-1]


async def test_sev1_on_a_critical_service_shows_the_three_audiences_filled(harness, clock):
    await harness.say("declare Work orders fail to sync sev1 service:azure-api")
    clock.advance(minutes=20)
    card = await _comms_card(harness)
    assert "Communication plan for INC-1: Work orders fail to sync" in str(card["body"][0])
    assert "SEV1 · Critical · service: Work-order API (Azure App Service, West Europe) (Critical tier)" in str(card)
    audiences = _audiences(card)
    assert list(audiences) == ["service-desk", "customers", "leadership"]
    assert _message(audiences["service-desk"]) == (
        "INC-1 (SEV1 · Critical): Work orders fail to sync\n"
        "Affected: Work-order API (Azure App Service, West Europe). Status: declared. Incident manager: Alex Wilber.\n"
        "Please link new tickets about this to INC-1. Next update: 2026-11-29 14:35 UTC.")
    assert _message(audiences["customers"]).startswith(
        "We are investigating a problem with Work-order API (Azure App Service, West Europe).")
    assert _message(audiences["leadership"]).startswith("Subject: INC-1 Critical incident: Work orders fail to sync\n"
                                                        "Declared 2026-11-29 14:05 UTC, status declared")
    desk = _facts(audiences["service-desk"])
    assert desk == {"Where": "Teams: IT Service Desk > Major incidents", "Sender": "Alex Wilber (Incident manager)",
                    "Due": "2026-11-29 14:20 UTC (15m after declaration) · ⚠️ overdue", "Last sent": "not yet"}
    customers = _facts(audiences["customers"])
    assert customers["Sender"] == "nobody yet: take the comms lead role (Communications lead)"
    assert customers["Due"] == "2026-11-29 14:35 UTC (30m after declaration)"  # not overdue yet
    # the viewer's zone from the activity is used for due times
    card = await _comms_card(harness, localTimezone="Europe/Berlin")
    assert _facts(_audiences(card)["leadership"])["Due"] == "2026-11-29 16:05 CET (1h after declaration)"


async def test_sev3_shows_only_the_service_desk_and_sev4_says_who_has_audiences(harness):
    await harness.say("declare Reports are slow sev3 service:azure-api")
    assert list(_audiences(await _comms_card(harness))) == ["service-desk"]
    await harness.say("sev sev4")
    card = await _comms_card(harness)
    assert _audiences(card) == {}
    assert ("Nobody must be told about a SEV4 incident on a critical-tier service under the plan. "
            "The communication plan has audiences for: SEV1, SEV2, SEV3.") in str(card)


async def test_the_tier_filter_leaves_customers_out_for_an_important_service(harness):
    await harness.say("declare Approvals flow failing sev1 service:power-automate-flows")
    assert list(_audiences(await _comms_card(harness))) == ["service-desk", "leadership"]


async def test_an_unknown_service_shows_tier_bound_audiences_with_a_warning(harness):
    await harness.say("declare Something is wrong sev2")
    card = await _comms_card(harness)
    assert list(_audiences(card)) == ["service-desk", "customers"]
    assert "Only for services of the critical tier; this incident's service is not known yet" in str(
        _audiences(card)["customers"])


async def test_mark_as_sent_by_button_and_by_command_goes_on_the_timeline_and_the_card(harness, clock):
    await harness.say("declare Work orders fail to sync sev1 service:azure-api")
    clock.advance(minutes=8)
    edited = "We are investigating a problem with the Field Service app. Next update by 14:35 UTC."
    status, body = await harness.press("comms.sent", {
        "incident_id": 1, "audience": "customers", "text_customers": edited,
        "note_customers": "posted on status page 14:13", "text_service-desk": "not this one"}, user=MEGAN)
    assert status == 200 and body["type"] == "application/vnd.microsoft.card.adaptive"
    card = body["value"]
    assert_valid_card(card)
    customers = _audiences(card)["customers"]
    assert _facts(customers)["Last sent"] == "sent at 2026-11-29 14:13 UTC by Megan Bowen (posted on status page 14:13)"
    assert customers["items"][-1]["actions"][0]["title"] == "Mark update as sent"
    assert _facts(_audiences(card)["service-desk"])["Last sent"] == "not yet"
    event = [e for e in await harness.timeline(1) if e.kind == "comms_sent"][-1]  # paging adds its own
    assert (event.kind, event.source, event.actor_name, event.new_value, event.old_value) == (
        "comms_sent", "card", "Megan Bowen", "customers", "posted on status page 14:13")
    assert event.text == f"Customers (status page) (status.contoso-fieldservice.com (Statuspage)): {edited}"

    clock.advance(minutes=2)
    await harness.say("comms sent service-desk posted in the Major incidents channel")
    assert harness.texts()[-1] == (
        "Recorded on the timeline of INC-1: the message to Service desk (Teams: IT Service Desk > Major incidents) "
        "was sent by Alex Wilber at 2026-11-29 14:15 UTC. Say `comms` to see the others.")
    event = [e for e in await harness.timeline(1) if e.kind == "comms_sent"][-1]  # paging adds its own
    assert (event.kind, event.source, event.new_value, event.old_value) == (
        "comms_sent", "command", "service-desk", "posted in the Major incidents channel")
    assert event.text.startswith("Service desk (Teams: IT Service Desk > Major incidents): "
                                 "INC-1 (SEV1 · Critical): Work orders fail to sync")  # the filled template

    # an update is recorded again; the card shows the latest
    clock.advance(minutes=30)
    await harness.say("comms sent customers")
    card = await _comms_card(harness)
    facts = {aid: _facts(c)["Last sent"] for aid, c in _audiences(card).items()}
    assert facts == {"service-desk": "sent at 2026-11-29 14:15 UTC by Alex Wilber (posted in the Major incidents channel)",
                     "customers": "sent at 2026-11-29 14:45 UTC by Alex Wilber",
                     "leadership": "not yet"}
    assert _facts(_audiences(card)["leadership"])["Due"] == "2026-11-29 15:05 UTC (1h after declaration)"
    clock.advance(minutes=21)
    leadership = _facts(_audiences(await _comms_card(harness))["leadership"])
    assert leadership["Due"] == "2026-11-29 15:05 UTC (1h after declaration) · ⚠️ overdue"
    kinds = [e.kind for e in await harness.timeline(1)]
    assert kinds.count("comms_sent") == 3
    # the timeline says what was sent
    await harness.say("timeline")
    assert "Sent to Customers (status page)" in str(harness.cards()[-1])


async def test_an_unknown_audience_is_refused_listing_the_valid_ones(harness):
    await harness.say("declare Reports are slow sev3 service:azure-api")
    await harness.say("comms sent customers")
    assert harness.texts()[-1] == ("`customers` is not told about this incident. For INC-1 say "
                                   "`comms sent AUDIENCE [note]` with one of: service-desk.")
    await harness.say("comms sent press")
    assert "`press` is not an audience in the communication plan" in harness.texts()[-1]
    await harness.say("comms sent")
    assert harness.texts()[-1] == "Which audience? Say `comms sent AUDIENCE [note]`; for INC-1: service-desk."
    status, body = await harness.press("comms.sent", {"incident_id": 1, "audience": "leadership"})
    assert body["type"] == "application/vnd.microsoft.activity.message"
    assert "`leadership` is not told about this incident" in body["value"]
    assert [e.kind for e in await harness.timeline(1)].count("comms_sent") == 0


async def test_the_card_button_posts_the_comms_card_and_keeps_the_living_card(harness):
    await harness.say("declare Work orders fail to sync sev1 service:azure-api")
    sent_before = len(harness.sent())
    status, body = await harness.press("incident.comms", {"incident_id": 1})
    assert status == 200 and "INC-1: Work orders fail to sync" in str(body["value"])
    assert "incident.ack" in str(body["value"])  # the living card, unchanged
    assert len(harness.sent()) == sent_before + 1  # one new message: the comms card
    assert list(_audiences(harness.cards()[-1])) == ["service-desk", "customers", "leadership"]


async def test_untrusted_title_stays_plain_in_the_card(harness):
    await harness.say("declare [click](https://evil.example) *now* sev3 service:azure-api")
    card = await _comms_card(harness)
    assert "Communication plan for INC-1: \\[click\\](https://evil.example) \\*now\\*" == card["body"][0]["text"]
    assert _message(_audiences(card)["service-desk"]).startswith("INC-1 (SEV3 · Minor): [click](https://evil.example) *now*")


async def test_tools_lists_the_plans_tools_anywhere(harness):
    await harness.say("tools")
    card = harness.cards()[-1]
    assert_valid_card(card)
    text = str(card)
    assert "[Power Platform admin center](https://admin.powerplatform.microsoft.com/)" in text
    assert "Environment health, capacity, gateways, solution history. Access: Power Platform administrator role" in text
    assert "**[Grafana, Field Service dashboards](https://grafana.contoso.com/d/fs-overview)**: Sync latency, API error " \
           "rates, flow failures. No special access needed." in text
    assert len(harness.sent()) == 1
