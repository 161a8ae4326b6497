"""Delivers the outbox: claim due rows, shape them to Teams' rate limits, send, record outcomes.

Transactions stay short and never span a network call: one to expire stuck rows, one to claim
and plan, then per message a small write right before its POST (`sending`, with a deadline)
and one for its outcome. Those per-message writes of conversations delivered side by side
share transactions (`storage.group_commit`), so a burst costs a few commits, not two per page. Conversations are delivered
concurrently; within a conversation strictly in order, and a retryable failure holds the rest
of that conversation until the retry, so nothing overtakes it.

One slow conversation does not hold up the others: `run_forever` waits at most
STRAGGLER_WAIT_S for a batch, then claims the next one while the slow conversation's POST goes
on in the background (bounded by the send timeout). A conversation with a row claimed or being
sent is never claimed again until that row is finished, so its order still holds.
"""
from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from bot.clock import Clock
from bot.domain.outbox import (
    reset_start,
    set_start,
    Batch,
    DeliveryOutcome,
    Digest,
    OutboundSender,
    RateShaper,
    backoff,
    gives_up,
    plan_batch,
)
from storage import outbox as store
from storage.db import Database
from storage.group_commit import GroupCommit
from storage.outbox import OutboxMessage

log = logging.getLogger(__name__)
STRAGGLER_WAIT_S = 1.0

OutcomeObserver = Callable[..., Awaitable[None]]
"""`(session, message, status, error, now)`: called in the transaction that stores a final
outcome (sent, failed, unknown) of a row."""


@dataclass
class RunReport:
    """What one `run_once` did (counts of rows)."""

    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    bundled: int = 0  # original messages folded into a digest this run
    digests: int = 0
    waiting: int = 0  # rows handed back to wait for a rate slot or behind a retry
    unknown: int = 0  # expired while sending, timed out, or the sender raised


