"""End-to-end through the real app: Teams payloads in, Bot Connector calls out, state in the DB."""
import asyncio

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import update

from app import create_app
from bot.plan import parse_plan
from storage.models import ConversationRef
from tests.http.harness import CHANNEL, CHANNEL_INVOKE, GROUP, PERSONAL, Harness, dev_settings
from tests.support import EXAMPLE_PLAN, assert_valid_card

ALEX = ("00000000-0000-0000-0000-0000000000020", "Alex Wilber")
MEGAN = ("aad-megan", "Megan Bowen")


@pytest.mark.parametrize("fixture", [PERSONAL, GROUP, CHANNEL])
async def test_declare_posts_the_living_card_in_each_kind_of_conversation(harness, fixture):
    status, _ = await harness.say("declare Payments API down sev1", fixture)
    assert status in (200, 201)
    cards = harness.cards()
    assert len(cards) == 1
    assert_valid_card(cards[0])
    assert "INC-1: Payments API down" in str(cards[0]) and "DECLARED" in str(cards[0])
    inc = await harness.incident(1)
    assert (inc.title, inc.severity, inc.status) == ("Payments API down", "sev1", "declared")
    view = await harness.service.view(1)
    assert view.holder("incident_manager").display_name == "Alex Wilber"
    kinds = [e.kind for e in await harness.timeline(1)]
    assert kinds == ["declared", "role_assigned"]
    # the card is a reply in the same conversation
    post = harness.connector.find(method="POST", path=r"/activities")[-1]
    sent_conversation = harness.activity(fixture)["conversation"]["id"]
    assert sent_conversation in post.path


async def test_commands_in_the_chat_apply_to_its_incident_and_update_the_card(harness):
    await harness.say("declare Checkout errors sev2")
    await harness.say("ack")
    await harness.say("update Rolling back release 42")
    await harness.say("sev sev1")
    inc = await harness.incident(1)
    assert (inc.status, inc.severity, inc.last_update_text) == ("acknowledged", "sev1", "Rolling back release 42")
    # every change updated the posted card in place, the last one showing the latest state
    updates = harness.updates()
    assert len(updates) == 3
    last = str(updates[-1]["attachments"][0]["content"])
    assert "ACKNOWLEDGED" in last and "SEV1" in last and "Rolling back release 42" in last
    assert any("INC-1 acknowledged by Alex Wilber" in t for t in harness.texts())


async def test_note_records_one_row_and_updates_nothing_else(harness):
    await harness.say("declare Checkout errors sev2")
    before = len(harness.updates())
    await harness.say("note customer ticket 4411 opened")
    events = await harness.timeline(1)
    assert events[-1].kind == "note" and events[-1].text == "customer ticket 4411 opened"
    assert events[-1].source == "command" and events[-1].actor_name == "Alex Wilber"
    assert len(harness.updates()) == before


async def test_card_button_returns_the_refreshed_card(harness):
    await harness.say("declare DB failover sev1")
    status, body = await harness.press("incident.ack", {"incident_id": 1})
    assert status == 200
    assert body["statusCode"] == 200 and body["type"] == "application/vnd.microsoft.card.adaptive"
    card = body["value"]
    assert_valid_card(card)
    assert "ACKNOWLEDGED" in str(card) and "incident.ack" not in str(card)
    event = (await harness.timeline(1))[-1]
    assert (event.kind, event.source, event.new_value) == ("status_changed", "card", "acknowledged")


async def test_channel_invoke_fixture_is_routed(harness):
    await harness.say("declare Gateway offline sev2", CHANNEL)
    status, body = await harness.press("incident.take_manager", {"incident_id": 1}, CHANNEL_INVOKE)
    assert status == 200 and body["type"] == "application/vnd.microsoft.card.adaptive"


