"""Reload the plan when its file changes: poll, wait for the writes to settle, validate, swap.

Polling the file's (mtime, size) every few seconds costs one `stat` and needs no library or
OS-specific notification API, and works the same on network shares and in containers where
inotify does not see bind-mounted edits. A change is acted on once the signature has stayed the
same for one more poll (debounce), so an editor's half-written save is not validated. A valid
file is adopted and written to the audit trail; a broken one is logged and the admins are told
in their 1:1 chat, while the old plan stays in use.
"""
from __future__ import annotations

import asyncio
import logging

from bot.domain import plan_reload
from bot.domain.model import Actor
from bot.domain.service import IncidentService
from bot.plan_holder import PlanHolder, ReloadResult, Signature, file_signature

log = logging.getLogger(__name__)

FILE_CHANGE = Actor(aad_id="", name="Firebreak (plan file changed)")


class PlanWatcher:
    """Polls the plan file every `interval` seconds while the app runs (`start` / `stop`)."""

    def __init__(self, *, holder: PlanHolder, service: IncidentService, interval: float) -> None:
        self._holder = holder
        self._service = service
        self.interval = interval
        self._pending: Signature | None = None
        self._seen_pending = False
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self.interval > 0 and self._task is None:
            self._task = asyncio.create_task(self._run(), name="plan-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bad poll must not end the watch; the next one tries again
                log.exception("plan file watch failed; will look again in %.1f s", self.interval)

    async def poll(self) -> ReloadResult | None:
        """One look at the file; reloads (and returns what happened) once a change has settled."""
        now_sig = file_signature(self._holder.path)
        if now_sig == self._holder.signature:
            self._seen_pending = False
            return None
        if not self._seen_pending or now_sig != self._pending:
            self._pending, self._seen_pending = now_sig, True  # changed: look again next poll
            return None
        self._seen_pending = False
        return await reload_and_record(self._holder, self._service, actor=FILE_CHANGE, trigger="file change",
                                       tell_admins=True)


async def reload_and_record(holder: PlanHolder, service: IncidentService, *, actor: Actor,
                            trigger: str, tell_admins: bool = False) -> ReloadResult:
    """Reload in a worker thread, then record a real change in the audit trail, or, for a file
    change that broke the plan, tell the admins (a person who typed `plan reload` sees the
    problems in the reply instead)."""
    result = await asyncio.to_thread(holder.reload)
    if result.ok and not result.unchanged:
        await service.execute(lambda s, now: plan_reload.record_reload(
            s, old=result.old, new=result.new, path=result.path, digest=result.digest, actor=actor,  # type: ignore[arg-type]
            trigger=trigger, now=now))
    elif not result.ok and tell_admins:
        await service.execute(lambda s, now: plan_reload.tell_admins_broken(
            s, plan=result.old, path=result.path, digest=result.digest, problems=result.problems, now=now))
    return result