class OutboxWorker:
    """Runs outbox delivery; `run_once` for a tick, `run_forever` for a background task."""

    def __init__(
        self,
        *,
        db: Database,
        sender: OutboundSender,
        clock: Clock,
        shaper: RateShaper | None = None,
        batch_size: int = 100,
        sending_for: timedelta = timedelta(seconds=60),
        concurrency: int = 16,
        poll_interval_s: float = 1.0,
        rng: Callable[[], float] = random.random,
        on_outcome: OutcomeObserver | None = None,
    ) -> None:
        self._db = db
        self._on_outcome = on_outcome
        self._sender = sender
        self._clock = clock
        self._shaper = shaper or RateShaper()
        self._batch_size = batch_size
        self._sending_for = sending_for
        # a send that outlives this cannot be trusted either way: it is marked unknown
        self._send_timeout_s = sending_for.total_seconds() / 2
        self._slots = asyncio.Semaphore(concurrency)
        self._poll_interval_s = poll_interval_s
        self._rng = rng
        self._kick = asyncio.Event()
        self._in_flight: set[asyncio.Task] = set()
        self._group = GroupCommit(db)  # the per-message writes of concurrent conversations share transactions

    def kick(self) -> None:
        """Ask `run_forever` to run now (a commit just enqueued something)."""
        self._kick.set()

    async def run_forever(self, stop_event: asyncio.Event) -> None:
        """Run until `stop_event` is set: on every kick, or every poll interval at the latest.

        First, rows a previous process claimed but never started go back to pending, so a crash
        delays them by a restart, not by their claim's deadline. (Another replica's claims may
        be released too; starting a row is conditional, so it is still sent once.)"""
        try:
            async with self._db.write() as session:
                released = await store.release_claims(session)
            if released:
                log.info("outbox: %d claimed rows of an earlier run handed back", released)
        except Exception:
            log.exception("outbox could not release earlier claims")
        try:
            while not stop_event.is_set():
                self._kick.clear()
                try:
                    report = await self.run_once(wait_s=STRAGGLER_WAIT_S)
                except Exception:  # keep delivering; the failure is in the log with its traceback
                    log.exception("outbox run failed")
                    report = None
                if report is not None and report.claimed >= self._batch_size:
                    continue  # more is due right away
                waiters = [asyncio.ensure_future(self._kick.wait()), asyncio.ensure_future(stop_event.wait())]
                try:
                    await asyncio.wait(waiters, timeout=self._poll_interval_s, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for waiter in waiters:
                        waiter.cancel()
        finally:
            if self._in_flight:  # let slow sends finish and record their outcome (bounded by the send timeout)
                await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def run_once(self, *, wait_s: float | None = None) -> RunReport:
        """Expire stuck rows, claim and plan one batch, deliver it, record every outcome.

        With `wait_s`, return after that long even if some conversations are still sending;
        they finish in the background (and their outcomes still reach the report)."""
        report = RunReport()
        now = self._clock.now()
        # Most runs find nothing to do: find that out with reads, without taking the write lock.
        async with self._db.read() as session:
            due_at = await store.next_due_at(session)
            stuck = await store.has_stuck_sending(session, now=now)
        if not stuck and (due_at is None or due_at > now):
            return report
        async with self._db.write() as session:
            expired = await store.expire_stuck_sending(session, now=now)
            for message_id in expired:
                message = await store.get_message(session, message_id)
                if message is not None:
                    await self._observe(session, message, store.UNKNOWN, message.last_error, now)
        if expired:
            log.warning("outbox delivery unknown (stuck in sending)", extra={"outbox_ids": expired})
        report.unknown += len(expired)

        async with self._db.write() as session:
            due = await store.claim_due(session, now=now, limit=self._batch_size, sending_for=self._sending_for)
            report.claimed = len(due)
            if not due:
                return report
            since = now - self._shaper.horizon
            recent = {}
            for conversation_id in {m.conversation_id for m in due}:
                recent[conversation_id] = await store.sent_since(session, conversation_id, since)
            batch = plan_batch(due=due, recent_by_conversation=recent, now=now, shaper=self._shaper)
            queues = await self._persist_plan(session, batch, report, now=now)

        tasks = [asyncio.ensure_future(self._deliver_conversation(queue, report)) for queue in queues if queue]
        for task in tasks:
            self._in_flight.add(task)
            task.add_done_callback(self._delivered)
        if tasks:
            await asyncio.wait(tasks, timeout=wait_s)
        return report

    def _delivered(self, task: asyncio.Task) -> None:
        self._in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("outbox delivery failed to record an outcome", exc_info=task.exception())

    async def _persist_plan(self, session, batch: Batch, report: RunReport, *, now) -> list[list[OutboxMessage]]:
        """Write the plan in the claim transaction; return the rows to POST, per conversation."""
        deadline = now + self._sending_for
        queues = []
        for plan in batch.conversations:
            queue: list[OutboxMessage] = []
            for item in plan.send_now:
                if isinstance(item, Digest):
                    queue.append(await self._add_digest(session, item, now=now, deadline=deadline, next_at=now))
                    report.bundled += len(item.members)
                    report.digests += 1
                else:
                    queue.append(item)
            waiting: list[OutboxMessage] = []
            for item in plan.wait:
                if isinstance(item, Digest):
                    await self._add_digest(session, item, now=now, deadline=None, next_at=plan.wait_until)
                    report.bundled += len(item.members)
                    report.digests += 1
                else:
                    waiting.append(item)
                report.waiting += 1
            if waiting:
                await store.reschedule(session, messages=waiting, next_at=plan.wait_until)
            if plan.wait_until is not None:
                # later rows of this conversation, not claimed this time, must not overtake these
                await store.defer_conversation(session, conversation_id=plan.conversation_id, until=plan.wait_until)
            queues.append(queue)
        return queues

    @staticmethod
    async def _add_digest(session, digest: Digest, *, now, deadline, next_at) -> OutboxMessage:
        return await store.add_digest(
            session,
            key=digest.key,
            conversation_id=digest.conversation_id,
            payload=digest.payload,
            bundle=digest.bundle,
            incident_id=digest.incident_id,
            members=digest.members,
            created_at=digest.created_at,
            now=now,
            sending_deadline=deadline,
            next_at=next_at,
        )

    async def _deliver_conversation(self, queue: list[OutboxMessage], report: RunReport) -> None:
        """POST one conversation's rows in order; stop and hold the rest on a retryable failure."""
        async with self._slots:
            for index, message in enumerate(queue):
                start = self._starter(message)
                if not getattr(self._sender, "starts_itself", False) and not await start():
                    continue  # its claim lapsed and another worker has it now
                token = set_start(start)
                try:
                    outcome = await self._deliver(message)
                finally:
                    reset_start(token)
                if start.lost:
                    continue
                if not start.called:
                    # never marked: it failed before sending anything, or it sends what is safe to
                    # repeat (a card update); either way retried, not "delivery unknown"
                    if outcome is None:
                        outcome = DeliveryOutcome.retryable(status_code=None,
                                                            error="the sender failed without marking the row sending")
                    if outcome.kind in ("retryable", "permanent"):
                        async with self._db.write() as session:
                            await store.count_unstarted_attempt(session, message=message, now=self._clock.now())
                held = await self._record(message, outcome, queue[index + 1 :], report)
                if held:
                    return

    def _starter(self, message: OutboxMessage) -> "_Start":
        return _Start(self, message)

    async def _deliver(self, message: OutboxMessage) -> DeliveryOutcome | None:
        """The sender's answer, or None when the outcome cannot be known."""
        try:
            return await asyncio.wait_for(self._sender.deliver(message), timeout=self._send_timeout_s)
        except TimeoutError:
            log.warning("outbox send timed out", extra={"outbox_id": message.id, "incident": message.incident_id})
        except Exception:
            log.exception("outbox sender raised", extra={"outbox_id": message.id, "incident": message.incident_id})
        return None

    async def _observe(self, session, message: OutboxMessage, status: str, error: str | None, now) -> None:
        """Let the domain react to a final outcome in the same transaction (a failed page pulls
        the next contact method forward)."""
        if self._on_outcome is not None:
            await self._on_outcome(session, message, status, error, now)

    async def _record(
        self, message: OutboxMessage, outcome: DeliveryOutcome | None, rest: list[OutboxMessage], report: RunReport
    ) -> bool:
        """Store one outcome (in a transaction shared with other conversations' outcomes);
        True when the rest of the queue is held."""
        now = self._clock.now()
        attempt = message.attempts
        ids = {"outbox_id": message.id, "incident": message.incident_id}
        if outcome is None:
            error = "delivery unknown: the send timed out or the sender failed"

            async def unknown(session) -> None:
                if await store.mark_unknown(session, message_id=message.id, attempt=attempt, error=error):
                    await self._observe(session, message, store.UNKNOWN, error, now)

            await self._group.run(unknown)
            report.unknown += 1
            return False
        if outcome.kind == "ok":
            async def sent(session) -> None:
                if await store.mark_sent(session, message_id=message.id, attempt=attempt, now=now,
                                         remote_activity_id=outcome.remote_activity_id):
                    await self._observe(session, message, store.SENT, None, now)

            await self._group.run(sent)
            report.sent += 1
            return False
        if outcome.kind == "cancelled":
            await self._group.run(lambda session: store.mark_cancelled(
                session, message_id=message.id, attempt=attempt, why=outcome.error))
            return False
        if outcome.kind == "retryable" and not gives_up(attempt):
            next_at = now + backoff(attempt, outcome.retry_after, rng=self._rng)

            async def retry(session) -> None:
                await store.mark_retry(session, message_id=message.id, attempt=attempt, next_at=next_at,
                                       error=outcome.error)
                for later in rest:
                    await store.release_unsent(session, message_id=later.id, next_at=next_at)
                await store.defer_conversation(session, conversation_id=message.conversation_id, until=next_at)

            await self._group.run(retry)
            report.retried += 1
            report.waiting += len(rest)
            log.info("outbox send will be retried", extra={**ids, "next_at": next_at.isoformat(),
                                                           "error": outcome.error})
            return True
        error = outcome.error
        if outcome.kind != "permanent":
            error = f"gave up after {attempt} attempts: {outcome.error}"

        async def failed(session) -> None:
            if await store.mark_failed(session, message_id=message.id, attempt=attempt, error=error):
                await self._observe(session, message, store.FAILED, error, now)

        await self._group.run(failed)
        report.failed += 1
        log.warning("outbox send failed", extra={**ids, "error": error})
        return False


class _Start:
    """Marks one claimed row `sending`, once, when the sender is about to send
    (`bot.domain.outbox.about_to_send`); committed before it returns."""

    def __init__(self, worker: OutboxWorker, message: OutboxMessage) -> None:
        self._worker = worker
        self._message = message
        self.called = False
        self.lost = False

    async def __call__(self) -> bool:
        if not self.called:
            self.called = True
            w = self._worker
            now = w._clock.now()
            started = await w._group.run(lambda session: store.start_sending(
                session, message=self._message, now=now, sending_for=w._sending_for))
            if started:
                self._message.attempts += 1
                self._message.status = store.SENDING
            self.lost = not started
            if self.lost:
                log.info("outbox row no longer ours to send", extra={"outbox_id": self._message.id})
        return not self.lost