async def test_duplicate_delivery_changes_state_once(harness):
    body = harness.activity(PERSONAL, text="declare Duplicate test sev3", activity_id="same-id")
    await harness.post(body)
    await harness.post(body)
    assert await harness.open_count() == 1
    assert len(harness.cards()) == 1
    note = harness.activity(PERSONAL, text="note only once", activity_id="note-id")
    await harness.post(note)
    await harness.post(note)
    assert [e.text for e in await harness.timeline(1)].count("only once") == 1


async def test_same_card_action_with_new_activity_id_within_60s_applies_once(harness, clock):
    await harness.say("declare Retry test sev2")
    await harness.press("incident.set_severity", {"incident_id": 1, "severity": "sev1"})
    clock.advance(seconds=30)
    status, body = await harness.press("incident.set_severity", {"incident_id": 1, "severity": "sev1"})
    assert status == 200 and "SEV1" in str(body["value"])
    sev_events = [e for e in await harness.timeline(1) if e.kind == "severity_changed"]
    assert len(sev_events) == 1
    clock.advance(seconds=61)
    await harness.press("incident.set_severity", {"incident_id": 1, "severity": "sev2"})
    sev_events = [e for e in await harness.timeline(1) if e.kind == "severity_changed"]
    assert [e.new_value for e in sev_events] == ["sev1", "sev2"]


async def test_only_the_incident_manager_may_resolve_and_refusals_are_recorded(harness):
    await harness.say("declare Login broken sev2", GROUP)
    await harness.say("resolve fixed it", GROUP, user=MEGAN)
    assert (await harness.incident(1)).status == "declared"
    refusal = harness.texts()[-1]
    assert "only the incident manager (Alex Wilber)" in refusal and "Megan Bowen" in refusal
    last = (await harness.timeline(1))[-1]
    assert (last.kind, last.actor_name) == ("refused", "Megan Bowen")
    await harness.say("resolve fixed it", GROUP)
    inc = await harness.incident(1)
    assert (inc.status, inc.resolution_summary) == ("resolved", "fixed it")
    await harness.say("reopen", GROUP, user=MEGAN)
    assert (await harness.incident(1)).status == "resolved"
    await harness.say("reopen", GROUP)
    assert (await harness.incident(1)).status == "acknowledged"


async def test_refused_card_button_is_explained_and_recorded(harness):
    await harness.say("declare Login broken sev2")
    status, body = await harness.press("incident.resolve", {"incident_id": 1, "summary": ""}, user=MEGAN)
    assert status == 200 and "DECLARED" in str(body["value"])
    assert "only the incident manager" in harness.texts()[-1]
    assert (await harness.timeline(1))[-1].kind == "refused"


async def test_taking_the_manager_role_needs_the_current_managers_authority(harness):
    await harness.say("declare Sync lag sev3")
    await harness.press("incident.take_manager", {"incident_id": 1}, user=MEGAN)
    assert (await harness.service.view(1)).holder("incident_manager").display_name == "Alex Wilber"
    await harness.say("assign manager me", user=MEGAN)
    assert (await harness.service.view(1)).holder("incident_manager").display_name == "Alex Wilber"
    await harness.say("assign comms me", user=MEGAN)
    assert (await harness.service.view(1)).holder("comms_lead").display_name == "Megan Bowen"


async def test_elsewhere_an_incident_must_be_named(harness):
    await harness.say("declare Here sev3")
    await harness.say("note hello", conversation_id="another-chat")
    assert "No incident lives in this chat" in harness.texts()[-1]
    await harness.say("note INC-1 from elsewhere", conversation_id="another-chat")
    assert (await harness.timeline(1))[-1].text == "from elsewhere"
    await harness.say("status INC-1", conversation_id="another-chat")
    assert "INC-1: Here" in str(harness.cards()[-1])
    await harness.say("status INC-99")
    assert "There is no INC-99" in harness.texts()[-1]


