"""Drive the real aiohttp app with real Teams payloads and a fake Bot Connector."""
from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable
import itertools
import json
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from app import ENGINE_TICK_KEY, SERVICE_KEY, create_app
from bot.config import Settings
from bot.domain.service import IncidentService
from bot.plan import Plan
from storage import queries
from storage.outbox import OutboxMessage
from tests.fakes.connector import FakeConnector
from tests.support import FIXTURES, FakeClock

PERSONAL = "playground-captured/playground-message-personal.json"
GROUP = "playground-captured/playground-message-groupChat-mention.json"
CHANNEL = "playground-captured/playground-message-channel-mention.json"
INVOKE = "playground-captured/playground-invoke-adaptiveCard-action.json"
CHANNEL_INVOKE = "composed-invoke-adaptiveCard-action-channel.json"

_ids = itertools.count(1)


def dev_settings(db_path: Path, **extra: Any) -> Settings:
    return Settings(DATABASE_URL=f"sqlite:///{db_path}", FIREBREAK_DEV=True, **extra)


class Harness:
    """One running Firebreak app with its fake connector, and helpers to talk to it like Teams."""

    def __init__(self, client: TestClient, connector: FakeConnector, clock: FakeClock) -> None:
        self.client = client
        self.connector = connector
        self.clock = clock

    @property
    def service(self) -> IncidentService:
        return self.client.server.app[SERVICE_KEY]

    def activity(self, fixture: str, *, text: str | None = None, user: tuple[str, str] | None = None,
                 conversation_id: str | None = None, activity_id: str | None = None, **patch: Any) -> dict:
        """A fixture payload with serviceUrl pointed at the fake connector and a fresh id."""
        body = copy.deepcopy(json.loads((FIXTURES / "teams" / fixture).read_text()))
        body["serviceUrl"] = self.connector.url
        body["id"] = activity_id or f"act-{next(_ids)}"
        if text is not None:
            prefix = "<at>Test Bot</at> " if body.get("conversation", {}).get("conversationType") in ("channel", "groupChat") else ""
            body["text"] = prefix + text
        if user is not None:
            body["from"] = {"id": user[0], "name": user[1], "aadObjectId": user[0]}
        if conversation_id is not None:
            body["conversation"]["id"] = conversation_id
        body.update(patch)
        return body

    async def post(self, body: dict) -> tuple[int, Any]:
        resp = await self.client.post("/api/messages", json=body)
        raw = await resp.text()
        try:
            return resp.status, (json.loads(raw) if raw else None)
        except json.JSONDecodeError:
            return resp.status, raw

    async def say(self, text: str, fixture: str = PERSONAL, **kw: Any) -> tuple[int, Any]:
        return await self.post(self.activity(fixture, text=text, **kw))

    async def press(self, verb: str, data: dict, fixture: str = INVOKE, **kw: Any) -> tuple[int, Any]:
        body = self.activity(fixture, **kw)
        body["value"] = {"action": {"type": "Action.Execute", "verb": verb, "data": data}}
        return await self.post(body)

    async def bind_incidents_channel(self, *, group_id: str = "group-1", channel_name: str = "Incidents") -> None:
        """`setup incidents` said by the plan owner (Aisha) in a channel of "My Team", whose
        Microsoft 365 group id is `group_id`; the connector's record is cleared afterwards."""
        self.connector.script(r"/members/aad-aisha", status=200, times=None, body={
            "id": "aad-aisha", "aadObjectId": "aad-aisha", "name": "Aisha Patel",
            "userPrincipalName": "aisha.patel@contoso.com"})
        body = self.activity(CHANNEL, text="setup incidents", user=("aad-aisha", "Aisha Patel"))
        body["channelData"]["team"].update({"name": "My Team", "aadGroupId": group_id})
        body["channelData"]["channel"]["name"] = channel_name
        await self.post(body)
        self.connector.clear()

    async def until(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Wait for something the outbox delivers in the background; its truthy value."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not (found := predicate()):
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("timed out waiting for a background delivery")
            await asyncio.sleep(0.02)
        return found

    async def until_async(self, probe: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Like `until`, for a coroutine probe (state the outbox changes in the database)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not (found := await probe()):
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("timed out waiting for a background change")
            await asyncio.sleep(0.02)
        return found

    async def outbox(self) -> list[OutboxMessage]:
        """Every outbox row, oldest first."""
        async def rows(session):
            return list((await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())
        return await self.service.read(rows)

    def sent(self) -> list[dict]:
        """Activities the bot sent (POST) to the connector, in order."""
        return [r.json for r in self.connector.find(method="POST", path=r"/activities") if r.json]

    def texts(self) -> list[str]:
        return [a.get("text") or "" for a in self.sent()]

    def cards(self) -> list[dict]:
        return [att["content"] for a in self.sent() for att in a.get("attachments") or []
                if att.get("contentType") == "application/vnd.microsoft.card.adaptive"]

    def updates(self) -> list[dict]:
        return [r.json for r in self.connector.find(method="PUT", path=r"/activities/")]

    async def timeline(self, incident_id: int) -> list:
        return list(await self.service.read(lambda s: queries.timeline_events(s, incident_id)))

    async def incident(self, incident_id: int):
        return (await self.service.view(incident_id)).incident

    async def open_count(self) -> int:
        return await self.service.read(queries.count_open)


async def start_harness(db_path: Path, connector: FakeConnector, clock: FakeClock, *, plan: Plan | None = None,
                        graph_token_provider: Callable[[], Awaitable[str]] | None = None, **settings: Any) -> Harness:
    app = create_app(dev_settings(db_path, **settings), clock=clock, plan=plan, graph_token_provider=graph_token_provider)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    # The tick's first pass (which also looks at the schedules) runs at start-up; let it finish
    # so it cannot interleave with a test's first steps. Tests run later looks themselves.
    await asyncio.wait_for(app[ENGINE_TICK_KEY].first_tick_done.wait(), timeout=10)
    return Harness(client, connector, clock)
