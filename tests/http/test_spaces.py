"""A space per incident: a new thread in the incidents channel, starting with the living card;
commands in the thread apply to it; if the channel refuses, the incident stays in the chat."""
from tests.http.harness import CHANNEL, GROUP
from tests.support import assert_valid_card

async def test_declare_opens_a_thread_in_the_incidents_channel_with_the_card(harness, connector):
    await harness.bind_incidents_channel()
    await harness.say("declare Payments API down sev1", GROUP)
    # the card is the first message of a new post in the incidents channel (Teams' create
    # conversation with channelData.channel), not a reply to something
    [new_post] = connector.find(method="POST", path=r"^/v3/conversations$")
    assert new_post.json["channelData"]["channel"]["id"] == "team-id" and new_post.json["isGroup"] is True
    card = new_post.json["activity"]["attachments"][0]["content"]
    assert_valid_card(card)
    assert "INC-1: Payments API down" in str(card)
    inc = await harness.incident(1)
    assert inc.space_kind == "thread" and inc.home_conversation_id.startswith("team-id;messageid=")
    root = inc.home_conversation_id.split(";messageid=")[1]
    assert inc.space_url.startswith(f"https://teams.microsoft.com/l/message/team-id/{root}?")
    assert "groupId=group-1" in inc.space_url
    # the declarer is told where, with the deep link; sev1 wants a channel, Graph is not set up
    told = harness.texts()[-1]
    assert "INC-1 declared" in told and inc.space_url in told and "Microsoft Graph is not configured" in told
    space_event = [e for e in await harness.timeline(1) if e.kind == "space"]
    assert len(space_event) == 1 and "thread in #Incidents" in space_event[0].text

    # a command typed in the thread applies to its incident, and the card there is updated
    await harness.say("ack", CHANNEL, conversation_id=inc.home_conversation_id)
    assert (await harness.incident(1)).status == "acknowledged"
    puts = connector.find(method="PUT")
    assert len(puts) == 1 and puts[0].path.endswith(f"/activities/{root}")


async def test_if_the_channel_refuses_the_incident_stays_in_the_chat_and_says_why(harness, connector):
    await harness.bind_incidents_channel()
    connector.fail_next(r"^/v3/conversations$", 403, method="POST")
    await harness.say("declare Sync lag sev3", GROUP)
    inc = await harness.incident(1)
    assert inc.space_kind == "chat" and not inc.home_conversation_id.startswith("team-id")
    assert "INC-1: Sync lag" in str(harness.cards()[-1])  # the card is here instead
    told = harness.texts()[-1]
    assert "could not post in the incidents channel" in told and "403" in told and "stays in this chat" in told
    assert [e.kind for e in await harness.timeline(1)][-1] == "space"
    await harness.say("note still here", GROUP)
    assert (await harness.timeline(1))[-1].text == "still here"


async def test_without_an_incidents_channel_the_incident_lives_in_the_chat(harness):
    await harness.say("declare Local only sev2", GROUP)
    inc = await harness.incident(1)
    assert inc.space_kind == "chat" and "space" not in [e.kind for e in await harness.timeline(1)]


async def test_a_throttled_thread_post_is_retried_after_retry_after(harness, connector):
    await harness.bind_incidents_channel()
    connector.fail_next(r"^/v3/conversations$", 429, headers={"Retry-After": "1"}, method="POST")
    await harness.say("declare Sync lag sev3", GROUP)
    assert [r.status for r in _channel_posts(connector)] == [429, 201]
    assert (await harness.incident(1)).space_kind == "thread"


async def test_a_long_throttle_keeps_the_incident_in_the_chat_and_says_why(harness, connector):
    await harness.bind_incidents_channel()
    connector.fail_next(r"^/v3/conversations$", 429, headers={"Retry-After": "60"}, method="POST")
    await harness.say("declare Sync lag sev3", GROUP)
    assert len(_channel_posts(connector)) == 1  # no waiting a minute
    assert (await harness.incident(1)).space_kind == "chat"
    assert "throttling posts there (429)" in harness.texts()[-1]


def _channel_posts(connector):
    """New posts in a channel (not 1:1 chats the tick may open for on-call digests)."""
    return [r for r in connector.find(method="POST", path=r"^/v3/conversations$")
            if (r.json.get("channelData") or {}).get("channel")]