async def test_wrong_commands_get_told_the_right_one(harness):
    await harness.say("delcare Payments down")
    assert "Did you mean `declare" in harness.texts()[-1]
    await harness.say("sev")
    assert "sev1, sev2, sev3, sev4" in harness.texts()[-1] or "No incident" in harness.texts()[-1]
    await harness.say("declare Something sev9 service:nope")
    assert "nope" in harness.texts()[-1]
    await harness.say("assign boss me")
    assert "not a role" in harness.texts()[-1]
    assert await harness.open_count() == 0


async def test_list_and_help(harness):
    await harness.say("declare First sev3")
    await harness.say("declare Second sev2", conversation_id="other")
    await harness.say("/LIST")
    listing = str(harness.cards()[-1])
    assert "INC-1" in listing and "INC-2" in listing and "Open incidents (2)" in listing
    await harness.say("help")
    help_card = str(harness.cards()[-1])
    for usage in ("declare TITLE", "timeline [INC-n]", "assign manager|postmortem"):
        assert usage in help_card


async def test_timeline_is_paged_not_truncated(harness):
    await harness.say("declare Busy incident sev2")
    for i in range(45):
        await harness.say(f"note step {i}")
    await harness.say("timeline")
    first = harness.cards()[-1]
    assert "Page 1 of 3" in str(first) and "47 events" in str(first)
    assert_valid_card(first)
    status, body = await harness.press("timeline.page", {"incident_id": 1, "page": 3})
    assert "Page 3 of 3" in str(body["value"]) and "step 44" in str(body["value"])
    await harness.say("timeline page 2")
    assert "Page 2 of 3" in str(harness.cards()[-1])


async def test_assign_by_mention_resolves_the_person_through_the_roster(harness):
    await harness.say("declare Flows failing sev2", GROUP)
    body = harness.activity(GROUP, text="assign comms <at>Larry Brown</at>")
    larry_id = "29:1GcS4EyB_oSI8A88XmWBN7NJFyMqe3QGnJdgLfFGkJnVelzRGos0bPbpsfJjcbAD22bmKc4GMbrY2g4JDrrA8vM06X1-cHHle4zOE6U4ttcc"
    body["entities"].append({"type": "mention", "mentioned": {"id": larry_id, "name": "Larry Brown"},
                             "text": "<at>Larry Brown</at>"})
    await harness.post(body)
    holder = (await harness.service.view(1)).holder("comms_lead")
    # the roster answers with `objectId` and `userPrincipalName` (the documented member shape)
    assert (holder.aad_object_id, holder.display_name, holder.email) == (
        "9d3e08f9-a7ae-43aa-a4d3-de3f319a8a9c", "Larry Brown", "labrown@fabrikam.com")
    assert "Larry Brown is now comms lead of INC-1." in harness.texts()[-1]


async def test_members_of_the_plans_acting_group_may_resolve(harness, connector):
    await harness.say("declare Payments down sev1", GROUP)
    connector.script(r"/members/aad-aisha", status=200, times=None, body={
        "id": "aad-aisha", "aadObjectId": "aad-aisha", "name": "Aisha Patel",
        "userPrincipalName": "Aisha.Patel@contoso.com"})
    await harness.say("resolve failover done", GROUP, user=("aad-aisha", "Aisha Patel"))
    inc = await harness.incident(1)
    assert inc.status == "resolved"  # tier1 acts with the incident manager's authority in the example plan
    assert (await harness.timeline(1))[-1].actor_name == "Aisha Patel"


