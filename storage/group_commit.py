"""Group commit: small writes from concurrent tasks share one transaction.

The outbox records two small writes per message (marked `sending` right before its POST, then
its outcome), each from the task delivering one conversation. With a dozen conversations in
flight those are a dozen transactions a moment, and a transaction's fixed cost (a session, a
pooled connection, BEGIN IMMEDIATE, COMMIT) is most of such a write's CPU. Here a write waits
for the transaction in progress, if any, and then goes in the next one with every other write
that queued meanwhile; under no load a write runs at once, alone. (Marks are taken one at a
time, `bot/marked_body.py`, so a group holds at most one mark, next to the outcomes.)

A job is `async (session) -> result` and must have no effect outside the session until its
caller gets the result: if one job of a group fails, the group is rolled back and every job is
run again alone, so one bad write never takes the others with it.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database

T = TypeVar("T")
Job = Callable[[AsyncSession], Awaitable[Any]]


class GroupCommit:
    """Runs jobs in shared write transactions of `db`, in the order they were given."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._queue: list[tuple[Job, asyncio.Future]] = []
        self._flusher: asyncio.Task | None = None

    async def run(self, job: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run `job` in the next transaction; its result once that transaction has committed."""
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._queue.append((job, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._flush())
        return await asyncio.shield(future)  # a cancelled caller does not cancel the others' commit

    async def _flush(self) -> None:
        while self._queue:
            group, self._queue = self._queue, []
            await self._commit(group)

    async def _commit(self, group: list[tuple[Job, asyncio.Future]]) -> None:
        try:
            async with self._db.write() as session:
                results = [await job(session) for job, _future in group]
        except Exception as exc:
            if len(group) == 1:
                _settle(group[0][1], exception=exc)
                return
            for item in group:  # find the one that failed; the rest still commit
                await self._commit([item])
            return
        for (_job, future), result in zip(group, results):
            _settle(future, result=result)


def _settle(future: asyncio.Future, *, result: Any = None, exception: BaseException | None = None) -> None:
    if future.done():
        return
    if exception is not None:
        future.set_exception(exception)
    else:
        future.set_result(result)
