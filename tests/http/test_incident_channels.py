"""A channel of its own for sev1/sev2 incidents, through (a fake) Microsoft Graph, and every way
that can fail: the incident is always declared, falls back to a thread, says why once and
records it; retries honour Retry-After and never make a second channel."""
import asyncio
import time

import aiohttp
import pytest

from bot.config import Settings
from bot.plan import load_plan
from bot.plan_model import OverflowTeam, Spaces
from bot.teams.graph import GraphClient
from bot.teams.incident_channels import IncidentChannels, Team, incident_channels_for
from tests.fakes.graph import FakeGraph
from tests.http.harness import CHANNEL, GROUP, start_harness
from tests.support import ROOT

PLAN = ROOT / "plans" / "example.yaml"


@pytest.fixture
async def graph():
    async with FakeGraph() as fake:
        fake.add_team("group-1", channels=["General", "Incidents"])
        yield fake


@pytest.fixture
async def harness(tmp_path, connector, clock, graph):
    h = await start_harness(tmp_path / "fb.db", connector, clock, graph_token_provider=graph.token_provider,
                            FIREBREAK_GRAPH_URL=graph.url, FIREBREAK_GRAPH_BUDGET=3)
    await h.bind_incidents_channel()
    yield h
    await h.client.close()


def _names(graph, team="group-1"):
    return [c["displayName"] for c in graph.channels(team)]


async def _space_events(harness, incident_id=1):
    return [e for e in await harness.timeline(incident_id) if e.kind == "space"]


async def test_sev1_gets_its_own_channel_with_the_card_first(harness, connector, graph):
    await harness.say("declare Payments API down sev1", GROUP)
    assert _names(graph) == ["General", "Incidents", "inc-1-payments-api-down"]
    channel = graph.channels("group-1")[-1]
    [post] = connector.find(method="POST", path=r"^/v3/conversations$")
    assert post.json["channelData"]["channel"]["id"] == channel["id"]
    assert "INC-1: Payments API down" in str(post.json["activity"]["attachments"][0]["content"])
    inc = await harness.incident(1)
    assert (inc.space_kind, inc.home_conversation_id, inc.space_url) == ("channel", channel["id"], channel["webUrl"])
    told = harness.texts()[-1]
    assert "its own channel #inc-1-payments-api-down in My Team" in told and channel["webUrl"] in told
    [event] = await _space_events(harness)
    assert event.new_value == "channel" and "#inc-1-payments-api-down" in event.text
    # the Graph calls: lookup first, then create, with the app's token
    assert [(r.method, r.status) for r in graph.requests] == [("GET", 200), ("GET", 200), ("POST", 201)]
    assert graph.requests[-1].json["description"].startswith("INC-1: Payments API down (sev1)")

    # a command in any thread of the channel applies to the incident
    await harness.say("ack", CHANNEL, conversation_id=f"{channel['id']};messageid=777")
    assert (await harness.incident(1)).status == "acknowledged"


async def test_sev3_still_gets_a_thread_and_graph_is_not_called(harness, graph):
    await harness.say("declare Report export slow sev3", GROUP)
    assert (await harness.incident(1)).space_kind == "thread"
    assert graph.requests == []


async def test_a_short_retry_after_is_honoured_and_one_channel_is_made(harness, graph):
    graph.fail_next(r"/channels$", 429, headers={"Retry-After": "1"}, method="POST")
    started = time.monotonic()
    await harness.say("declare Payments API down sev1", GROUP)
    assert time.monotonic() - started >= 1.0  # it waited as Graph asked
    assert _names(graph).count("inc-1-payments-api-down") == 1
    assert [r.status for r in graph.find(method="POST")] == [429, 201]
    assert (await harness.incident(1)).space_kind == "channel"


async def test_a_long_retry_after_falls_back_to_a_thread_at_once(harness, graph):
    graph.fail_next(r"/channels$", 429, headers={"Retry-After": "120"}, method="POST")
    started = time.monotonic()
    await harness.say("declare Payments API down sev1", GROUP)
    assert time.monotonic() - started < 3  # never waits past the budget
    inc = await harness.incident(1)
    assert inc.space_kind == "thread" and inc.home_conversation_id.startswith("team-id;messageid=")
    assert _names(graph) == ["General", "Incidents"]
    told = harness.texts()[-1]
    assert "INC-1 declared" in told and "throttling" in told and "thread in #Incidents" in told
    [event] = await _space_events(harness)
    assert "throttling" in event.text and event.new_value == "thread"


async def test_forbidden_without_consent_names_the_permission(harness, graph):
    graph.fail_next(r"/channels$", 403, method="POST")
    await harness.say("declare Payments API down sev1", GROUP)
    assert (await harness.incident(1)).space_kind == "thread"
    told = harness.texts()[-1]
    assert "refused to create the channel" in told and "Channel.Create.Group" in told
    assert sum("Channel.Create.Group" in t for t in harness.texts()) == 1  # said once


async def test_a_name_held_by_a_deleted_channel_gets_a_suffix(harness, graph):
    graph.add_team("group-1", channels=["General", "inc-1-payments-api-down"])
    graph.delete_channel("group-1", "inc-1-payments-api-down")
    await harness.say("declare Payments API down sev1", GROUP)
    assert _names(graph) == ["General", "inc-1-payments-api-down-2"]
    assert [r.status for r in graph.find(method="POST")] == [409, 201]
    assert (await harness.incident(1)).space_kind == "channel"


async def test_graph_timing_out_falls_back_within_the_budget(harness, graph):
    graph.delay_next(r"/channels$", 30.0, method="POST")
    started = time.monotonic()
    await harness.say("declare Payments API down sev1", GROUP)
    assert time.monotonic() - started < 5
    assert (await harness.incident(1)).space_kind == "thread"
    assert "did not answer" in harness.texts()[-1]


