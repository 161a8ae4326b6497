"""Break-glass through the real app: the procedure goes privately to allowed people only, every
request and refused attempt is a security event told to security at once, and the follow-up
items stay open until a security member closes them with a note."""
import pytest
from sqlalchemy import update

from bot.domain import conversations, follow_ups
from bot.domain.model import Actor, Source
from bot.errors import PermissionDenied
from storage import bindings, follow_ups as follow_up_store
from storage.models import Incident
from tests.http.harness import GROUP, PERSONAL
from tests.http.test_paging import PEOPLE
from tests.support import card_nodes

SEAN = ("aad-sean", "Seán O'Brien")
PRIYA = ("aad-priya", "Priya Raman")
AISHA = ("aad-aisha", "Aisha Patel")
TOM = ("aad-tom", "Tom Becker")


async def _known(harness):
    people = {**PEOPLE, "sean.obrien@contoso.com": SEAN}
    for email, (aad, name) in people.items():
        await harness.service.execute(lambda s, now, a=aad, n=name, e=email: conversations.remember_person(
            s, aad_object_id=a, display_name=n, email=e, now=now))


async def _incident_in_group_chat(harness, user=PRIYA):
    """INC-1 lives in the group chat; then the incidents channel is set up (so 1:1 chats can be opened)."""
    await harness.say("declare Nobody can sign in to Entra ID sev3", GROUP, user=user)
    await harness.bind_incidents_channel()


async def _direct(harness, *, sent=True, about="break-glass"):
    """1:1 messages about `about` (their summary) queued (and delivered, with `sent`):
    [(recipient AAD id, text)]."""
    return [(r.payload["user_aad"], r.payload["text"]) for r in await harness.outbox()
            if r.payload.get("render") == "direct" and (r.status == "sent" or not sent) and about in r.payload["summary"]]


async def _delivered(harness, count):
    async def probe():
        found = await _direct(harness)
        return found if len(found) >= count else None
    return await harness.until_async(probe)


def _one_to_one_with(connector, aad):
    """Whether the bot opened a 1:1 chat with `aad` (Teams' create conversation with one member)."""
    return [r for r in connector.find(method="POST", path=r"^/v3/conversations$")
            if (r.json or {}).get("members") == [{"id": aad}] and r.json.get("isGroup") is False]


def _posted(connector, needle):
    return [r.json.get("text") for r in connector.find(method="POST", path=r"/activities$") if needle in str(r.json)]


async def _kinds(harness, incident_id=1):
    return [(e.kind, e.text) for e in await harness.timeline(incident_id)]


