"""A channel of its own for an incident, through Microsoft Graph, within a time budget.

Declaring must never wait on Graph for long (DESIGN.md section 6): the whole attempt, Retry-After
waits included, fits in `budget_s`, and whatever goes wrong comes back as a reason for the caller
to fall back to a thread with. Nothing here creates two channels for one incident:

- the name is a pure function of the incident (`inc-7-payments-api-down`), and every attempt
  looks the name up before creating it (`GraphClient.ensure_channel`), so a retry after a lost
  answer, or a second replica, lands on the channel the first one made;
- in this process, one attempt per incident runs at a time (a lock per incident number);
- a name held by a channel deleted in the last 30 days gets a `-2` (then `-3`) suffix, which is
  just as deterministic.

Before creating, the team's listed channels are counted: at the plan's `channel_cap_warning`
the admins are warned (by the caller) and, if the plan names an overflow team, the channel goes
there instead.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar
from weakref import WeakValueDictionary

import aiohttp

from bot.config import Settings
from bot.domain.channel_names import incident_channel_name, unique_suffix
from bot.plan import Spaces
from bot.teams.graph import (
    GraphChannel, GraphChannelLimit, GraphClient, GraphConflict, GraphError, GraphForbidden, GraphNotConfigured,
    GraphThrottled, GraphUnavailable,
)
from bot.teams.graph_auth import msal_token_provider

log = logging.getLogger(__name__)

T = TypeVar("T")
TEAMS_CHANNEL_CAP = 1000
NAME_ATTEMPTS = 3
BACKOFF_S = (0.5, 1.0, 2.0, 4.0)


@dataclass(frozen=True)
class Team:
    """A team that can hold incident channels: its Graph id (the Microsoft 365 group id) and name."""

    id: str
    name: str


@dataclass(frozen=True)
class ChannelResult:
    """The incident's channel, or why there is none; and a warning for the admins, if due."""

    channel: GraphChannel | None
    team: Team
    reason: str | None = None
    cap_warning: str | None = None


class OutOfTime(Exception):
    """Graph asked us to wait longer than the declare can afford."""


class IncidentChannels:
    """Opens incident channels through Graph; `graph=None` means Graph is not configured."""

    def __init__(
        self, *, graph: GraphClient | None, budget_s: float,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._graph = graph
        self._budget_s = budget_s
        self._sleep = sleep
        self._monotonic = monotonic
        self._locks: WeakValueDictionary[int, asyncio.Lock] = WeakValueDictionary()

    @property
    def ready(self) -> bool:
        return self._graph is not None

    async def open(self, *, number: int, title: str, description: str, home: Team, spaces: Spaces) -> ChannelResult:
        """The channel for incident `number` (existing or new); never raises for Graph's sake."""
        if self._graph is None:
            return ChannelResult(None, home, reason="Microsoft Graph is not configured")
        lock = self._locks.get(number)
        if lock is None:
            lock = self._locks[number] = asyncio.Lock()
        deadline = self._monotonic() + self._budget_s
        async with lock:
            team, warning = home, None
            try:
                async with asyncio.timeout(self._budget_s):
                    team, warning = await self._pick_team(home, spaces, deadline)
                    channel = await self._ensure(team, incident_channel_name(number, title), description, deadline)
                return ChannelResult(channel, team, cap_warning=warning)
            except (GraphError, OutOfTime, TimeoutError) as exc:
                log.warning("no incident channel: %s", type(exc).__name__, extra={"incident_id": number})
                return ChannelResult(None, team, reason=_reason(exc, team, self._budget_s), cap_warning=warning)

    async def _pick_team(self, home: Team, spaces: Spaces, deadline: float) -> tuple[Team, str | None]:
        """The home team, or the overflow team once the home team nears the channel cap."""
        assert self._graph is not None
        listed = await self._retrying(lambda: self._graph.count_channels(team_id=home.id), deadline)
        if listed < spaces.channel_cap_warning:
            return home, None
        warning = (f"The team {home.name} lists {listed} channels; Teams allows {TEAMS_CHANNEL_CAP:,}, counting "
                   "channels deleted in the last 30 days. Archive or delete old incident channels")
        overflow = spaces.overflow_team
        if overflow is None:
            return home, warning + ", or name an overflow team in the plan (spaces.overflow_team)."
        return Team(overflow.id, overflow.name), warning + f". New incident channels go to {overflow.name} meanwhile."

    async def _ensure(self, team: Team, name: str, description: str, deadline: float) -> GraphChannel:
        assert self._graph is not None
        conflict: GraphConflict | None = None
        for attempt in range(1, NAME_ATTEMPTS + 1):
            candidate = unique_suffix(name, attempt)
            try:
                return await self._retrying(lambda: self._graph.ensure_channel(
                    team_id=team.id, display_name=candidate, description=description[:1024]), deadline)
            except GraphConflict as exc:  # held by a recently deleted channel: the next name
                conflict = exc
        assert conflict is not None
        raise conflict

    async def _retrying(self, call: Callable[[], Awaitable[T]], deadline: float) -> T:
        """`call`, again after throttling or a transient failure, waiting as Graph asks while
        the budget allows. Each retry is safe: lookups, or a create preceded by a lookup."""
        for attempt in range(len(BACKOFF_S) + 1):
            try:
                return await call()
            except (GraphThrottled, GraphUnavailable) as exc:
                wait = exc.retry_after_s if exc.retry_after_s is not None else BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)]
                if attempt == len(BACKOFF_S) or self._monotonic() + wait >= deadline:
                    raise OutOfTime(str(exc)) from exc
                await self._sleep(wait)
        raise AssertionError("unreachable")


