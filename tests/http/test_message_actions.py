"""Message actions through the real app: "Declare incident" and "Add to incident timeline" on a
Teams message (composeExtension/fetchTask and /submitAction invokes, answered in the HTTP body)."""
import json

import pytest
from sqlalchemy import select

from storage.models import Incident, IncidentRole, PostedCard, ProcessedKey, TimelineEvent
from tests.http.harness import PERSONAL
from tests.support import FIXTURES, assert_valid_card

SUBMIT = "composed-invoke-composeExtension-submitAction.json"
DOCS_SUBMIT = "docs-invoke-composeExtension-submitAction.json"
BOB = ("eddfa9d4-346e-4cce-a18f-fa6261ad776b", "Bob Smith")  # `from` of the composed fixture
CHANNEL_ID = "19:7705841b240044b297123ad7f9c99217@thread.skype"
TENANT = "b28fdbfd-2b78-4f93-b0f8-8881793f0f8f"
MESSAGE_ID = "1764425551220"
LINK = (f"https://teams.microsoft.com/l/message/{CHANNEL_ID}/{MESSAGE_ID}?tenantId={TENANT}"
        "&groupId=d9b7b4ec-7a6f-4a8c-9e43-0b0b1f6f4a1e&parentMessageId=1764425551220&teamName=Field%20Ops"
        "&channelName=General&createdTime=1764425551220")
HTML = ('<div><div><p>Checkout API is returning 5xx for EU customers</p>'
        '<p>Started 14:02&nbsp;UTC &amp; rising; <at id="0">Megan Bowen</at> is looking <img alt="👀" '
        'src="https://statics.teams.cdn.office.net/evergreen-assets/personal-expressions/v2/assets/emoticons/eyes/default/20_f.png"></p>'
        '</div></div>')
TEXT = "Checkout API is returning 5xx for EU customers\nStarted 14:02 UTC & rising; Megan Bowen is looking 👀"


def message_payload(html: str = HTML, *, author: str = "Megan Bowen", subject: str | None = None) -> dict:
    """A `messagePayload` shaped like the one Teams sends with a message action."""
    return {
        "id": MESSAGE_ID,
        "replyToId": None,
        "createdDateTime": "2026-11-29T13:59:11.220Z",
        "lastModifiedDateTime": None,
        "deleted": False,
        "subject": subject,
        "summary": None,
        "importance": "normal",
        "locale": "en-us",
        "linkToMessage": LINK,
        "from": {"device": None, "conversation": None, "application": None,
                 "user": {"userIdentityType": "aadUser", "id": "aad-megan", "displayName": author}},
        "body": {"contentType": "html", "content": html},
        "attachments": [],
        "mentions": [{"id": 0, "mentionText": "Megan Bowen",
                      "mentioned": {"user": {"id": "aad-megan", "displayName": "Megan Bowen",
                                             "userIdentityType": "aadUser"}}}],
        "reactions": [],
    }


def invoke(harness, name: str, command: str, *, data: dict | None = None, payload: dict | None = None,
           context: str = "message", **kw) -> dict:
    """The composed submitAction fixture turned into the invoke Teams sends for `name`."""
    body = harness.activity(SUBMIT, **kw)
    body["name"] = f"composeExtension/{name}"
    body["channelData"]["source"] = {"name": context}
    value = {"commandId": command, "commandContext": context, "context": {"theme": "default"}}
    if data is not None:
        value["data"] = data
    if payload is not None:
        value["messagePayload"] = payload
    body["value"] = value
    return body


