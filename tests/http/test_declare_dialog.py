"""The declare dialog: prompts for what is missing, cancel, and resuming after a restart."""
from tests.http.harness import PERSONAL, start_harness


def _last_prompt(harness) -> dict:
    """The last message, with a question card's text lifted to `text` (choice prompts are cards)."""
    activity = dict(harness.sent()[-1])
    for att in activity.get("attachments") or []:
        for element in (att.get("content") or {}).get("body") or []:
            activity["text"] = (activity.get("text") or "") + (element.get("text") or "")
    return activity


def _buttons(activity: dict) -> list[str]:
    """The answers of the question card's Action.Submit buttons."""
    return [a["data"]["dialog_answer"] for att in activity.get("attachments") or []
            for element in (att.get("content") or {}).get("body") or [] for a in element.get("actions") or []]


async def test_declare_without_arguments_asks_for_title_severity_and_service(harness):
    await harness.say("declare")
    assert "short title" in harness.texts()[-1]
    await harness.say("Power Apps portal returns 500")
    prompt = _last_prompt(harness)
    assert "How severe is it?" in prompt["text"] and "SEV1" in prompt["text"]
    assert _buttons(prompt) == ["sev1", "sev2", "sev3", "sev4"]
    await harness.say("sev2")
    prompt = _last_prompt(harness)
    assert "Which service" in prompt["text"]
    services = _buttons(prompt)
    assert "field-service-app" in services and "none" in services
    assert "entra-id" not in services  # suppliers are not offered as the affected service
    await harness.say("field-service-app")
    inc = await harness.incident(1)
    assert (inc.title, inc.severity, inc.service_id, inc.status) == (
        "Power Apps portal returns 500", "sev2", "field-service-app", "declared")
    assert "INC-1: Power Apps portal returns 500" in str(harness.cards()[-1])
    assert (await harness.timeline(1))[0].source == "dialog"


async def test_declare_with_title_only_asks_the_rest(harness):
    await harness.say("declare Flows stuck in queue")
    assert "How severe" in _last_prompt(harness)["text"]
    await harness.say("sev3")
    await harness.say("none")
    inc = await harness.incident(1)
    assert (inc.title, inc.severity, inc.service_id) == ("Flows stuck in queue", "sev3", None)


async def test_wrong_answer_is_asked_again(harness):
    await harness.say("declare Flows stuck")
    await harness.say("very bad")
    assert "Pick one of sev1, sev2, sev3, sev4" in _last_prompt(harness)["text"]
    assert await harness.open_count() == 0


async def test_cancel_leaves_the_dialog_and_declares_nothing(harness):
    await harness.say("declare")
    await harness.say("/cancel")
    assert "Cancelled" in harness.texts()[-1]
    await harness.say("status")
    assert "No incident lives in this chat" in harness.texts()[-1]
    assert await harness.open_count() == 0


async def test_restart_mid_dialog_resumes_at_the_same_question(tmp_path, connector, clock):
    first = await start_harness(tmp_path / "fb.db", connector, clock)
    await first.say("declare Dataverse throttling")
    assert "How severe" in _last_prompt(first)["text"]
    await first.client.close()

    second = await start_harness(tmp_path / "fb.db", connector, clock)
    try:
        await second.say("sev2")
        assert "Which service" in _last_prompt(second)["text"]
        await second.say("dataverse")
        inc = await second.incident(1)
        assert (inc.title, inc.severity, inc.service_id) == ("Dataverse throttling", "sev2", "dataverse")
    finally:
        await second.client.close()


async def test_duplicate_delivery_of_a_dialog_answer_is_ignored(harness):
    await harness.say("declare Duplicate answers")
    answer = harness.activity(PERSONAL, text="sev2", activity_id="answer-1")
    await harness.post(answer)
    prompts = len(harness.sent())
    await harness.post(answer)
    assert len(harness.sent()) == prompts
    await harness.say("none")
    assert (await harness.incident(1)).severity == "sev2"


async def test_a_slash_command_mid_dialog_is_not_taken_as_an_answer(harness):
    await harness.say("declare")
    await harness.say("/status")
    assert "still waiting for an answer" in harness.texts()[-1]
    await harness.say("Portal down")
    assert "How severe" in _last_prompt(harness)["text"]


async def test_buttons_answer_in_a_channel_thread_and_only_their_own_question(harness):
    """The severity and service buttons are Action.Submit (they reach the bot in a channel
    without an @mention); a second press on the severity card does not answer the service."""
    await harness.say("declare Sync stuck")
    severity_card = _last_prompt(harness)
    token = severity_card["attachments"][0]["content"]["body"][1]["actions"][0]["data"]["dialog_question"]

    async def press(answer: str, question: str) -> None:
        body = harness.activity(PERSONAL, value={"dialog_answer": answer, "dialog_question": question})
        body.pop("text", None)
        await harness.post(body)

    await press("sev3", token)
    assert "Which service" in _last_prompt(harness)["text"]
    await press("sev1", token)  # the severity card again: stale
    assert "answers an earlier question" in str(harness.sent()[-2])
    assert "Which service" in _last_prompt(harness)["text"]
    service_token = _last_prompt(harness)["attachments"][0]["content"]["body"][1]["actions"][0]["data"]["dialog_question"]
    await press("dataverse", service_token)
    inc = await harness.incident(1)
    assert (inc.title, inc.severity, inc.service_id) == ("Sync stuck", "sev3", "dataverse")