def _reason(exc: BaseException, team: Team, budget_s: float) -> str:
    """Why the incident got a thread instead, in words an admin can act on."""
    if isinstance(exc, GraphChannelLimit):
        return f"the team {team.name} has reached Teams' limit of {TEAMS_CHANNEL_CAP:,} channels"
    if isinstance(exc, GraphNotConfigured):
        return f"Microsoft Graph refused the bot's credentials: {exc}"
    if isinstance(exc, GraphForbidden):
        return f"Microsoft Graph refused to create the channel: {exc}"
    if isinstance(exc, GraphConflict):
        return f"every name I tried for its channel is taken in {team.name}"
    if isinstance(exc, OutOfTime):
        cause = exc.__cause__
        if isinstance(cause, GraphThrottled):
            return "Microsoft Graph is throttling channel creation (429) longer than a declare can wait"
        return f"Microsoft Graph did not answer in time ({cause or exc})"
    if isinstance(exc, TimeoutError):
        return f"Microsoft Graph did not answer within {budget_s:g}s"
    return f"Microsoft Graph failed: {exc}"


def incident_channels_for(
    settings: Settings, *, session_provider: Callable[[], aiohttp.ClientSession],
    token_provider: Callable[[], Awaitable[str]] | None = None,
) -> IncidentChannels:
    """Graph as the deployment allows: off when `FIREBREAK_GRAPH=off`, or when there is neither
    an injected token source (tests) nor the app's client credentials to get tokens with."""
    if settings.graph == "off" or (token_provider is None and not settings.graph_credentials()):
        return IncidentChannels(graph=None, budget_s=settings.graph_budget_s)
    if token_provider is None:
        token_provider = msal_token_provider(
            tenant_id=settings.app_tenant_id, client_id=settings.app_id,
            client_secret=settings.app_password.get_secret_value(), timeout_s=settings.graph_budget_s,
        )
    graph = GraphClient(base_url=settings.graph_url, token_provider=token_provider,
                        session_provider=session_provider, timeout_s=settings.graph_budget_s)
    return IncidentChannels(graph=graph, budget_s=settings.graph_budget_s)