def task_card(status: int, body) -> dict:
    """The card of a task-module answer (and check that it is one)."""
    assert status == 200, body
    assert body["task"]["type"] == "continue"
    attachment = body["task"]["value"]["card"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert_valid_card(attachment["content"])
    return attachment["content"]


def inputs(card: dict) -> dict[str, dict]:
    return {item["id"]: item for item in card["body"] if item.get("type", "").startswith("Input.")}


def words(card: dict) -> str:
    return json.dumps(card, ensure_ascii=False)


async def declare_from_message(harness, title: str, severity: str = "sev2", **kw) -> int:
    status, body = await harness.post(invoke(harness, "submitAction", "createIncident", payload=message_payload(),
                                             data={"id": "submitButton", "title": title, "severity": severity}, **kw))
    assert status == 200 and "declared" in words(body)
    return max(i.id for i in await harness.service.read(lambda s: _all(s, Incident)))


async def _all(session, model):
    return (await session.execute(select(model))).scalars().all()


async def snapshot(harness) -> dict:
    """Everything a message action may change: incidents, roles, timeline, claims, posted cards."""
    async def read(session):
        return {model.__tablename__: sorted(repr(row.model_dump()) for row in await _all(session, model))
                for model in (Incident, IncidentRole, TimelineEvent, ProcessedKey, PostedCard)}

    return await harness.service.read(read)


# -- Declare incident -------------------------------------------------------------------------


async def test_declare_form_is_prefilled_from_the_message(harness):
    status, body = await harness.post(invoke(harness, "fetchTask", "createIncident", payload=message_payload()))
    card = task_card(status, body)
    assert body["task"]["value"]["title"] == "Declare incident"
    fields = inputs(card)
    assert fields["title"]["value"] == "Checkout API is returning 5xx for EU customers"
    assert fields["description"]["value"] == TEXT
    plan = harness.service.plan
    assert [c["value"] for c in fields["severity"]["choices"]] == ["sev1", "sev2", "sev3", "sev4"]
    sev1 = fields["severity"]["choices"][0]["title"]
    assert sev1.startswith("SEV1 · Critical: ") and plan.severity("sev1").criteria in sev1
    assert [c["value"] for c in fields["service"]["choices"]] == [s.id for s in plan.services if not s.supplier]
    assert harness.sent() == []  # a form is an answer, not a message


async def test_declare_form_keeps_the_title_within_the_domain_limit_and_prefers_a_subject(harness):
    long_line = "Disk full " * 40
    status, body = await harness.post(invoke(harness, "fetchTask", "createIncident",
                                             payload=message_payload(f"<p>{long_line}</p><p>second line</p>")))
    title = inputs(task_card(status, body))["title"]["value"]
    assert len(title) == 200 and title.endswith("…") and title.startswith("Disk full Disk full")
    status, body = await harness.post(invoke(harness, "fetchTask", "createIncident",
                                             payload=message_payload(subject="EU checkout outage")))
    assert inputs(task_card(status, body))["title"]["value"] == "EU checkout outage"


async def test_declare_form_from_the_compose_box_starts_empty(harness):
    status, body = await harness.post(invoke(harness, "fetchTask", "createIncident", context="compose"))
    fields = inputs(task_card(status, body))
    assert fields["title"]["value"] == "" and fields["description"]["value"] == ""


async def test_declare_from_a_message_declares_posts_the_card_and_records_the_description(harness):
    data = {"id": "submitButton", "title": "Checkout API 5xx for EU", "severity": "sev2",
            "service": "azure-api", "description": TEXT}
    status, body = await harness.post(invoke(harness, "submitAction", "createIncident", data=data,
                                             payload=message_payload()))
    card = task_card(status, body)
    assert "INC-1 declared: Checkout API 5xx for EU" in words(card)
    assert "posted in this conversation" in words(card)
    inc = await harness.incident(1)
    assert (inc.title, inc.severity, inc.status, inc.service_id) == ("Checkout API 5xx for EU", "sev2", "declared", "azure-api")
    assert (inc.declared_by_aad, inc.declared_by_name, inc.description) == (BOB[0], "Bob Smith", TEXT)
    assert (inc.tenant_id, inc.home_conversation_id) == (TENANT, CHANNEL_ID)
    assert (await harness.service.view(1)).holder("incident_manager").display_name == "Bob Smith"
    events = await harness.timeline(1)
    # sev2 for azure-api pages through the service's escalation policy (the tick pages alongside)
    assert [e.kind for e in events if e.kind not in ("page", "page_delivery")] == [
        "declared", "note", "role_assigned", "escalation"]
    assert (events[1].text, events[1].source, events[1].actor_name) == (TEXT, "message_action", "Bob Smith")
    # the living card went to the conversation the action was used in, as the declare command does
    [living] = harness.cards()
    assert "INC-1: Checkout API 5xx for EU" in words(living) and "DECLARED" in words(living)
    post = harness.connector.find(method="POST", path=r"/activities")[-1]
    assert CHANNEL_ID in post.path
    await harness.say("timeline INC-1")
    assert TEXT.splitlines()[0] in words(harness.cards()[-1])


async def test_the_shared_submit_fixture_declares_as_is(harness):
    status, body = await harness.post(harness.activity(SUBMIT))
    assert "INC-1 declared: Checkout API 5xx spike" in words(task_card(status, body))
    inc = await harness.incident(1)
    assert (inc.title, inc.severity, inc.description) == ("Checkout API 5xx spike", "sev2", "")  # "SEV2" matched
    assert [e.kind for e in await harness.timeline(1)] == ["declared", "role_assigned"]
    assert len(harness.cards()) == 1


async def test_declaring_with_an_incidents_channel_links_to_the_new_space(harness):
    await harness.bind_incidents_channel()
    status, body = await harness.post(invoke(harness, "submitAction", "createIncident", payload=message_payload(),
                                             data={"title": "Scheduling down", "severity": "sev3"}))
    card = task_card(status, body)
    inc = await harness.incident(1)
    assert inc.space_kind == "thread" and inc.space_url
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Open the incident", "url": inc.space_url}]
    assert "a thread in the incidents channel" in words(card)


async def test_if_the_card_cannot_be_posted_the_incident_is_kept_and_named(harness, connector):
    connector.fail_next(r"/activities", 403, method="POST")
    status, body = await harness.post(invoke(harness, "submitAction", "createIncident",
                                             data={"title": "Flows failing", "severity": "sev3"}))
    card = task_card(status, body)
    assert "INC-1 declared: Flows failing" in words(card) and "status INC-1" in words(card)
    assert (await harness.incident(1)).title == "Flows failing"


async def test_the_same_declare_delivered_twice_declares_once(harness, clock):
    body = invoke(harness, "submitAction", "createIncident", data={"title": "Twice", "severity": "sev3"},
                  activity_id="same-invoke")
    first = task_card(*await harness.post(body))
    again = task_card(*await harness.post(body))
    assert "INC-1 declared: Twice" in words(first) and "INC-1 declared: Twice" in words(again)
    # Teams retries an unanswered submit, possibly with a new activity id
    clock.advance(seconds=20)
    retry = invoke(harness, "submitAction", "createIncident", data={"title": "Twice", "severity": "sev3"})
    assert "INC-1" in words(task_card(*await harness.post(retry)))
    assert await harness.open_count() == 1 and len(harness.cards()) == 1


# -- Add to incident timeline ------------------------------------------------------------------


async def test_add_to_timeline_form_lists_open_incidents_and_previews_the_message(harness):
    await declare_from_message(harness, "Checkout errors", "sev2")
    await declare_from_message(harness, "Old outage", "sev4")
    await declare_from_message(harness, "Sync lag", "sev3", conversation_id="19:other@thread.skype")
    await harness.say("resolve INC-2", user=BOB)
    assert (await harness.incident(2)).status == "resolved"
    await harness.say("declare Elsewhere sev1")  # the playground's tenant: another organisation
    status, body = await harness.post(invoke(harness, "fetchTask", "addToTimeline", payload=message_payload()))
    card = task_card(status, body)
    picker = inputs(card)["incident_id"]
    assert picker["choices"] == [{"title": "INC-3 · SEV3 · Sync lag", "value": "3"},
                                 {"title": "INC-1 · SEV2 · Checkout errors", "value": "1"}]
    assert picker["value"] == "1"  # the one open incident living in this conversation
    quote = next(item for item in card["body"] if item["type"] == "Container")["items"]
    assert quote[0]["text"] == "**Megan Bowen** · 2026-11-29 05:59 PST"  # the viewer's zone (America/Los_Angeles)
    assert quote[1]["text"] == TEXT and LINK in quote[2]["text"]
    assert card["actions"][0]["data"]["message"] == {"text": TEXT, "author": "Megan Bowen", "link": LINK,
                                                     "id": MESSAGE_ID}


async def test_add_to_timeline_without_open_incidents_says_how_to_declare(harness):
    status, body = await harness.post(invoke(harness, "fetchTask", "addToTimeline", payload=message_payload()))
    card = task_card(status, body)
    assert "There are no open incidents" in words(card) and "Declare incident" in words(card)
    assert "incident_id" not in inputs(card)


async def test_add_to_timeline_records_text_author_and_link(harness):
    await declare_from_message(harness, "Checkout errors")
    cards_before, updates_before = len(harness.cards()), len(harness.updates())
    status, body = await harness.post(invoke(harness, "submitAction", "addToTimeline", payload=message_payload(),
                                             data={"id": "submitButton", "incident_id": "1"}))
    assert "Megan Bowen's message is on the timeline of INC-1: Checkout errors" in words(task_card(status, body))
    event = (await harness.timeline(1))[-1]
    assert (event.kind, event.text, event.old_value, event.new_value) == ("message", TEXT, "Megan Bowen", LINK)
    assert (event.actor_name, event.actor_aad, event.source) == ("Bob Smith", BOB[0], "message_action")
    # like a note: nothing is posted and the living card is left alone
    assert (len(harness.cards()), len(harness.updates())) == (cards_before, updates_before)
    await harness.say("timeline INC-1")
    listed = words(harness.cards()[-1])
    assert "Message from Megan Bowen: Checkout API is returning 5xx" in listed and LINK in listed
    assert "(message_action)" in listed


async def test_a_submit_without_message_payload_uses_what_the_form_carried(harness):
    await declare_from_message(harness, "Checkout errors")
    status, body = await harness.post(invoke(harness, "fetchTask", "addToTimeline", payload=message_payload()))
    form = task_card(status, body)
    data = {**form["actions"][0]["data"], "incident_id": "1"}  # Teams merges the inputs into the button's data
    status, body = await harness.post(invoke(harness, "submitAction", "addToTimeline", data=data))
    task_card(status, body)
    event = (await harness.timeline(1))[-1]
    assert (event.kind, event.text, event.old_value, event.new_value) == ("message", TEXT, "Megan Bowen", LINK)


async def test_the_same_add_delivered_twice_records_once(harness, clock):
    await declare_from_message(harness, "Checkout errors")
    body = invoke(harness, "submitAction", "addToTimeline", payload=message_payload(),
                  data={"incident_id": "1"}, activity_id="add-once")
    await harness.post(body)
    status, again = await harness.post(body)
    assert "is on the timeline of INC-1" in words(task_card(status, again))
    clock.advance(seconds=30)
    await harness.post(invoke(harness, "submitAction", "addToTimeline", payload=message_payload(),
                              data={"incident_id": "1"}))  # Teams' retry with a new id
    assert [e.kind for e in await harness.timeline(1)].count("message") == 1
    clock.advance(seconds=61)  # a minute on, adding it again is deliberate
    await harness.post(invoke(harness, "submitAction", "addToTimeline", payload=message_payload(),
                              data={"incident_id": "1"}))
    assert [e.kind for e in await harness.timeline(1)].count("message") == 2


# -- Bad input changes nothing ---------------------------------------------------------------


@pytest.mark.parametrize(("data", "error"), [
    ({"title": "   ", "severity": "sev2"}, "Give the incident a title."),
    ({"title": "Checkout down"}, "Pick a severity."),
    ({"title": "Checkout down", "severity": "SEV9"}, "'sev9' is not a severity in the response plan; pick one of sev1, sev2, sev3, sev4."),
    ({"title": "Checkout down", "severity": "sev2", "service": "billing"}, "'billing' is not a service in the response plan"),
    ({"title": "x" * 201, "severity": "sev2"}, "The title is 201 characters; keep it under 200."),
    ({"title": "Checkout down", "severity": "sev2", "description": "y" * 4001}, "The description is 4001 characters"),
])
async def test_a_bad_declare_form_comes_back_with_the_reason_and_changes_nothing(harness, data, error):
    await declare_from_message(harness, "Existing incident")
    before, posted = await snapshot(harness), len(harness.sent())
    status, body = await harness.post(invoke(harness, "submitAction", "createIncident", payload=message_payload(),
                                             data={"id": "submitButton", **data}))
    card = task_card(status, body)
    assert card["body"][0]["text"].startswith(error) and card["body"][0]["color"] == "Attention"
    assert inputs(card)["title"]["value"] == " ".join(data["title"].split())  # what they typed is kept
    assert await snapshot(harness) == before and len(harness.sent()) == posted


@pytest.mark.parametrize(("incident", "error"), [
    (None, "Pick the incident to add the message to."),
    ("", "Pick the incident to add the message to."),
    ("abc", "'abc' is not an incident id; write it like INC-7."),
    ("99", "There is no INC-99."),
    ("2", "INC-2 was resolved, so its timeline takes no more messages here; `reopen INC-2` first"),
    ("3", "Sorry Bob Smith, INC-3 belongs to another organisation; only its own people may add to the timeline of it."),
])
async def test_a_bad_add_to_timeline_comes_back_with_the_reason_and_changes_nothing(harness, incident, error):
    await declare_from_message(harness, "Open one")
    await declare_from_message(harness, "Closed one")
    await harness.say("resolve INC-2", user=BOB)
    await harness.say("declare Another organisation's sev2")  # the playground's tenant
    before, posted = await snapshot(harness), len(harness.sent())
    data = {"id": "submitButton"} if incident is None else {"id": "submitButton", "incident_id": incident}
    status, body = await harness.post(invoke(harness, "submitAction", "addToTimeline", payload=message_payload(),
                                             data=data))
    card = task_card(status, body)
    assert card["body"][0]["text"].startswith(error) and card["body"][0]["color"] == "Attention"
    assert [c["value"] for c in inputs(card)["incident_id"]["choices"]] == ["1"]  # the form again, open ones only
    assert await snapshot(harness) == before and len(harness.sent()) == posted


async def test_a_message_action_nobody_knows_changes_nothing(harness):
    """The docs' own submitAction sample (command `giveKudos`, no `type`), made an invoke."""
    body = harness.activity(DOCS_SUBMIT)
    assert "type" not in json.loads((FIXTURES / "teams" / DOCS_SUBMIT).read_text())
    status, _ = await harness.post(body)
    assert status == 400  # not an activity without its type
    composed = harness.activity(SUBMIT)
    body.update(type="invoke", channelId="msteams", **{k: composed[k] for k in ("from", "recipient", "channelData")})
    body["conversation"]["tenantId"] = TENANT
    before = await snapshot(harness)
    status, answer = await harness.post(body)
    assert "does not know the action 'giveKudos'" in words(task_card(status, answer))
    assert await snapshot(harness) == before and harness.sent() == []


async def test_the_docs_sample_with_our_command_adds_to_the_timeline(harness):
    await declare_from_message(harness, "Checkout errors")
    body = harness.activity(DOCS_SUBMIT)
    composed = harness.activity(SUBMIT)
    body.update(type="invoke", channelId="msteams", **{k: composed[k] for k in ("from", "recipient", "channelData")})
    body["value"].update(commandId="addToTimeline", commandContext="message", messagePayload=message_payload())
    body["value"]["data"]["incident_id"] = "INC-1"
    task_card(*await harness.post(body))
    assert (await harness.timeline(1))[-1].old_value == "Megan Bowen"


async def test_the_personal_chat_declare_command_still_works_beside_message_actions(harness):
    await harness.say("declare Payments API down sev1", PERSONAL)
    assert (await harness.incident(1)).title == "Payments API down"