async def test_a_team_at_its_channel_cap_falls_back(harness, graph):
    graph.add_team("group-1", channels=["General", "Incidents"], max_channels=2)
    await harness.say("declare Payments API down sev1", GROUP)
    assert (await harness.incident(1)).space_kind == "thread"
    assert "limit of 1,000 channels" in harness.texts()[-1]


async def test_the_new_channel_refusing_the_card_falls_back_to_a_thread(harness, connector, graph):
    connector.fail_next(r"^/v3/conversations$", 403, method="POST")
    await harness.say("declare Payments API down sev1", GROUP)
    inc = await harness.incident(1)
    assert inc.space_kind == "thread" and inc.home_conversation_id.startswith("team-id;messageid=")
    assert "was created in My Team, but I could not post in it" in harness.texts()[-1]


async def test_without_credentials_graph_is_not_configured(tmp_path, connector, clock):
    h = await start_harness(tmp_path / "fb.db", connector, clock)
    try:
        await h.bind_incidents_channel()
        await h.say("declare Payments API down sev1", GROUP)
        assert (await h.incident(1)).space_kind == "thread"
        assert "Microsoft Graph is not configured" in h.texts()[-1]
    finally:
        await h.client.close()


async def test_graph_off_wins_over_a_token_source(tmp_path, connector, clock, graph):
    h = await start_harness(tmp_path / "fb.db", connector, clock, graph_token_provider=graph.token_provider,
                            FIREBREAK_GRAPH_URL=graph.url, FIREBREAK_GRAPH="off")
    try:
        await h.bind_incidents_channel()
        await h.say("declare Payments API down sev1", GROUP)
        assert (await h.incident(1)).space_kind == "thread" and graph.requests == []
    finally:
        await h.client.close()


async def test_near_the_cap_admins_are_warned_and_the_overflow_team_is_used(tmp_path, connector, clock, graph):
    plan = load_plan(PLAN)
    plan = plan.model_copy(update={"spaces": Spaces(channel_cap_warning=3,
                                                    overflow_team=OverflowTeam(id="group-2", name="Overflow"))})
    graph.add_team("group-1", channels=["General", "Incidents", "inc-0-old"])
    graph.add_team("group-2", channels=["General"])
    h = await start_harness(tmp_path / "fb.db", connector, clock, plan=plan, graph_token_provider=graph.token_provider,
                            FIREBREAK_GRAPH_URL=graph.url)
    try:
        await h.bind_incidents_channel()
        await h.say("declare Payments API down sev1", GROUP)
        assert _names(graph, "group-2") == ["General", "inc-1-payments-api-down"]
        assert _names(graph, "group-1") == ["General", "Incidents", "inc-0-old"]
        inc = await h.incident(1)
        assert inc.space_kind == "channel" and "in Overflow" in h.texts()[-1]
        [posted] = await _eventually(lambda: _warnings(connector))
        assert "lists 3 channels" in posted["text"] and "go to Overflow" in posted["text"]
        assert "<at>Aisha Patel</at>" in posted["text"]
        assert posted["entities"][0]["mentioned"]["id"] == "aad-aisha"
        assert [e.kind for e in await h.timeline(1)].count("space_warning") == 1

        # a second incident the same day: the incident notes it, the channel is not warned again
        await h.say("declare Checkout errors sev1", GROUP)
        await asyncio.sleep(0.3)
        assert len(_warnings(connector)) == 1
        assert [e.kind for e in await h.timeline(2)].count("space_warning") == 1
    finally:
        await h.client.close()


def _warnings(connector):
    """Warnings posted in the incidents channel ("team-id", General of My Team) as new threads."""
    return [r.json["activity"] for r in connector.find(method="POST", path=r"^/v3/conversations$")
            if r.json["channelData"]["channel"]["id"] == "team-id"
            and "Heads-up for the admins" in (r.json["activity"].get("text") or "")]


async def _eventually(probe, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError("not seen in time")


async def test_concurrent_attempts_and_a_second_replica_never_make_two_channels(graph):
    async with aiohttp.ClientSession() as session:
        def replica() -> IncidentChannels:
            client = GraphClient(base_url=graph.url, token_provider=graph.token_provider,
                                 session_provider=lambda: session, timeout_s=5)
            return IncidentChannels(graph=client, budget_s=5)

        this_process, other_replica = replica(), replica()
        graph.delay_next(r"/channels$", 0.3, method="POST")  # the first create is slow: the others see no channel
        home = Team("group-1", "My Team")
        results = await asyncio.gather(*(
            opener.open(number=7, title="Payments API down", description="INC-7", home=home, spaces=Spaces())
            for opener in (this_process, this_process, other_replica)))
    assert len({r.channel.id for r in results}) == 1
    assert _names(graph).count("inc-7-payments-api-down") == 1
    # the race really happened: the slow create lost to the other replica and found its channel
    assert sorted(r.status for r in graph.find(method="POST")) == [201, 409]


def test_graph_is_used_only_with_credentials_or_an_injected_token_source():
    def settings(**extra):
        return Settings(FIREBREAK_DEV=True, **extra)

    creds = {"MICROSOFT_APP_ID": "a" * 8, "MICROSOFT_APP_PASSWORD": "s", "MICROSOFT_APP_TENANT_ID": "t"}
    session = lambda: None  # noqa: E731 - never called here
    assert not incident_channels_for(settings(), session_provider=session).ready
    assert incident_channels_for(settings(**creds), session_provider=session).ready
    assert not incident_channels_for(settings(**creds, FIREBREAK_GRAPH="off"), session_provider=session).ready
    assert incident_channels_for(settings(), session_provider=session, token_provider=FakeGraph().token_provider).ready
