"""Break-glass through the real app: the procedure goes privately to allowed people only, every
request and refused attempt is a security event told to security at once, and the follow-up
items stay open until a security member closes them with a note."""
from bot.domain import conversations, follow_ups
from storage import bindings
from tests.http.harness import GROUP, PERSONAL
from tests.http.test_paging import PEOPLE

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
    assert "Break-glass: Priya Raman (priya.raman@contoso.com) requested `entra-emergency-access`" in str(harness.cards()[-1])

    # the follow-ups stay open, days later, until security closes them with a note
    harness.clock.advance(days=3)
    assert await harness.service.read(lambda s: follow_ups.reminder(s, 1)) == (
        "INC-1 still has 2 open follow-up items (#1, #2); they stay open after the incident. "
        "Say `followups INC-1` to see them.")  # the line for whoever resolves it
    await harness.say("followups", GROUP, user=PRIYA)
    listed = str(harness.cards()[-1])
    assert "#1** INC-1 · Review the use of the break-glass account" in listed and "#2** INC-1 · Rotate" in listed
    assert "open since 2026-11-29 14:05 UTC" in listed
    await harness.say("followup close 1 looked fine to me", GROUP, user=PRIYA)  # not in security
    assert harness.texts()[-1] == ("Sorry Priya Raman, only members of Security operations may close break-glass "
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
