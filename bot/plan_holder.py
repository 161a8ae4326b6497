"""The response plan in use, and the one way to replace it: validate first, then swap.

A `Plan` is frozen, so nothing can change the plan in place. Everything that needs the plan
asks `PlanHolder.current()` when it needs it (the service, dialogs, alert and calendar routes),
so a reload (`plan reload` in Teams, or the file watcher) is a single attribute swap that every
later turn sees, while work already running keeps the object it started with. A file that
does not validate is never adopted: the old plan stays in use and the problems are returned.
"""
from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from bot.plan import Plan, PlanError, PlanProblem, load_plan

log = logging.getLogger(__name__)

Signature = tuple[int, int] | None
"""(mtime in ns, size) of the plan file, or None when it cannot be read: how a change is seen."""

# Sections whose item count is worth a line in the reload summary, with the word for one.
_COUNTED = {
    "severities": "severities", "people": "people", "groups": "groups", "services": "services",
    "runbooks": "runbooks", "schedules": "schedules", "escalation_policies": "escalation policies",
    "integrations": "integrations",
}


def file_signature(path: Path) -> Signature:
    """The file's (mtime_ns, size), or None when it is missing or unreadable."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def file_digest(path: Path) -> str:
    """A short hash of the file's bytes (names one version of a broken file), or "" if unreadable."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except OSError:
        return ""


@dataclass(frozen=True)
class ReloadResult:
    """What a reload did: adopted a new plan, found nothing new, or kept the old plan."""

    path: Path
    old: Plan
    new: Plan | None
    """The plan now in use when the reload succeeded; None when it was refused."""
    problems: tuple[PlanProblem, ...] = ()
    digest: str = ""
    """Hash of the file that was read (a broken file's identity for "tell the admin once")."""

    @property
    def ok(self) -> bool:
        return self.new is not None

    @property
    def unchanged(self) -> bool:
        """The file validated and says exactly what the plan in use says."""
        return self.new is not None and self.new == self.old

    def changes(self) -> list[str]:
        """What changed, in brief: the version, the counts that moved, the sections edited."""
        if self.new is None or self.unchanged:
            return []
        old, new = self.old, self.new
        lines: list[str] = []
        if old.plan.version != new.plan.version:
            lines.append(f"version {old.plan.version} → {new.plan.version}")
        else:
            lines.append(f"version {new.plan.version} (unchanged: bump `plan.version` when you edit the plan)")
        for field, word in _COUNTED.items():
            before, after = len(getattr(old, field)), len(getattr(new, field))
            if before != after:
                lines.append(f"{word} {before} → {after}")
        edited = [field for field in type(new).model_fields if getattr(old, field) != getattr(new, field)]
        if edited:
            lines.append(f"sections changed: {', '.join(edited)}")
        return lines


class PlanHolder:
    """Holds the plan in use; `reload()` validates the file with `load_plan` before swapping."""

    def __init__(self, plan: Plan, path: Path, *, signature: Signature | None = None) -> None:
        self._plan = plan
        self.path = Path(path)
        self._lock = threading.Lock()  # reloads run in a worker thread; one at a time
        self.signature: Signature = file_signature(self.path) if signature is None else signature
        """The file's signature when it was last read (by start-up or a reload, good or not)."""

    @classmethod
    def from_file(cls, path: Path) -> PlanHolder:
        """Load and validate the plan file (PlanError lists every problem), signature first so a
        write racing the read is seen as a change by the watcher."""
        path = Path(path)
        signature = file_signature(path)
        return cls(load_plan(path), path, signature=signature)

    def current(self) -> Plan:
        """The plan in use now. Call it when you need the plan; do not keep the result for long."""
        return self._plan

    def reload(self) -> ReloadResult:
        """Read and validate the plan file; adopt it only if it is valid. Blocking (file I/O and
        validation): run it in a thread from the event loop."""
        with self._lock:
            old = self._plan
            self.signature = file_signature(self.path)
            digest = file_digest(self.path)
            try:
                new = load_plan(self.path)
            except PlanError as error:
                log.warning("plan reload refused, keeping version %s: %s", old.plan.version, error)
                return ReloadResult(self.path, old, None, tuple(error.problems), digest)
            if new != old:
                self._plan = new
                log.info("plan reloaded from %s: version %s -> %s", self.path, old.plan.version, new.plan.version)
            return ReloadResult(self.path, old, self._plan, (), digest)