async def test_an_allowed_person_gets_the_procedure_privately_and_security_is_told(harness, connector):
    await _known(harness)
    await _incident_in_group_chat(harness)
    await harness.say("breakglass entra-emergency-access", GROUP, user=PRIYA)
    said = harness.texts()[-1]
    assert said.startswith("Priya Raman, I sent you the break-glass procedure for `entra-emergency-access` "
                           "privately, in your 1:1 chat with me.")
    assert "Recorded as a security event (INC-1)" in said and "Security operations were told" in said
    assert "sealed envelope" not in " ".join(harness.texts())  # no step in the group chat
    # the procedure in Priya's 1:1 chat; Seán and Aisha (security) each told at once
    sent = dict(await _delivered(harness, 3))
    assert set(sent) == {"aad-priya", "aad-sean", "aad-aisha"}
    procedure = sent["aad-priya"]
    assert "1. Confirm with a second person" in procedure and "5. Sign out, reseal the key" in procedure
    assert "https://contoso.sharepoint.com/sites/security/SitePages/Emergency-access.aspx" in procedure
    assert _one_to_one_with(connector, "aad-priya") and len(_posted(connector, "1. Confirm with a second")) == 1
    for aad in ("aad-sean", "aad-aisha"):
        told = sent[aad]
        assert "Break-glass requested" in told and "Priya Raman (priya.raman@contoso.com)" in told
        assert "Entra ID emergency access account" in told and "**INC-1**" in told
        assert "#1 Review the use" in told and "#2 Rotate the account's credentials" in told
    # when, in each member's own zone (Dublin, Chicago)
    assert "at 2026-11-29 14:05 GMT" in sent["aad-sean"] and "at 2026-11-29 08:05 CST" in sent["aad-aisha"]
    kinds = await _kinds(harness)
    [event] = [t for k, t in kinds if k == "security.breakglass"]
    assert event.startswith("Priya Raman (priya.raman@contoso.com) requested `entra-emergency-access`")
    [audit] = await harness.service.read(lambda s: bindings.audit_events(s, limit=1))
    assert audit.action == "security.breakglass entra-emergency-access" and '"incident": 1' in audit.new_value
    await harness.say("timeline", GROUP, user=PRIYA)
    texts = [el["text"] for el in card_nodes(harness.cards()[-1]) if el.get("type") == "TextBlock"]
    # the timeline shows what was recorded as text: its Markdown escaped
    assert any("Break-glass: Priya Raman (priya.raman@contoso.com) requested \\`entra-emergency-access\\`" in t
               for t in texts), texts

    # the follow-ups stay open, days later, until security closes them with a note
    harness.clock.advance(days=3)
    assert await harness.service.read(lambda s: follow_ups.reminder(s, 1)) == (
        "INC-1 still has 2 open follow-up items (#1, #2); they stay open after the incident. "
        "Say `followups INC-1` to see them.")  # the line for whoever resolves it
    await harness.say("followups", GROUP, user=PRIYA)
    listed = str(harness.cards()[-1])
    assert "#1** INC-1 · Review the use of the break-glass account" in listed and "#2** INC-1 · Rotate" in listed
    assert "open since 2026-11-29 14:05 UTC" in listed
    await harness.say("followup close 1 looked fine to me", GROUP, user=PRIYA)  # she used it (and is not in security)
    assert harness.texts()[-1] == ("Sorry Priya Raman, you may not close break-glass follow-up #1: you used that "
                                   "break-glass account, so someone else must review it. Members of Security "
                                   "operations (Aisha Patel, Seán O'Brien) may close it.")
    await harness.say("followup close 1 looked fine to me", GROUP, user=TOM)  # not in security
    assert harness.texts()[-1] == ("Sorry Tom Becker, only members of Security operations may close break-glass "
                                   "follow-up #1: they review the use and rotate the credentials.")
    await harness.say("followup close 1", GROUP, user=SEAN)
    assert "Say `followup close 1 NOTE`" in harness.texts()[-1]
    await harness.say("followup close 1 Sign-in logs reviewed with SecOps: one change, as noted.", GROUP, user=SEAN)
    assert harness.texts()[-1] == ("Follow-up #1 closed by Seán O'Brien (on INC-1's timeline): Review the use of the "
                                   "break-glass account with security operations (sign-in logs, actions taken).")
    await harness.say("followup close 1 again", GROUP, user=SEAN)
    assert "was already closed by Seán O'Brien" in harness.texts()[-1]
    await harness.say("followups", GROUP, user=SEAN)
    listed = str(harness.cards()[-1])
    assert "#2**" in listed and "#1**" not in listed
    await harness.say("followups all", GROUP, user=SEAN)
    assert "closed by Seán O'Brien at 2026-12-02 14:05 UTC: Sign-in logs reviewed" in str(harness.cards()[-1])
    kinds = await _kinds(harness)
    assert ("follow_up.closed", "#1 Review the use of the break-glass account with security operations (sign-in "
            "logs, actions taken). (break-glass `entra-emergency-access` by Priya Raman, INC-1): Sign-in logs "
            "reviewed with SecOps: one change, as noted.") in kinds
    assert [k for k, t in kinds if k == "refused" and "close follow-up #1" in t]  # Priya's attempt is on record
    # whoever resolves the incident hears that a follow-up is still open; it stays open
    await harness.say("resolve", GROUP, user=PRIYA)
    assert harness.texts()[-2:] == [
        "INC-1 resolved by Priya Raman.",
        "INC-1 still has 1 open follow-up item (#2); they stay open after the incident. "
        "Say `followups INC-1` to see them."]
    assert len(await _direct(harness, sent=False)) == 3  # nothing else went out