async def test_card_updates_elsewhere_use_the_stored_reference_and_recheck_its_service_url(harness):
    await harness.say("declare Card elsewhere sev3", conversation_id="chat-a")
    await harness.say("ack INC-1", conversation_id="chat-b")
    puts = await harness.until(harness.updates)  # through the outbox, in the background
    assert len(puts) == 1 and "ACKNOWLEDGED" in str(puts[0]["attachments"][0]["content"])
    put_paths = [r.path for r in harness.connector.find(method="PUT")]
    assert "chat-a" in put_paths[0]  # the card lives in chat A, reached by continue_conversation

    async def tamper(session, _now):
        await session.execute(update(ConversationRef).where(ConversationRef.conversation_id == "chat-a")
                              .values(service_url="https://attacker.example.com/"))

    await harness.service.execute(tamper)
    await harness.say("sev sev1 INC-1", conversation_id="chat-b")
    failed = await _outbox_failure(harness)
    assert "not an allowed Teams host" in failed.last_error
    assert len(harness.updates()) == 1, "no update may go to a serviceUrl that is not allowed"


async def test_a_plan_can_leave_the_incident_manager_unassigned(tmp_path, connector, clock):
    text = EXAMPLE_PLAN.read_text()
    assert "on_declare: declarer" in text
    plan = parse_plan(text.replace("on_declare: declarer", "on_declare: none"))
    client = TestClient(TestServer(create_app(dev_settings(tmp_path / "fb.db"), clock=clock, plan=plan), host="127.0.0.1"))
    await client.start_server()
    try:
        h = Harness(client, connector, clock)
        await h.say("declare Nobody in charge sev2")
        assert (await h.service.view(1)).holder("incident_manager") is None
        await h.say("resolve done")
        assert "has no incident manager yet" in h.texts()[-1]
        await h.say("assign manager me")
        await h.say("resolve done")
        assert (await h.incident(1)).status == "resolved"
    finally:
        await client.close()


async def test_the_postmortem_leader_must_be_impartial(harness, connector):
    await harness.say("declare Sync broken sev2", GROUP)
    await harness.say("note I restarted the gateway", GROUP, user=MEGAN)
    await harness.say("assign postmortem me", GROUP)  # Alex is the incident manager
    refusal = harness.texts()[-1]
    assert "can't be postmortem leader of INC-1: they is its incident manager" not in refusal  # grammar guard
    assert "Alex Wilber can't be postmortem leader of INC-1" in refusal and "incident manager" in refusal
    assert "People who have not worked it:" in refusal
    await harness.say("assign postmortem me", GROUP, user=MEGAN)
    assert "Megan Bowen can't be postmortem leader" in harness.texts()[-1] and "they have acted in it" in harness.texts()[-1]
    assert (await harness.service.view(1)).holder("postmortem_leader") is None
    refused = [e for e in await harness.timeline(1) if e.kind == "refused"]
    assert len(refused) == 2
    await harness.say("assign postmortem me", GROUP, user=("aad-priya", "Priya Raman"))
    assert (await harness.service.view(1)).holder("postmortem_leader").display_name == "Priya Raman"


async def test_handover_moves_the_role_records_it_and_briefs_the_new_holder(harness, connector):
    await harness.say("declare Dataverse slow sev2", GROUP)
    await harness.say("update Throttling on the flows; adding capacity", GROUP)
    await harness.say("note capacity request raised", GROUP)
    body = harness.activity(GROUP, text="handover manager <at>Larry Brown</at>")
    larry_id = "29:1GcS4EyB_oSI8A88XmWBN7NJFyMqe3QGnJdgLfFGkJnVelzRGos0bPbpsfJjcbAD22bmKc4GMbrY2g4JDrrA8vM06X1-cHHle4zOE6U4ttcc"
    body["entities"].append({"type": "mention", "mentioned": {"id": larry_id, "name": "Larry Brown"}, "text": "<at>Larry Brown</at>"})
    await harness.post(body)
    assert (await harness.service.view(1)).holder("incident_manager").display_name == "Larry Brown"
    assert "Alex Wilber handed the incident manager role of INC-1 to Larry Brown." in harness.texts()[-2]
    card = harness.cards()[-1]
    assert_valid_card(card)
    text = str(card)
    for expected in ("Handover of INC-1", "Alex Wilber → Larry Brown", "Throttling on the flows",
                     "capacity request raised", "2026-11-29 15:05 UTC"):  # sev2: an update every 1h
        assert expected in text, expected
    last = (await harness.timeline(1))[-1]
    assert (last.kind, last.old_value, last.new_value) == ("handover", "Alex Wilber", "Larry Brown")


