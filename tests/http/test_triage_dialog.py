"""The triage dialog: every branch to a severity decision, each answer on the timeline.

Known service; unknown service through the symptom questions; a supplier outage; the disaster
criteria with the DR plan and who must be told; choosing another severity than proposed;
cancel, a wrong answer, a restart mid-triage, the card's button, a resolved incident.
"""
from app import PLAN_KEY, SERVICE_KEY
from tests.http.harness import GROUP, start_harness

ADELE = ("aad-adele", "Adele Vance")
MEGAN = ("aad-megan", "Megan Bowen")


def _prompt(harness) -> tuple[str, list[str]]:
    """The last message's text (the question card's included) and its buttons' values."""
    activity = harness.sent()[-1]
    text, values = activity.get("text") or "", []
    for att in activity.get("attachments") or []:
        for element in (att.get("content") or {}).get("body") or []:
            text += element.get("text") or ""
            values += [a["data"]["dialog_answer"] for a in element.get("actions") or []]
    return text, values


def _question(harness, back: int = 1) -> str:
    """The question token on the buttons of the `back`-th newest card."""
    cards = [c for c in harness.cards() if any(el.get("type") == "ActionSet" for el in c.get("body", []))]
    return next(el for el in cards[-back]["body"] if el.get("type") == "ActionSet")["actions"][0]["data"]["dialog_question"]


async def _press(harness, answer: str, user=ADELE, question: str | None = None) -> None:
    """Press a choice button: an Action.Submit message with the answer (and the question the
    button was shown with, by default the newest card's) in `value`, no text."""
    body = harness.activity(GROUP, user=user, value={"dialog_answer": answer,
                                                      "dialog_question": question or _question(harness)})
    body.pop("text", None)
    await harness.post(body)


async def _answer(harness, *answers: str, user=ADELE) -> None:
    for answer in answers:
        await harness.say(answer, GROUP, user=user)


async def _triage_entries(harness, incident_id: int = 1) -> list[tuple[str, str]]:
    return [(e.actor_name, e.text) for e in await harness.timeline(incident_id) if e.kind == "triage"]


async def _declare_and_triage(harness, declare: str = "declare Work orders not syncing sev3") -> None:
    await harness.say(declare, GROUP, user=ADELE)
    await harness.say("triage", GROUP, user=ADELE)


NO_CRITERIA = ("no", "no", "no", "no")


async def test_known_service_to_a_severity_decision(harness):
    await _declare_and_triage(harness)
    text, buttons = _prompt(harness)
    assert "Triage for INC-1 is SEV3" in text and "What is affected?" in text
    assert "azure-sql" in buttons and buttons[-1] == "unknown" and "entra-id" not in buttons
    await _answer(harness, "azure-sql")
    text, buttons = _prompt(harness)
    assert "Who is affected?" in text and buttons == ["one-person", "one-team", "region", "everyone"]
    await _answer(harness, "region")
    assert "Roughly how many people" in _prompt(harness)[0]
    await _answer(harness, "about 300 technicians in Bavaria")
    text, buttons = _prompt(harness)
    assert "Emergency checklist, 1 of 4" in text and "Field technicians cannot complete" in text
    assert buttons == ["yes", "no", "dont-know"]
    await _answer(harness, "no", "no", "dont-know", "yes")
    text, buttons = _prompt(harness)
    assert "Proposed severity: SEV2 · Major" in text
    assert "A region or a large group of users affected" in text and "Sign-in, scheduling" in text
    assert buttons[0] == "sev2" and sorted(buttons) == ["sev1", "sev2", "sev3", "sev4"]
    await _answer(harness, "sev2")
    assert any(t.startswith("INC-1 is now SEV2 · Major (was SEV3), because: A region") for t in harness.texts())
    assert (await harness.incident(1)).severity == "sev2"
    text, buttons = _prompt(harness)
    assert "disaster criteria" in text and "Azure West Europe region is unavailable" in text
    assert buttons == ["yes", "no"]
    await _answer(harness, "no")
    assert harness.texts()[-1].startswith("Triage of INC-1 is done: SEV2.")  # azure-sql has no runbook
    entries = await _triage_entries(harness)
    assert [name for name, _ in entries] == ["Adele Vance"] * len(entries)
    texts = [t for _, t in entries]
    assert texts[:3] == ["What is affected? → Azure SQL Database (scheduling and parts inventory)",
                         "Who is affected? → A region or a large group of users",
                         "Roughly how many people are affected? A number, or `unknown`. → about 300 technicians in Bavaria"]
    assert "Sign-in, scheduling or work-order sync fails for a region or a large group. → Yes" in texts
    assert "Data has been lost or corrupted (work orders, schedules, parts inventory). → No" in texts
    assert "Customer or personal data may have been seen by someone who should not see it. → I don't know" in texts
    assert any(t.startswith("Severity decided: SEV2, because: A region") for t in texts)
    assert texts[-1] == "Are any of the disaster criteria met? → No"
    kinds = [e.kind for e in await harness.timeline(1)]
    assert "severity_changed" in kinds


