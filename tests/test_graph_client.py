"""GraphClient against a fake Microsoft Graph on loopback, and the MSAL token provider."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import aiohttp
import pytest

from bot.domain.channel_names import incident_channel_name, unique_suffix
from bot.teams.graph import (
    GRAPH_SCOPE,
    GraphChannel,
    GraphChannelLimit,
    GraphClient,
    GraphConflict,
    GraphError,
    GraphForbidden,
    GraphNotConfigured,
    GraphThrottled,
    GraphUnavailable,
    parse_retry_after,
)
from bot.teams.graph_auth import msal_token_provider
from tests.fakes.graph import FakeGraph, graph_error

TEAM = "0b1c7a6e-8f0e-4b52-9a3c-5b7f1f2d9e11"
NAME = "inc-7-payments-api-down"


@pytest.fixture
async def graph():
    async with FakeGraph() as g:
        g.add_team(TEAM, channels=["General"])
        yield g


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


def client_for(g: FakeGraph, session: aiohttp.ClientSession, **kwargs: Any) -> GraphClient:
    kwargs.setdefault("token_provider", g.token_provider)
    return GraphClient(base_url=g.url, session_provider=lambda: session, **kwargs)


# -- happy paths ----------------------------------------------------------------------------------


async def test_create_channel_returns_the_new_channel(graph, session):
    channel = await client_for(graph, session).create_channel(
        team_id=TEAM, display_name=NAME, description="Payments API is down"
    )

    assert channel.display_name == NAME
    assert channel.id.startswith("19:") and channel.id.endswith("@thread.tacv2")
    assert channel.web_url.startswith("https://teams.microsoft.com/l/channel/")
    assert [c["id"] for c in graph.channels(TEAM) if c["displayName"] == NAME] == [channel.id]
    [post] = graph.find(method="POST")
    assert post.path == f"/v1.0/teams/{TEAM}/channels"
    assert post.json == {
        "displayName": NAME,
        "description": "Payments API is down",
        "membershipType": "standard",
    }
    assert post.headers["Authorization"] == f"Bearer {graph.token}"
    assert post.status == 201


async def test_find_channel_by_name(graph, session):
    client = client_for(graph, session)
    general = next(c for c in graph.channels(TEAM) if c["displayName"] == "General")

    found = await client.find_channel(team_id=TEAM, display_name="General")
    assert found == GraphChannel(
        id=general["id"], display_name="General", web_url=general["webUrl"]
    )
    assert graph.requests[-1].query["$filter"] == "displayName eq 'General'"
    assert (
        await client.find_channel(team_id=TEAM, display_name="general")
    ) == found  # Teams names ignore case
    assert await client.find_channel(team_id=TEAM, display_name=NAME) is None


async def test_find_channel_escapes_quotes_in_the_filter(graph, session):
    graph.add_team("team-q", channels=["Bob's room", "Bob"])
    found = await client_for(graph, session).find_channel(
        team_id="team-q", display_name="Bob's room"
    )
    assert found is not None and found.display_name == "Bob's room"
    assert graph.requests[-1].query["$filter"] == "displayName eq 'Bob''s room'"


async def test_ensure_channel_is_idempotent(graph, session):
    client = client_for(graph, session)
    first = await client.ensure_channel(team_id=TEAM, display_name=NAME, description="d")
    second = await client.ensure_channel(team_id=TEAM, display_name=NAME, description="d")

    assert first == second
    assert [c["displayName"] for c in graph.channels(TEAM)].count(NAME) == 1
    assert len(graph.find(method="POST")) == 1


async def test_concurrent_ensure_channel_makes_exactly_one_channel(graph, session):
    client = client_for(graph, session)
    # Hold both look-ups until both callers have asked, so both go on to create.
    graph.delay_next(r"/channels$", 0.3, method="GET", times=2)

    a, b = await asyncio.gather(
        client.ensure_channel(team_id=TEAM, display_name=NAME, description="d"),
        client.ensure_channel(team_id=TEAM, display_name=NAME, description="d"),
    )

    assert a == b
    assert [c["displayName"] for c in graph.channels(TEAM)].count(NAME) == 1
    # the race really happened: one create won, the other was refused and looked the winner up
    assert sorted(r.status for r in graph.find(method="POST")) == [201, 409]
    assert len(graph.find(method="GET")) == 3  # two look-ups, then the loser's second one


async def test_ensure_channel_reports_a_name_held_by_a_deleted_channel(graph, session):
    name = incident_channel_name(7, "Payments API down")
    graph.add_team(TEAM, channels=["General", name])
    graph.delete_channel(TEAM, name)
    client = client_for(graph, session)

    with pytest.raises(GraphConflict, match="deleted"):
        await client.ensure_channel(team_id=TEAM, display_name=name, description="d")

    channel = await client.ensure_channel(
        team_id=TEAM, display_name=unique_suffix(name, 2), description="d"
    )
    assert channel.display_name == "inc-7-payments-api-down-2"


async def test_count_channels(graph, session):
    graph.add_team("team-3", channels=["General", "a", "b"])
    assert await client_for(graph, session).count_channels(team_id="team-3") == 3


async def test_count_channels_follows_next_links_and_skips_deleted_ones(session):
    async with FakeGraph(page_size=2) as g:
        g.add_team(TEAM, channels=["General", "a", "b", "c", "d", "e"])
        g.delete_channel(TEAM, "e")
        assert await client_for(g, session).count_channels(team_id=TEAM) == 5
        assert len(g.find(method="GET")) == 3


async def test_a_next_link_to_another_host_is_not_followed(graph, session):
    graph.script(
        r"/channels$",
        status=200,
        method="GET",
        body={
            "value": [],
            "@odata.nextLink": "https://attacker.example/v1.0/teams/x/channels?$skiptoken=1",
        },
    )
    with pytest.raises(GraphUnavailable, match="outside"):
        await client_for(graph, session).count_channels(team_id=TEAM)
    assert len(graph.requests) == 1


# -- failures -------------------------------------------------------------------------------------


async def test_429_raises_throttled_with_retry_after(graph, session):
    graph.fail_next(r"/channels$", 429, headers={"Retry-After": "7"}, method="POST")

    with pytest.raises(GraphThrottled) as caught:
        await client_for(graph, session).create_channel(
            team_id=TEAM, display_name=NAME, description="d"
        )

    assert caught.value.retry_after_s == 7.0
    assert caught.value.status == 429
    assert len(graph.requests) == 1  # no hidden retry
    assert graph.channels(TEAM)[-1]["displayName"] == "General"


async def test_429_without_retry_after_says_so(graph, session):
    graph.fail_next(r"/channels$", 429, method="GET")
    with pytest.raises(GraphThrottled) as caught:
        await client_for(graph, session).find_channel(team_id=TEAM, display_name=NAME)
    assert caught.value.retry_after_s is None


def test_parse_retry_after():
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    assert 100 < parse_retry_after(later) <= 120


async def test_403_on_create_names_the_missing_permission(graph, session):
    graph.fail_next(r"/channels$", 403, method="POST")
    with pytest.raises(GraphForbidden, match="Channel.Create.Group") as caught:
        await client_for(graph, session).create_channel(
            team_id=TEAM, display_name=NAME, description="d"
        )
    assert not isinstance(caught.value, GraphChannelLimit)


async def test_403_on_list_names_the_read_permission(graph, session):
    graph.fail_next(r"/channels$", 403, method="GET")
    with pytest.raises(GraphForbidden, match="ChannelSettings.Read.Group"):
        await client_for(graph, session).find_channel(team_id=TEAM, display_name=NAME)


async def test_a_full_team_raises_channel_limit(graph, session):
    graph.add_team("full", channels=["General", "a", "b"], max_channels=3)
    graph.delete_channel("full", "b")  # deleted channels still count for 30 days
    with pytest.raises(GraphChannelLimit, match="1,000") as caught:
        await client_for(graph, session).ensure_channel(
            team_id="full", display_name=NAME, description="d"
        )
    assert isinstance(caught.value, GraphForbidden)
    assert graph.find(method="POST")[0].status == 403


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_raises_unavailable(graph, session, status):
    graph.fail_next(r"/channels$", status, headers={"Retry-After": "3"})
    with pytest.raises(GraphUnavailable) as caught:
        await client_for(graph, session).create_channel(
            team_id=TEAM, display_name=NAME, description="d"
        )
    assert caught.value.status == status
    assert caught.value.retry_after_s == 3.0
    assert len(graph.requests) == 1


async def test_a_hung_graph_raises_unavailable_within_the_timeout(graph, session):
    graph.delay_next(r"/channels$", 10.0)
    started = time.monotonic()
    with pytest.raises(GraphUnavailable, match="within"):
        await client_for(graph, session, timeout_s=0.3).find_channel(
            team_id=TEAM, display_name=NAME
        )
    assert time.monotonic() - started < 2.0


async def test_a_hung_token_provider_is_bounded_by_the_timeout_too(graph, session):
    async def never() -> str:
        await asyncio.sleep(10)
        return "late"

    started = time.monotonic()
    with pytest.raises(GraphUnavailable):
        await client_for(graph, session, token_provider=never, timeout_s=0.2).count_channels(
            team_id=TEAM
        )
    assert time.monotonic() - started < 2.0
    assert graph.requests == []


async def test_an_unreachable_graph_raises_unavailable(session):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before we connect: refused
    client = GraphClient(
        base_url=f"http://127.0.0.1:{port}/v1.0",
        token_provider=_token("t"),
        session_provider=lambda: session,
        timeout_s=2,
    )
    with pytest.raises(GraphUnavailable, match="reach"):
        await client.find_channel(team_id=TEAM, display_name=NAME)


async def test_a_rejected_token_raises_not_configured(graph, session):
    with pytest.raises(GraphNotConfigured) as caught:
        await client_for(graph, session, token_provider=_token("expired")).find_channel(
            team_id=TEAM, display_name=NAME
        )
    assert caught.value.status == 401
    assert caught.value.code == "InvalidAuthenticationToken"
    assert "expired" not in str(caught.value)


async def test_no_token_means_no_request(graph, session):
    async def unconfigured() -> str:
        raise GraphNotConfigured("Graph is not configured: missing client secret.")

    with pytest.raises(GraphNotConfigured):
        await client_for(graph, session, token_provider=unconfigured).ensure_channel(
            team_id=TEAM, display_name=NAME, description="d"
        )
    assert graph.requests == []


async def test_a_duplicate_name_answered_as_400_is_a_conflict_too(graph, session):
    graph.fail_next(
        r"/channels$",
        400,
        method="POST",
        body=graph_error("BadRequest", "Channel name already existed, please use other name"),
    )
    with pytest.raises(GraphConflict):
        await client_for(graph, session).create_channel(
            team_id=TEAM, display_name=NAME, description="d"
        )


async def test_other_refusals_are_plain_graph_errors(graph, session):
    client = client_for(graph, session)
    with pytest.raises(GraphError) as bad_name:
        await client.create_channel(team_id=TEAM, display_name="a/b", description="d")
    assert type(bad_name.value) is GraphError and bad_name.value.status == 400
    with pytest.raises(GraphError) as no_team:
        await client.find_channel(team_id="no-such-team", display_name=NAME)
    assert type(no_team.value) is GraphError and no_team.value.status == 404


# -- MSAL token provider --------------------------------------------------------------------------

SECRET = "s3cr3t~Value.With-Chars"


class StubMsal:
    """Stands in for msal.ConfidentialClientApplication: records use, caches like MSAL does."""

    def __init__(self, *, results: list[Any] | None = None) -> None:
        self.built: list[dict[str, Any]] = []
        self.token_requests = 0
        self.threads: set[int] = set()
        self.results = results or [{"access_token": "tok-1", "expires_in": 3599}]

    def __call__(self, client_id: str, **kwargs: Any) -> StubMsal:
        self.built.append({"client_id": client_id, **kwargs})
        self.cache: dict[str, Any] | None = None
        return self

    def acquire_token_for_client(self, *, scopes: list[str]) -> dict[str, Any]:
        assert scopes == [GRAPH_SCOPE]
        self.threads.add(threading.get_ident())
        if self.cache is not None:
            return self.cache
        self.token_requests += 1
        result = self.results.pop(0) if len(self.results) > 1 else self.results[0]
        if isinstance(result, BaseException):
            raise result
        if "access_token" in result:
            self.cache = result
        return result


def provider_with(stub: StubMsal, **overrides: Any):
    settings = {"tenant_id": "contoso-tenant", "client_id": "app-123", "client_secret": SECRET}
    return msal_token_provider(**{**settings, **overrides}, app_factory=stub)


async def test_msal_provider_reuses_one_app_and_its_cache(caplog):
    caplog.set_level(logging.DEBUG)
    stub = StubMsal()
    provider = provider_with(stub, authority_host="https://login.example/")

    assert [await provider(), await provider(), await provider()] == ["tok-1"] * 3
    assert len(stub.built) == 1
    assert stub.token_requests == 1
    assert stub.built[0] == {
        "client_id": "app-123",
        "client_credential": SECRET,
        "authority": "https://login.example/contoso-tenant",
        "timeout": 10,
    }
    assert threading.get_ident() not in stub.threads  # MSAL blocks: it runs off the loop
    assert SECRET not in caplog.text and "tok-1" not in caplog.text


async def test_msal_provider_feeds_graph_client(graph, session):
    graph.token = "tok-1"
    provider = provider_with(StubMsal())
    assert (
        await client_for(graph, session, token_provider=provider).count_channels(team_id=TEAM) == 1
    )
    assert graph.requests[0].headers["Authorization"] == "Bearer tok-1"


async def test_msal_bad_secret_raises_not_configured_without_the_secret():
    stub = StubMsal(
        results=[
            {
                "error": "invalid_client",
                "error_description": f"AADSTS7000215: Invalid client secret provided ({SECRET}).\r\n"
                "Trace ID: 1\r\nCorrelation ID: 2",
                "error_codes": [7000215],
            }
        ]
    )
    with pytest.raises(GraphNotConfigured) as caught:
        await provider_with(stub)()
    assert "AADSTS7000215" in str(caught.value)
    assert SECRET not in str(caught.value)
    assert all(SECRET not in repr(arg) for arg in caught.value.args)


async def test_msal_error_is_not_cached_and_a_later_call_can_succeed():
    stub = StubMsal(
        results=[
            {"error": "temporarily_unavailable", "error_description": "busy"},
            {"access_token": "tok-2"},
        ]
    )
    provider = provider_with(stub)
    with pytest.raises(GraphUnavailable):
        await provider()
    assert await provider() == "tok-2"


async def test_msal_missing_consent_raises_forbidden():
    stub = StubMsal(
        results=[
            {
                "error": "invalid_grant",
                "error_codes": [65001],
                "error_description": "AADSTS65001: The user or administrator has "
                "not consented to use the application.",
            }
        ]
    )
    with pytest.raises(GraphForbidden, match="consent"):
        await provider_with(stub)()


async def test_msal_missing_settings_raise_not_configured_without_calling_msal():
    stub = StubMsal()
    with pytest.raises(GraphNotConfigured, match="MICROSOFT_APP_PASSWORD"):
        await provider_with(stub, client_secret="")()
    assert stub.built == []


async def test_msal_unknown_tenant_raises_not_configured_and_is_retried_later():
    attempts: list[int] = []

    def factory(client_id: str, **kwargs: Any) -> Any:
        attempts.append(1)
        raise ValueError("Unable to get authority configuration for https://login/contoso-tenant.")

    provider = msal_token_provider(
        tenant_id="contoso-tenant", client_id="app", client_secret=SECRET, app_factory=factory
    )
    for _ in range(2):
        with pytest.raises(GraphNotConfigured, match="contoso-tenant"):
            await provider()
    assert len(attempts) == 2  # a failed app is not kept


async def test_msal_network_failure_raises_unavailable():
    stub = StubMsal(results=[ConnectionError(f"cannot connect, secret={SECRET}")])
    with pytest.raises(GraphUnavailable) as caught:
        await provider_with(stub)()
    assert SECRET not in str(caught.value)


def _token(value: str):
    async def provider() -> str:
        return value

    return provider