async def test_a_person_not_allowed_is_refused_recorded_and_security_is_told(harness):
    await _known(harness)
    await _incident_in_group_chat(harness, user=TOM)
    await harness.say("breakglass entra-emergency-access", GROUP, user=TOM)
    assert harness.texts()[-1].startswith(
        "Sorry Tom Becker, you may not use the break-glass account `entra-emergency-access`: only members of "
        "Security operations, or Priya Raman may. Your attempt was recorded (INC-1) and Security operations were told")
    sent = dict(await _delivered(harness, 2))
    assert set(sent) == {"aad-sean", "aad-aisha"}  # and nothing to Tom
    assert "Break-glass attempt refused" in sent["aad-sean"] and "Tom Becker (tom.becker@contoso.com)" in sent["aad-sean"]
    assert "Confirm with a second person" not in str(sent) and "sharepoint" not in str(sent)
    [(kind, text)] = [(k, t) for k, t in await _kinds(harness) if k.startswith("security.")]
    assert kind == "security.breakglass_refused" and "was refused: only members of Security operations" in text
    await harness.say("followups", GROUP, user=TOM)
    assert "None." in str(harness.cards()[-1])  # a refusal opens nothing
    assert len(await _direct(harness, sent=False)) == 2


async def test_an_unknown_account_lists_the_valid_ones_and_changes_nothing(harness):
    await _known(harness)
    await harness.say("breakglass global-admin", PERSONAL, user=TOM)
    assert harness.texts()[-1] == ("There is no break-glass account `global-admin`. You may use: "
                                   "`power-platform-admin`. Others: `entra-emergency-access`. Say `breakglass` for "
                                   "the list, then `breakglass ACCOUNT`.")
    await harness.say("breakglass", PERSONAL, user=TOM)
    listed = str(harness.cards()[-1])
    assert "`power-platform-admin`: Power Platform break-glass administrator. Say `breakglass power-platform-admin`" in listed
    assert "Accounts you may not use:" in listed and "`entra-emergency-access`" in listed
    assert "only members of Security operations, or Priya Raman" in listed
    assert await harness.service.read(lambda s: bindings.audit_events(s)) == []
    assert await _direct(harness, sent=False) == []


async def test_in_the_one_to_one_chat_the_procedure_is_the_reply_and_is_audited_without_an_incident(harness):
    await _known(harness)
    await harness.bind_incidents_channel()
    await harness.say("breakglass power-platform-admin", PERSONAL, user=TOM)
    procedure, recorded = harness.texts()[-2:]
    assert procedure.startswith("🔓 **Break-glass procedure: Power Platform break-glass administrator**\n\n"
                                "1. Request the pp-breakglass secret from the vault")
    assert "https://contoso.sharepoint.com/sites/security/SitePages/Power-Platform-break-glass.aspx" in procedure
    assert recorded.startswith("Recorded as a security event (no incident here: it is on the audit trail)")
    [audit] = await harness.service.read(lambda s: bindings.audit_events(s, limit=1))
    assert audit.action == "security.breakglass power-platform-admin" and '"incident": null' in audit.new_value
    sent = dict(await _delivered(harness, 2))
    assert set(sent) == {"aad-sean", "aad-aisha"} and "outside any incident" in sent["aad-sean"]
    await harness.say("followups", PERSONAL, user=SEAN)
    listed = str(harness.cards()[-1])
    assert "#1** Review the use" in listed and "INC-" not in listed
    await harness.say("followup close 2 Rotated and resealed.", PERSONAL, user=AISHA)
    assert harness.texts()[-1].startswith("Follow-up #2 closed by Aisha Patel: Rotate")
    [closed] = await harness.service.read(lambda s: bindings.audit_events(s, limit=1))
    assert closed.action == "followup close #2" and "Rotated and resealed." in closed.new_value
    assert len(await _direct(harness, sent=False)) == 2