async def test_unknown_service_is_found_through_the_symptom_questions(harness):
    await _declare_and_triage(harness)
    await _answer(harness, "unknown")
    text, buttons = _prompt(harness)
    assert "Do sign-ins fail in other Microsoft 365 apps" in text and buttons == ["yes", "no", "dont-know"]
    await _answer(harness, "no", "dont-know")
    assert "gateway" in _prompt(harness)[0]
    await _answer(harness, "yes")
    assert "That points at **On-premises data gateway cluster (SAP and file shares)**." in harness.texts()
    text, buttons = _prompt(harness)
    # only the suppliers the gateway depends on are offered, with their status pages
    assert "Is a supplier down?" in text and "https://status.cloud.microsoft/" in text
    assert buttons == ["entra-id", "no-supplier", "cant-tell"]
    await _answer(harness, "no-supplier", "one-team", "12", *NO_CRITERIA)
    text, buttons = _prompt(harness)
    assert "Proposed severity: SEV3 · Minor" in text
    await _answer(harness, "sev2")  # the responder knows better than the rules: recorded as such
    assert any("is now SEV2 · Major (was SEV3), because: chosen over the proposed SEV3" in t for t in harness.texts())
    await _answer(harness, "no")
    text, buttons = _prompt(harness)
    assert "On-premises data gateway triage" in text and "Start it now?" in text and buttons == ["yes", "no"]
    await _answer(harness, "no")
    assert harness.texts()[-1].startswith("Triage of INC-1 is done: SEV2.")
    texts = [t for _, t in await _triage_entries(harness)]
    assert "What is affected? → I don't know" in texts
    assert "Do flows fail with gateway or \"connection unavailable\" errors? → Yes" in texts
    assert "Is a supplier down? → No supplier is down" in texts
    assert "Start runbook on-prem-data-gateway? → No" in texts


async def test_supplier_outage_when_no_symptom_points_anywhere(harness):
    await _declare_and_triage(harness)
    await _answer(harness, "unknown", "no", "no", "no", "no")
    text, buttons = _prompt(harness)
    assert "Is a supplier down?" in text
    assert buttons == ["entra-id", "power-platform", "microsoft-365", "azure", "no-supplier", "cant-tell"]
    assert "https://azure.status.microsoft/status" in text
    await _answer(harness, "entra-id", "everyone", "unknown", *NO_CRITERIA)
    text, _ = _prompt(harness)
    assert "Proposed severity: SEV1 · Critical" in text
    assert "a supplier is down: Microsoft Entra ID (sign-in) (escalate to the supplier)" in text
    await _answer(harness, "sev1", "no")
    assert (await harness.incident(1)).severity == "sev1"
    assert "Is a supplier down? → Yes: Microsoft Entra ID (sign-in)" in [t for _, t in await _triage_entries(harness)]


async def test_disaster_shows_the_dr_plan_and_who_must_be_told(harness):
    await _declare_and_triage(harness, "declare Dataverse environment gone sev2")
    await _answer(harness, "dataverse", "everyone", "all of them", "no", "yes", "no", "no")
    assert "Proposed severity: SEV1" in _prompt(harness)[0]
    await _answer(harness, "sev1", "yes")
    told = next(t for t in harness.texts() if t.startswith("**The disaster recovery plan applies.**"))
    assert "https://contoso.sharepoint.com/sites/fs-operations/Shared%20Documents/Disaster-recovery-plan.docx" in told
    assert "**Security operations**: Seán O'Brien, Aisha Patel" in told
    assert "**Customer communications**: Emma Dubois, Priya Raman" in told
    assert harness.texts()[-1].startswith("Triage of INC-1 is done: SEV1.")
    assert "Are any of the disaster criteria met? → Yes" in [t for _, t in await _triage_entries(harness)]


