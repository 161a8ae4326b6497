"""The unit of work around every domain change: one transaction, idempotency, recorded refusals.

Entry points (commands, card buttons, dialogs) call `IncidentService.execute` with a domain
function. The same Teams activity delivered twice, or the same card button pressed again
within a minute, is claimed once in the same transaction as the change, so it changes state
once and records once. A refused action rolls back, then the refusal itself is recorded.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Awaitable, Callable, Sequence, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.domain import incidents, lifecycle, spaces
from bot.domain.formatting import incident_ref
from bot.domain.model import Actor, IncidentView, Source
from bot.domain.timeline import Kind, record
from bot.errors import Duplicate, NotFound, PermissionDenied, ValidationFailed
from bot.plan import Plan
from storage import queries
from storage.db import Database
from storage.outbox import ENQUEUED
from storage.models import Incident, TimelineEvent

T = TypeVar("T")
log = logging.getLogger(__name__)
CARD_ACTION_WINDOW = timedelta(seconds=60)


@dataclass(frozen=True)
class Dedupe:
    """An idempotency key; with a window, the key may be used again once the window has passed."""

    key: str
    window: timedelta | None = None


@dataclass(frozen=True)
class Refusal:
    """What to record on the incident's timeline if the action is refused."""

    actor: Actor
    source: Source
    what: str


class IncidentService:
    """Runs domain functions in transactions; the one door every change goes through."""

    def __init__(
        self,
        *,
        db: Database,
        plan: Callable[[], Plan],
        clock: Clock,
    ):
        self._db = db
        self._after_commit: list[tuple[str, Callable[[], None]]] = []
        self._plan = plan
        self.clock = clock

    def after_commit(self, notify: Callable[[], None], *, flag: str = ENQUEUED) -> None:
        """Call `notify` after a commit whose session set `flag` in `session.info`: by default,
        one that queued outbound messages (the outbox worker's kick); the tick's kick is
        `paging.ESCALATION_DUE`."""
        self._after_commit.append((flag, notify))

    @property
    def plan(self) -> Plan:
        return self._plan()

    async def execute(
        self,
        op: Callable[[AsyncSession, datetime], Awaitable[T]],
        *,
        dedupe: Sequence[Dedupe] = (),
        refusal: Refusal | None = None,
    ) -> T:
        """Run `op(session, now)` in one transaction; Duplicate if any dedupe key was seen."""
        now = self.clock.now()
        try:
            async with self._db.write() as session:
                await self._claim(session, dedupe, now)
                result = await op(session, now)
                flags = {key for key, value in session.info.items() if value is True}
        except PermissionDenied as denied:
            log.info("refused: %s", denied.action, extra={"incident_id": denied.incident_id})
            if refusal is not None and denied.incident_id is not None:
                await self._record_refusal(refusal, denied, dedupe, now)
            raise
        for flag, notify in self._after_commit:
            if flag in flags:
                notify()
        incident_id = _incident_id_of(result)
        if incident_id is not None:
            log.info("incident change committed", extra={"incident_id": incident_id})
        return result

    async def claim(self, *dedupe: Dedupe) -> bool:
        """Claim idempotency keys on their own (for work that is not a domain change, such as a
        dialog answer); False when any was already claimed."""
        try:
            await self.execute(_nothing, dedupe=dedupe)
        except Duplicate:
            return False
        return True

    async def _claim(self, session: AsyncSession, dedupe: Sequence[Dedupe], now: datetime) -> None:
        for item in dedupe:
            if not await queries.claim_key(session, item.key, now=now, window=item.window):
                raise Duplicate(f"already handled: {item.key}")

    async def _record_refusal(
        self, refusal: Refusal, denied: PermissionDenied, dedupe: Sequence[Dedupe], now: datetime
    ) -> None:
        async with self._db.write() as session:
            await self._claim(session, dedupe, now)
            assert denied.incident_id is not None
            await record(session, incident_id=denied.incident_id, kind=Kind.REFUSED, source=refusal.source,
                   actor=refusal.actor, now=now, text=f"{refusal.what}: {denied}")

    async def read(self, op: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run a read-only query in its own session (no write lock taken)."""
        async with self._db.read() as session:
            return await op(session)

    async def view(self, incident_id: int) -> IncidentView:
        return await self.read(lambda s: incidents.load_view(s, incident_id))

    async def open_incidents(self) -> Sequence[Incident]:
        return await self.read(queries.open_incidents)

    async def timeline_page(self, incident_id: int, *, page: int, per_page: int) -> tuple[Sequence[TimelineEvent], int]:
        async def op(session: AsyncSession):
            await incidents.load_view(session, incident_id)
            return await queries.timeline_page(session, incident_id, offset=(page - 1) * per_page, limit=per_page)

        return await self.read(op)

    async def target(self, *, conversation_id: str | None, explicit: int | None) -> int:
        """Which incident a command means: the one named, else the one living in this conversation."""
        return await self.read(lambda s: find_target(s, conversation_id=conversation_id, explicit=explicit))


def _incident_id_of(result: object) -> int | None:
    """The incident a change was about: ops return its view or its number."""
    if isinstance(result, IncidentView):
        return result.id
    if isinstance(result, int) and not isinstance(result, bool):
        return result
    return None


async def _nothing(_session: AsyncSession, _now: datetime) -> None:
    return None


async def find_target(session: AsyncSession, *, conversation_id: str | None, explicit: int | None) -> int:
    """The incident named, else the only open incident living in this conversation, else its latest."""
    if explicit is not None:
        if not await queries.incident_exists(session, explicit):
            raise NotFound(f"There is no {incident_ref(explicit)}. Say `list` to see open incidents.")
        return explicit
    if not conversation_id:
        raise NotFound("Name the incident, e.g. `status INC-7`. Say `list` to see open ones.")
    homed = await queries.incident_statuses_homed_in(session, spaces.home_candidates(conversation_id))
    open_here = [number for number, status in homed if lifecycle.is_open(status)]
    if len(open_here) == 1:
        return open_here[0]
    if len(open_here) > 1:
        names = ", ".join(incident_ref(n) for n in open_here[:10])
        raise ValidationFailed(
            f"Several incidents are open in this chat ({names}); name one, e.g. `status {incident_ref(open_here[0])}`."
        )
    if homed:
        return homed[0][0]
    raise NotFound(
        "No incident lives in this chat. Name one (e.g. `status INC-7`), say `list` to see open "
        "incidents, or `declare TITLE` to start one."
    )