async def test_with_no_way_to_reach_the_person_privately_they_are_sent_to_the_one_to_one_chat(harness):
    await _known(harness)
    await harness.say("declare Nobody can sign in to Entra ID sev3", GROUP, user=PRIYA)  # no incidents channel
    await harness.say("breakglass entra-emergency-access", GROUP, user=PRIYA)
    assert harness.texts()[-1].startswith("I can't send you the procedure privately from here yet")
    assert "say `breakglass entra-emergency-access` there. Nothing was recorded." in harness.texts()[-1]
    assert not [k for k, _ in await _kinds(harness) if k.startswith("security.")]
    assert await _direct(harness, sent=False) == []


async def test_when_nobody_in_security_can_be_told_in_teams_the_incidents_channel_is(harness):
    await harness.say("declare Nobody can sign in to Entra ID sev3", GROUP, user=TOM)
    await harness.bind_incidents_channel()  # Aisha set it up, so she is known; Seán has never used Firebreak
    await harness.say("breakglass entra-emergency-access", GROUP, user=AISHA)
    said = harness.texts()[-1]
    assert "Security operations could not be told in Teams (not reachable yet: Seán O'Brien), so I posted it " \
           "in the incidents channel; call them as well." in said
    channel = (await harness.service.read(lambda s: bindings.get_binding(s, "incidents"))).channel_id
    [posted] = [r.payload["text"] for r in await harness.outbox() if r.conversation_id == channel]
    assert posted.startswith("🔓 **Break-glass requested**: Aisha Patel (aisha.patel@contoso.com) asked for "
                             "**Entra ID emergency access account (cloud-only Global Administrator)** "
                             "(`entra-emergency-access`) for **INC-1** at 2026-11-29 14:05 UTC.")
    assert posted.endswith("⚠️ None of Security operations could be told in Teams (not reachable yet: Seán O'Brien "
                           "(sean.obrien@contoso.com)). Someone call them now.")
    assert "sealed envelope" not in posted
    assert ("security.breakglass", "could not tell in Teams (never used Firebreak): Seán O'Brien; posted in the "
            "incidents channel") in await _kinds(harness)
    [untold, _request] = await harness.service.read(lambda s: bindings.audit_events(s, limit=2))
    assert untold.action == "security.breakglass untold" and "sean.obrien@contoso.com" in untold.new_value
    assert '"channel": true' in untold.new_value
    await harness.say("breakglass entra-emergency-access", GROUP, user=AISHA)  # a second request: a second notice
    assert len([r for r in await harness.outbox() if r.conversation_id == channel]) == 2


async def test_a_need_to_know_incident_is_never_posted_in_the_incidents_channel(harness):
    await harness.say("declare Suspicious admin sign-ins sev2", GROUP, user=TOM)
    await harness.bind_incidents_channel()  # a channel exists, but this incident is need-to-know
    await harness.service.execute(lambda s, now: s.execute(
        update(Incident).where(Incident.id == 1).values(need_to_know=True)))
    await harness.say("breakglass power-platform-admin", GROUP, user=AISHA)  # Seán has never used Firebreak
    said = harness.texts()[-1]
    assert "⚠️ Security operations could not be told: none of them can be reached in Teams and this incident is " \
           "need-to-know, so it is not posted in the incidents channel. Call them now: Seán O'Brien" in said
    channel = (await harness.service.read(lambda s: bindings.get_binding(s, "incidents"))).channel_id
    assert [r for r in await harness.outbox() if r.conversation_id == channel] == []


