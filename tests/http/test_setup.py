"""`setup` in a channel: binding the incidents and announcements channels, who may, and the audit trail."""
import json

from sqlalchemy import select

from bot.domain.conversations import known_people_emails

from storage.models import AuditEvent, ChannelBinding
from tests.http.harness import CHANNEL, GROUP
from tests.support import FIXTURES

AISHA = ("aad-aisha", "Aisha Patel")  # tier1 in the example plan: may change the setup
MEGAN = ("aad-megan", "Megan Bowen")  # not in the plan


def _roster(connector):
    connector.script(r"/members/aad-aisha", status=200, times=None, body={
        "id": "aad-aisha", "aadObjectId": "aad-aisha", "name": "Aisha Patel", "userPrincipalName": "aisha.patel@contoso.com"})


async def _rows(harness, model):
    return list(await harness.service.read(lambda s: _all(s, model)))


async def _all(session, model):
    return (await session.execute(select(model))).scalars().all()


async def test_setup_binds_this_channel_and_records_it(harness, connector):
    _roster(connector)
    channel = harness.activity(CHANNEL, text="setup incidents", user=AISHA)
    channel["channelData"]["team"]["name"] = "My Team"
    channel["channelData"]["channel"]["name"] = "Incidents"
    await harness.post(channel)
    assert "#Incidents in My Team is now the incidents channel" in harness.texts()[-1]
    [binding] = await _rows(harness, ChannelBinding)
    assert (binding.purpose, binding.team_id, binding.channel_id, binding.set_by_name) == (
        "incidents", "team-id", "team-id", "Aisha Patel")
    assert '"id": "team-id"' in binding.reference_json and "messageid" not in binding.reference_json
    [audit] = await _rows(harness, AuditEvent)
    assert (audit.action, audit.actor_name, audit.old_value) == ("setup incidents", "Aisha Patel", None)

    await harness.say("setup announcements", CHANNEL, user=AISHA)
    await harness.say("setup", CHANNEL)
    shown = str(harness.cards()[-1])
    assert "**incidents**: #Incidents in My Team" in shown and "**announcements**: #General" in shown
    assert "Aisha Patel" in shown and "2026-11-29 14:05 UTC" in shown


async def test_rebinding_says_what_it_replaced(harness, connector):
    _roster(connector)
    await harness.say("setup incidents", CHANNEL, user=AISHA)
    moved = harness.activity(CHANNEL, text="setup incidents", user=AISHA)
    moved["channelData"]["channel"] = {"id": "19:other@thread.tacv2", "name": "Ops"}
    await harness.post(moved)
    assert "#Ops is now the incidents channel (it was #General)" in harness.texts()[-1]
    audits = await _rows(harness, AuditEvent)
    assert len(audits) == 2 and '"channel_id": "team-id"' in audits[1].old_value


async def test_only_the_plan_owner_or_acting_groups_may_change_it(harness):
    await harness.say("setup incidents", CHANNEL, user=MEGAN)
    assert "only the plan owner" in harness.texts()[-1] and "Tier 1" in harness.texts()[-1]
    assert await _rows(harness, ChannelBinding) == []
    assert await _rows(harness, AuditEvent) == []


async def test_setup_outside_a_channel_explains_where_to_say_it(harness, connector):
    _roster(connector)
    await harness.say("setup incidents", GROUP, user=AISHA)
    assert "Say this in the channel you want to use" in harness.texts()[-1]
    await harness.say("setup nonsense", CHANNEL, user=AISHA)
    assert "`setup incidents`" in harness.texts()[-1]
    await harness.say("setup", GROUP)
    assert "not set" in str(harness.cards()[-1])
    assert await _rows(harness, ChannelBinding) == []


async def test_installing_in_a_team_learns_the_roster_and_maps_plan_people(harness, connector):
    added = json.loads((FIXTURES / "teams" / "docs-conversationUpdate-teamMemberAdded-bot-added-to-team.json").read_text())
    added["serviceUrl"] = connector.url
    status, _ = await harness.post(added)
    assert status in (200, 201)
    assert "setup incidents" in harness.texts()[-1]  # the welcome says what an admin does next
    paged = connector.find(method="GET", path=r"/pagedmembers")
    # the fixture always answers with the same continuation token: it is followed once, then
    # recognised as repeating (no endless loop)
    assert len(paged) == 2
    emails = await harness.service.read(_emails)
    # the documented roster: members with an AAD objectId and a UPN; the anonymous guest is skipped
    assert "johnp@fabrikam.com" in emails and "rstevens@fabrikam.com" in emails
    assert not any("guest" in e for e in emails)

    connector.script(r"/pagedmembers", status=200, times=None, body={"members": [
        {"id": "29:aisha", "objectId": "aad-aisha", "name": "Aisha Patel", "userPrincipalName": "Aisha.Patel@contoso.com"}]})
    await harness.post(added)
    await harness.say("setup", CHANNEL)
    shown = str(harness.cards()[-1])
    assert "People in the plan known in Teams: 1 of" in shown and "Not seen yet:" in shown


async def _emails(session):
    return await known_people_emails(session)
