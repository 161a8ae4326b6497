"""The tick: the one periodic job that moves time-driven work forward.

APScheduler is only the clock (DESIGN.md section 6): a single in-memory interval job, no job
store, `coalesce` and `max_instances=1` so a slow tick is never run twice at once. All state
lives in our tables and every step is idempotent, so a missed or repeated tick changes
nothing. The tick advances due escalations (paging), sends status-update reminders, and every
30 s looks at the schedules (gap warnings, handoff digests: `bot.domain.oncall_watch`) and at
the plan's review date (`bot.domain.plan_review`) and the breach deadlines (`bot.domain.breach_clock`).
"""
from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.clock import Clock
from bot.domain import breach_clock, oncall_watch, paging, plan_review, update_rhythm
from bot.domain.service import IncidentService
from storage import paging as paging_store

log = logging.getLogger(__name__)
TICK_SECONDS = 1.0
STALE_AFTER_S = 10.0
WATCH_EVERY_S = 30.0
MIN_STEP_GAP_S = 0.1  # gap warnings and handoff digests: minutes matter, not seconds


class Engine:
    """Runs `tick()` every second and knows whether it still does (for /readyz)."""

    def __init__(self, *, service: IncidentService, clock: Clock, interval_s: float = TICK_SECONDS) -> None:
        self._service = service
        self._clock = clock
        self._interval_s = interval_s
        self._scheduler: AsyncIOScheduler | None = None
        self._alive_at: float | None = None  # monotonic: liveness, not domain time
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task | None = None
        self._watched_at: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._full = True  # the first pass does everything; then the clock asks for it every second
        self.first_tick_done = asyncio.Event()  # for tests and start-up checks: one full pass has run

    async def tick(self, *, full: bool = True) -> None:
        """One pass over time-driven work; each step in its own transaction. `full=False` (a
        wake-up because an escalation step is due) runs only the escalations: the reminders
        and the schedule watch run on the once-a-second clock."""
        plan = self._service.plan
        now = self._clock.now()
        due_at = await self._service.read(paging_store.next_due_at) if full else now
        if due_at is not None and due_at <= now:
            stepped, due_at = await self._service.execute(lambda s, now: self._step(s, plan, now))
            if len(stepped) >= paging.STEPS_PER_TICK:
                self.kick()  # more is due: run again at once instead of waiting a second
        self._wake_for(due_at, now)
        if not full:
            return
        if self._watched_at is None or time.monotonic() - self._watched_at >= WATCH_EVERY_S:
            if plan.schedules:
                await self._service.execute(lambda s, now: oncall_watch.watch(s, plan=plan, now=now))
            if await self._service.read(lambda s: plan_review.remind_pending(s, plan=plan, now=now)):
                await self._service.execute(lambda s, now: plan_review.remind(s, plan=plan, now=now))
            if await self._service.read(lambda s: breach_clock.reminders_pending(s, now=now)):
                await self._service.execute(lambda s, now: breach_clock.send_reminders(s, plan=plan, now=now))
            self._watched_at = time.monotonic()
        if await self._service.read(lambda s: update_rhythm.any_overdue(s, plan=plan, now=now)):
            reminded = await self._service.execute(lambda s, now: update_rhythm.remind_due(s, plan=plan, now=now))
            if reminded:
                log.info("status update reminders sent for %s", ", ".join(f"INC-{i}" for i in reminded))
        self._alive_at = time.monotonic()

    @staticmethod
    async def _step(session, plan, now: datetime) -> tuple[list[int], datetime | None]:
        """Run the due escalation steps and say when the next one is due, in one transaction."""
        stepped = await paging.run_due(session, plan=plan, now=now)
        return stepped, await paging_store.next_due_at(session)

    def _wake_for(self, due_at: datetime | None, now: datetime) -> None:
        """Wake again when the next escalation step is due, if that is before the next second:
        a page due at 12:00:00.2 goes then, not at the next whole tick. Steps falling due close
        together are taken together, at most one pass per MIN_STEP_GAP_S: each pass costs a
        transaction whatever it steps, and a page 0.1 s later is not a later page."""
        if due_at is None or self._stopping or self._task is None:
            return
        delay = max((due_at - now).total_seconds(), MIN_STEP_GAP_S)
        if delay < self._interval_s:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = asyncio.get_running_loop().call_later(delay, self._due)

    def _due(self) -> None:
        self._wake.set()

    async def _ring(self) -> None:
        self._full = True
        self._wake.set()

    def kick(self) -> None:
        """Run a tick now (a commit just made an escalation due)."""
        self._wake.set()

    def ticking(self) -> bool:
        """True when the tick ran in the last 10 s (or the engine started less than 10 s ago)."""
        return self._alive_at is not None and time.monotonic() - self._alive_at < STALE_AFTER_S

    async def _run(self) -> None:
        """Our own task runs the ticks, so stopping can wait for one in progress to finish."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            full, self._full = self._full, False
            try:
                await self.tick(full=full)
            except Exception:  # the next tick tries again; the failure is logged with its traceback
                log.exception("tick failed")
            self.first_tick_done.set()

    def start(self) -> None:
        """Start ticking: APScheduler only sets a flag every second; `_run` does the work."""
        self._alive_at = time.monotonic()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="tick")
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        # A coroutine job: AsyncIOScheduler runs it on the loop. A plain function would run in a
        # worker thread, where setting an asyncio.Event is not safe (debug mode refuses it).
        self._scheduler.add_job(self._ring, "interval", seconds=self._interval_s, coalesce=True,
                                max_instances=1, misfire_grace_time=None, id="tick",
                                next_run_time=datetime.now(timezone.utc))
        self._scheduler.start()

    async def stop(self) -> None:
        """Stop the clock, then let a tick in progress finish (it is short and bounded)."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        if self._task is not None:
            # no cancellation: a tick cut off mid-query could leave a database connection behind
            self._stopping = True
            self._wake.set()
            await self._task
            self._task = None