async def test_with_nobody_reachable_and_no_channel_the_requester_is_told_to_call_security(harness):
    await harness.service.execute(lambda s, now: conversations.remember_person(  # only Tom: no security member
        s, aad_object_id=TOM[0], display_name=TOM[1], email="tom.becker@contoso.com", now=now))
    await harness.say("breakglass power-platform-admin", PERSONAL, user=TOM)  # and no incidents channel
    recorded = harness.texts()[-1]
    assert recorded.startswith("Recorded as a security event (no incident here: it is on the audit trail); ")
    assert "⚠️ Security operations could not be told: none of them can be reached in Teams and no incidents " \
           "channel is set up. Call them now: Aisha Patel (aisha.patel@contoso.com), Seán O'Brien " \
           "(sean.obrien@contoso.com)." in recorded
    [untold, _request] = await harness.service.read(lambda s: bindings.audit_events(s, limit=2))
    assert untold.action == "security.breakglass untold" and '"channel": false' in untold.new_value
    assert [r for r in await harness.outbox()] == []


async def test_the_requester_may_not_close_their_own_break_glass_follow_ups(harness):
    await _known(harness)
    await _incident_in_group_chat(harness)
    await harness.say("breakglass entra-emergency-access", GROUP, user=AISHA)  # Aisha is in security herself
    await harness.say("followup close 1 all fine", GROUP, user=AISHA)
    assert harness.texts()[-1] == (
        "Sorry Aisha Patel, you may not close break-glass follow-up #1: you used that break-glass account, so "
        "someone else must review it. Other members of Security operations (Seán O'Brien) may close it.")
    assert (await harness.service.read(lambda s: follow_up_store.get(s, 1))).is_open
    await harness.say("followup close 1 Reviewed the sign-in logs with Aisha.", GROUP, user=SEAN)
    assert harness.texts()[-1].startswith("Follow-up #1 closed by Seán O'Brien")
    # the plan lost its breakglass section: nobody can say who reviews, so nobody closes it yet
    no_section = harness.service.plan.model_copy(update={"breakglass": None})
    for who in (SEAN, AISHA):
        email = "sean.obrien@contoso.com" if who is SEAN else "aisha.patel@contoso.com"
        actor = Actor(aad_id=who[0], name=who[1], email=email)
        with pytest.raises(PermissionDenied) as refused:
            await harness.service.execute(lambda s, now, a=actor: follow_ups.close(
                s, plan=no_section, item_id=2, note="rotated", actor=a, source=Source.COMMAND, now=now))
        assert "the response plan has no `breakglass` section now" in str(refused.value)
        assert "restore `breakglass.notify_group`" in str(refused.value)


async def test_break_glass_follow_ups_are_listed_only_to_security_and_the_requester(harness):
    await _known(harness)
    await _incident_in_group_chat(harness)
    await harness.say("breakglass entra-emergency-access", GROUP, user=PRIYA)  # Priya: allowed, not in security
    await harness.say("followups", GROUP, user=TOM)
    listed = str(harness.cards()[-1])
    assert "#1" not in listed and "Review the use" not in listed and "entra-emergency-access" not in listed
    assert "None." in listed
    assert "Some break-glass follow-up items are not shown to you: only members of Security operations and " \
           "whoever used the account see them." in listed
    await harness.say("followups all INC-1", GROUP, user=TOM)
    assert "Review the use" not in str(harness.cards()[-1])
    for who in (PRIYA, SEAN):
        await harness.say("followups", GROUP, user=who)
        listed = str(harness.cards()[-1])
        assert "#1** INC-1 · Review the use" in listed and "not shown to you" not in listed


async def test_what_people_type_is_shown_as_text_in_the_follow_up_list(harness):
    await _known(harness)
    await _incident_in_group_chat(harness)
    await harness.say("breakglass entra-emergency-access", GROUP, user=PRIYA)
    await harness.say("followup close 1 [click](https://evil.example) **bold**", GROUP, user=SEAN)
    await harness.say("followups all", GROUP, user=SEAN)
    [line] = [b["text"] for b in harness.cards()[-1]["body"] if b["text"].startswith("**#1**")]
    assert line.endswith(r": \[click\](https://evil.example) \*\*bold\*\*")
    assert r"(break-glass \`entra-emergency-access\` by Priya Raman, INC-1)" in line