async def test_severity_kept_when_the_proposal_matches(harness):
    await _declare_and_triage(harness, "declare One user cannot sign in sev4")
    await _answer(harness, "field-service-app", "one-person", "1", *NO_CRITERIA, "sev4")
    assert "INC-1 stays SEV4 · Low. Recorded with the reason: One person affected." in harness.texts()
    assert [e.kind for e in await harness.timeline(1)].count("severity_changed") == 0


async def test_everyone_in_the_chat_may_answer_and_is_recorded_by_name(harness):
    await _declare_and_triage(harness)
    await _answer(harness, "azure-sql", user=ADELE)
    await _answer(harness, "one-team", user=MEGAN)
    names = [name for name, _ in await _triage_entries(harness)]
    assert names == ["Adele Vance", "Megan Bowen"]


async def test_wrong_answer_is_asked_again_and_cancel_stops(harness):
    await _declare_and_triage(harness)
    await _answer(harness, "azure-sql", "half the planet")
    text, buttons = _prompt(harness)
    assert "Pick one: One person, One team or one site" in text and "cancel" in text
    await _answer(harness, "/cancel")
    assert harness.texts()[-1].startswith("Triage cancelled. The answers given so far stay on the timeline")
    await harness.say("status", GROUP, user=ADELE)  # a command again, not an answer
    assert "INC-1" in str(harness.sent()[-1])
    assert len(await _triage_entries(harness)) == 1


async def test_the_card_button_starts_triage(harness):
    await harness.say("declare Approvals stuck sev3", GROUP, user=ADELE)
    conversation = harness.sent()[-1]["conversation"]["id"]
    status, body = await harness.press("incident.triage", {"incident_id": 1}, user=ADELE, conversation_id=conversation)
    assert status == 200 and "INC-1: Approvals stuck" in str(body)  # the living card stays
    assert "What is affected?" in _prompt(harness)[0]


async def test_a_resolved_incident_is_not_triaged(harness):
    await harness.say("declare Gone already sev3", GROUP, user=ADELE)
    await harness.say("resolve", GROUP, user=ADELE)
    await harness.say("triage", GROUP, user=ADELE)
    assert "INC-1 is resolved; `reopen` it to triage it again." in harness.texts()[-1]


async def test_restart_mid_triage_resumes_at_the_same_question(tmp_path, connector, clock):
    first = await start_harness(tmp_path / "fb.db", connector, clock)
    await _declare_and_triage(first)
    await _answer(first, "azure-sql", "region")
    assert "Roughly how many" in _prompt(first)[0]
    await first.client.close()
    second = await start_harness(tmp_path / "fb.db", connector, clock)
    try:
        await _answer(second, "40")
        assert "Emergency checklist, 1 of 4" in _prompt(second)[0]
        await _answer(second, *NO_CRITERIA, "sev2", "no")
        assert (await second.incident(1)).severity == "sev2"
        assert len(await _triage_entries(second)) == 9
    finally:
        await second.client.close()


async def test_choice_buttons_answer_without_typing_and_a_stale_button_is_explained(harness):
    await _declare_and_triage(harness)
    card = next(a for a in harness.sent()[-1]["attachments"])["content"]
    assert all(len(row["actions"]) <= 5 for row in card["body"][1:])  # Teams shows at most six per set
    await _press(harness, "azure-sql")
    assert "Who is affected?" in _prompt(harness)[0]
    await _answer(harness, "/cancel")
    await _press(harness, "region")
    assert harness.texts()[-1].startswith("That question is no longer open")
    assert len(await _triage_entries(harness)) == 1


async def test_yes_starts_the_services_runbook(harness):
    await _declare_and_triage(harness)
    await _answer(harness, "power-automate-flows", "one-team", "8", *NO_CRITERIA, "sev3", "no")
    assert "Power Automate flows triage" in _prompt(harness)[0]
    await _answer(harness, "yes")
    progress = [c for c in harness.cards() if "Power Automate flows triage" in str(c)]
    assert progress and "Check the flow run history" in str(progress[-1])
    assert harness.texts()[-1].startswith("Triage of INC-1 is done: SEV3.")
    kinds = [e.kind for e in await harness.timeline(1)]
    assert any(k.startswith("runbook") for k in kinds), kinds
    assert "Start runbook power-automate-flows? → Yes" in [t for _, t in await _triage_entries(harness)]