async def test_only_the_holder_or_the_manager_may_hand_a_role_over(harness):
    await harness.say("declare Gateway flapping sev3", GROUP)
    await harness.say("handover manager me", GROUP, user=MEGAN)
    assert "only the incident manager" in harness.texts()[-1]
    assert (await harness.service.view(1)).holder("incident_manager").display_name == "Alex Wilber"
    await harness.say("handover comms me", GROUP, user=MEGAN)  # nobody holds comms: the manager decides
    assert "only the incident manager" in harness.texts()[-1]
    await harness.say("handover boss me", GROUP)
    assert "`handover ROLE @person`" in harness.texts()[-1]


async def test_a_failed_update_elsewhere_is_recorded_not_apologised_for_in_that_chat(harness, connector):
    await harness.say("declare Quiet failure sev3", conversation_id="chat-a")
    connector.clear()
    connector.fail_next(r"chat-a/activities/", 403, method="PUT")
    await harness.say("ack INC-1", conversation_id="chat-b")
    assert (await harness.incident(1)).status == "acknowledged"  # a Teams failure never rolls back state
    assert "INC-1 acknowledged" in harness.texts()[-1]
    failed = await _outbox_failure(harness)
    assert "403" in failed.last_error and failed.conversation_id == "chat-a"
    assert not [r for r in connector.find(method="POST") if "chat-a" in r.path], "nothing may be posted in chat A"


async def test_updates_elsewhere_honour_retry_after_and_do_not_pile_up(harness, connector):
    await harness.say("declare Busy card sev3", conversation_id="chat-a")
    connector.clear()
    connector.fail_next(r"chat-a/activities/", 429, headers={"Retry-After": "1"}, method="PUT")
    started = asyncio.get_running_loop().time()
    for command in ("ack INC-1", "sev sev2 INC-1", "mitigate INC-1 rolled back"):
        await harness.say(command, conversation_id="chat-b")
    puts = await harness.until(lambda: [r for r in connector.find(method="PUT", path="chat-a") if r.status == 200
                                        and "MITIGATED" in str(r.json)], timeout=10)
    assert "SEV2" in str(puts[-1].json)  # rendered from the state when it went, not when queued
    statuses = [r.status for r in connector.find(method="PUT", path="chat-a")]
    assert statuses[0] == 429 and len(statuses) <= 3, statuses  # three changes, at most one waiting update
    assert asyncio.get_running_loop().time() - started >= 0.9  # it waited as Retry-After said


async def _outbox_failure(harness):
    """The outbox row that failed for good (waits for the background delivery)."""
    async def failed():
        return [m for m in await harness.outbox() if m.status == "failed"]

    for _ in range(200):
        found = await failed()
        if found:
            return found[0]
        await asyncio.sleep(0.02)
    raise AssertionError("no outbox delivery failed")


async def test_take_a_role_from_the_card(harness):
    await harness.say("declare Comms needed sev2", GROUP)
    status, body = await harness.press("incident.take_role", {"incident_id": 1, "role": "comms_lead"}, user=MEGAN)
    assert status == 200 and "Megan Bowen" in str(body["value"])
    assert (await harness.service.view(1)).holder("comms_lead").display_name == "Megan Bowen"
    # Incident manager is one of the choices too; taking it while someone holds it is refused.
    status, body = await harness.press("incident.take_role", {"incident_id": 1, "role": "incident_manager"}, user=MEGAN)
    assert (await harness.service.view(1)).holder("incident_manager").display_name != "Megan Bowen"
    status, body = await harness.press("incident.take_role", {"incident_id": 1, "role": "nonsense"}, user=MEGAN)
    assert "Pick a role" in body["value"]
