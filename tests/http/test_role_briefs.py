"""Someone given a role by another person is told in a 1:1 chat: the card and the role's duties."""
import asyncio

from tests.http.harness import GROUP
from tests.support import assert_valid_card

LARRY_TEAMS_ID = "29:1GcS4EyB_oSI8A88XmWBN7NJFyMqe3QGnJdgLfFGkJnVelzRGos0bPbpsfJjcbAD22bmKc4GMbrY2g4JDrrA8vM06X1-cHHle4zOE6U4ttcc"
LARRY_AAD = "9d3e08f9-a7ae-43aa-a4d3-de3f319a8a9c"  # what the roster answers for him (docs-GET-member.json)


async def _until(predicate, timeout=5.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "timed out waiting for the outbox"
        await asyncio.sleep(0.05)


def _assign(harness, role: str) -> dict:
    body = harness.activity(GROUP, text=f"assign {role} <at>Larry Brown</at>")
    body["entities"].append({"type": "mention", "mentioned": {"id": LARRY_TEAMS_ID, "name": "Larry Brown"},
                             "text": "<at>Larry Brown</at>"})
    return body


async def test_the_assignee_gets_a_1to1_brief_and_the_chat_is_reused(harness, connector):
    await harness.say("declare Flows failing sev2", GROUP)
    await harness.post(_assign(harness, "comms"))
    creates = lambda: [r for r in connector.find(method="POST", path=r"^/v3/conversations$")  # noqa: E731
                       if not (r.json.get("channelData") or {}).get("channel")]
    await _until(lambda: len(creates()) == 1)
    assert creates()[0].json["members"] == [{"id": LARRY_AAD}] and creates()[0].json["isGroup"] is False
    personal = lambda: connector.find(method="POST", path=r"^/v3/conversations/a:fake-conversation-[^/]+/activities$")  # noqa: E731
    await _until(lambda: len(personal()) == 1)
    brief = personal()[0].json
    assert "You are now **comms lead** of INC-1" in brief["text"]
    assert "What the comms lead does:" in brief["text"]
    card = brief["attachments"][0]["content"]
    assert_valid_card(card)
    assert "INC-1: Flows failing" in str(card)

    await harness.post(_assign(harness, "scribe"))
    await _until(lambda: len(personal()) == 2)
    assert len(creates()) == 1, "the 1:1 chat is created once and reused"


async def test_taking_a_role_yourself_sends_no_brief(harness, connector):
    await harness.say("declare Self service sev3", GROUP)
    await harness.say("assign comms me", GROUP)
    await asyncio.sleep(0.3)
    assert not [r for r in connector.find(method="POST", path=r"^/v3/conversations$")]