async def test_a_press_counts_only_for_the_question_its_card_asked(harness):
    """A second press on an answered card (another responder, a double click) must not answer
    the next question; the stale press changes nothing and says so."""
    await _declare_and_triage(harness)
    await _press(harness, "azure-sql")
    await _press(harness, "region")
    assert "Roughly how many" in _prompt(harness)[0]
    await _answer(harness, "300")
    first_criterion = _question(harness)
    await _press(harness, "no", user=ADELE)  # answers "Field technicians cannot complete work orders"
    await _press(harness, "yes", user=MEGAN, question=first_criterion)  # the same card, a moment later
    assert "That button answers an earlier question" in str(harness.sent()[-2:])
    assert "Emergency checklist, 2 of 4" in _prompt(harness)[0]  # asked again, still open
    await _press(harness, "yes", user=MEGAN, question=_question(harness, back=3))  # an older card: the service
    await _press(harness, "no")
    assert "Emergency checklist, 3 of 4" in _prompt(harness)[0]
    texts = [t for _, t in await _triage_entries(harness)]
    assert "Data has been lost or corrupted (work orders, schedules, parts inventory). → No" in texts
    assert not [t for t in texts if t.endswith("→ Yes")]
    # the text question takes no button either
    await _answer(harness, "no", "no")
    assert "Proposed severity" in _prompt(harness)[0]


async def test_a_triage_button_does_not_answer_another_dialog(harness):
    await _declare_and_triage(harness)
    stale = _question(harness)
    await _answer(harness, "/cancel")
    await harness.say("declare", GROUP, user=ADELE)  # a declare dialog is open now
    await _press(harness, "azure-sql", question=stale)
    assert harness.texts()[-1].startswith("That question is no longer open")


async def test_the_button_refuses_while_a_dialog_is_in_progress_and_a_retried_press_starts_once(harness):
    await _declare_and_triage(harness)
    conversation = harness.sent()[-1]["conversation"]["id"]
    await _answer(harness, "azure-sql")
    status, body = await harness.press("incident.triage", {"incident_id": 1}, user=MEGAN, conversation_id=conversation)
    assert status == 200
    assert body["value"] == "A triage is in progress in this conversation: answer its last question, or say `cancel` first."
    assert "Who is affected?" in str(harness.sent())  # Adele's triage goes on where it was
    await _answer(harness, "/cancel")
    before = len(harness.sent())
    await harness.press("incident.triage", {"incident_id": 1}, user=MEGAN, conversation_id=conversation)
    await harness.press("incident.triage", {"incident_id": 1}, user=MEGAN, conversation_id=conversation)
    prompts = [a for a in harness.sent()[before:] if "What is affected?" in str(a)]
    assert len(prompts) == 1


async def test_a_plan_reload_mid_triage_does_not_shift_the_questions(harness):
    """The questions are those of the plan as triage began (a reload swaps the whole plan)."""
    await _declare_and_triage(harness)
    await _answer(harness, "azure-sql", "region", "300")
    plans = harness.client.server.app[PLAN_KEY]
    reordered = plans.current().model_copy(update={"triage": plans.current().triage.model_copy(update={
        "emergency_criteria": tuple(reversed(plans.current().triage.emergency_criteria[:2]))})})
    plans._plan = reordered  # what a reload does: swap the whole object
    assert harness.client.server.app[SERVICE_KEY].plan.triage.emergency_criteria[0].id == "data-loss"
    await _answer(harness, "yes", "no", "no", "no")
    texts = [t for _, t in await _triage_entries(harness)]
    assert "Field technicians cannot complete work orders and there is no workaround. → Yes" in texts
    assert "Proposed severity: SEV1" in _prompt(harness)[0]


async def test_unknown_criteria_are_named_in_the_reason(harness):
    await _declare_and_triage(harness)
    await _answer(harness, "azure-sql", "one-team", "5", "no", "dont-know", "no", "no")
    text, _ = _prompt(harness)
    assert "Proposed severity: SEV3" in text
    assert "not known yet: Data has been lost or corrupted (work orders, schedules, parts inventory)" in text
