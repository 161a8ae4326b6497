"""Outbox delivery rules: rate shaping, batching into digests, backoff. Pure; no I/O.

Teams throttles proactive sends per conversation (7 per second, 8 per 2 s, 60 per 30 s, 1800
per hour) and answers 429 with Retry-After beyond that. The worker therefore sends at most what the shaper
allows, lets the rest wait for the next free slot, and when a conversation has more due than
it may take, folds messages that share a `bundle` into one digest: nothing is dropped, the
channel gets one readable summary instead of a flood.

Payload convention (the JSON in `OutboxMessage.payload_json`, opaque to storage):
- `summary`: one line naming the message, used when it is folded into a digest. Without it
  the first line of `text` is used, else the message key.
- `text` and/or `attachments` (an Adaptive Card): what the sender posts.
- a digest's payload has `summary`, `text` (a bulleted list of every member's summary) and
  `digest: {"bundle": str, "items": [{"key", "summary", "incident_id"}, ...]}`; a digest that
  is folded again has its items flattened into the new digest, so every original stays named.
"""
from __future__ import annotations

import hashlib
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar, Token
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, Union

from storage.outbox import SEND, OutboxMessage

MAX_ATTEMPTS = 8
BACKOFF_BASE = timedelta(seconds=2)
BACKOFF_CAP = timedelta(minutes=5)
MAX_DIGEST_ITEMS = 50  # keeps a digest far below Teams' ~28 KB message limit
SUMMARY_MAX = 200


# ---------------------------------------------------------------------------- rate shaping


@dataclass(frozen=True)
class RateShaper:
    """Per-conversation send limits over sliding windows.

    A send at time t occupies every window [t, t + length); a window never holds more than
    its limit. `recent` is the conversation's send times (any order; older ones are ignored).
    """

    per_second: int = 7
    per_2s: int = 8
    per_30s: int = 60
    per_hour: int = 1800

    @property
    def windows(self) -> tuple[tuple[timedelta, int], ...]:
        """Teams' documented per-bot, per-conversation limits (Microsoft, "Optimize your bot:
        rate limiting and best practices"): 7/1 s, 8/2 s, 60/30 s, 1800/3600 s."""
        return ((timedelta(seconds=1), self.per_second), (timedelta(seconds=2), self.per_2s),
                (timedelta(seconds=30), self.per_30s), (timedelta(hours=1), self.per_hour))

    @property
    def horizon(self) -> timedelta:
        """How far back send times matter (the longest window)."""
        return max(length for length, _ in self.windows)

    def allowance(self, recent: Sequence[datetime], now: datetime) -> int:
        """How many may be sent at `now` without breaking any window."""
        return max(0, min(limit - _in_window(recent, now, length) for length, limit in self.windows))

    def next_slot(self, recent: Sequence[datetime], now: datetime) -> datetime:
        """The earliest moment at or after `now` when one more send fits every window."""
        slot = now
        for length, limit in self.windows:
            inside = sorted(t for t in recent if t > now - length)
            excess = len(inside) - limit + 1
            if excess > 0:
                # the oldest `excess` sends must leave this window first
                slot = max(slot, inside[excess - 1] + length)
        return slot


def _in_window(recent: Sequence[datetime], now: datetime, length: timedelta) -> int:
    start = now - length
    return sum(1 for t in recent if t > start)


# ---------------------------------------------------------------------------- payloads


def summary_of(message: OutboxMessage) -> str:
    """The one-line summary of a message (see the payload convention above)."""
    payload = message.payload
    line = payload.get("summary")
    if not isinstance(line, str) or not line.strip():
        text = payload.get("text")
        line = text.strip().splitlines()[0] if isinstance(text, str) and text.strip() else message.key
    line = " ".join(line.split())
    return line if len(line) <= SUMMARY_MAX else line[: SUMMARY_MAX - 1] + "…"


def _digest_items(message: OutboxMessage) -> list[dict]:
    digest = message.payload.get("digest")
    if isinstance(digest, dict) and isinstance(digest.get("items"), list):
        return list(digest["items"])
    return [{"key": message.key, "summary": summary_of(message), "incident_id": message.incident_id}]


# ---------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class Digest:
    """A new message standing for several bundled ones; persisted by the worker before sending."""

    key: str
    conversation_id: str
    bundle: str
    members: tuple[OutboxMessage, ...]
    payload: dict
    incident_id: int | None
    created_at: datetime

    @property
    def member_ids(self) -> tuple[int, ...]:
        return tuple(m.id for m in self.members)


Item = Union[OutboxMessage, Digest]


@dataclass(frozen=True)
class ConversationPlan:
    """For one conversation: what goes now (in this order) and what waits until `wait_until`."""

    conversation_id: str
    send_now: tuple[Item, ...]
    wait: tuple[Item, ...]
    wait_until: datetime | None


@dataclass(frozen=True)
class Batch:
    """The plan for one batch of claimed rows, per conversation."""

    conversations: tuple[ConversationPlan, ...]

    @property
    def digests(self) -> list[Digest]:
        return [i for p in self.conversations for i in (*p.send_now, *p.wait) if isinstance(i, Digest)]


def plan_batch(
    *,
    due: Sequence[OutboxMessage],
    recent_by_conversation: Mapping[str, Sequence[datetime]],
    now: datetime,
    shaper: RateShaper,
) -> Batch:
    """Decide, per conversation, what is sent now, what waits, and what is folded into digests.

    Order within a conversation is (created_at, id). Only when a conversation has more due than
    its allowance are `send` messages sharing a non-null bundle folded (at most
    MAX_DIGEST_ITEMS per digest, at the place of their oldest member); updates are never folded,
    since each replaces a specific card.
    """
    by_conversation: dict[str, list[OutboxMessage]] = {}
    for message in due:
        by_conversation.setdefault(message.conversation_id, []).append(message)
    plans = []
    for conversation_id, messages in by_conversation.items():
        messages.sort(key=lambda m: (m.created_at, m.id))
        recent = list(recent_by_conversation.get(conversation_id, ()))
        allowance = shaper.allowance(recent, now)
        items: list[Item] = list(messages)
        if len(items) > allowance:
            items = _fold_bundles(messages)
        send_now = tuple(items[:allowance])
        wait = tuple(items[allowance:])
        wait_until = shaper.next_slot(recent + [now] * len(send_now), now) if wait else None
        plans.append(ConversationPlan(conversation_id, send_now, wait, wait_until))
    return Batch(tuple(plans))


def _fold_bundles(messages: list[OutboxMessage]) -> list[Item]:
    groups: dict[str, list[OutboxMessage]] = {}
    for m in messages:
        if m.bundle is not None and m.kind == SEND:
            groups.setdefault(m.bundle, []).append(m)
    chunks: dict[int, list[OutboxMessage]] = {}  # first member's id -> its chunk
    for members in groups.values():
        if len(members) < 2:
            continue
        for chunk in _chunks_by_items(members):
            if len(chunk) >= 2:
                chunks[chunk[0].id] = chunk
    folded = {m.id for chunk in chunks.values() for m in chunk}
    items: list[Item] = []
    for m in messages:
        if m.id in chunks:
            items.append(make_digest(chunks[m.id]))
        elif m.id not in folded:
            items.append(m)
    return items


def _chunks_by_items(members: list[OutboxMessage]) -> list[list[OutboxMessage]]:
    """Split in order so no digest names more than MAX_DIGEST_ITEMS originals (nested ones count)."""
    chunks: list[list[OutboxMessage]] = [[]]
    size = 0
    for m in members:
        n = len(_digest_items(m))
        if chunks[-1] and size + n > MAX_DIGEST_ITEMS:
            chunks.append([])
            size = 0
        chunks[-1].append(m)
        size += n
    return chunks


def make_digest(members: Sequence[OutboxMessage]) -> Digest:
    """One digest message naming every member's summary (nested digests are flattened)."""
    first = members[0]
    items = [item for m in members for item in _digest_items(m)]
    incidents = {m.incident_id for m in members}
    key_source = "\n".join(m.key for m in members)
    count = len(items)
    lines = "\n".join(f"- {item['summary']}" for item in items)
    payload = {
        "summary": f"{count} updates ({first.bundle})",
        "text": f"**{count} updates** (bundled to stay within Teams' rate limits)\n\n{lines}",
        "digest": {"bundle": first.bundle, "items": items},
    }
    return Digest(
        key="digest:" + hashlib.sha256(key_source.encode()).hexdigest(),
        conversation_id=first.conversation_id,
        bundle=first.bundle or "",
        members=tuple(members),
        payload=payload,
        incident_id=incidents.pop() if len(incidents) == 1 else None,
        created_at=min(m.created_at for m in members),
    )


# ---------------------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class DeliveryOutcome:
    """What the sender learnt: delivered, worth retrying, or refused for good."""

    kind: str  # "ok" | "retryable" | "permanent" | "cancelled"
    remote_activity_id: str | None = None
    status_code: int | None = None
    retry_after: float | None = None
    error: str = ""

    @classmethod
    def ok(cls, remote_activity_id: str | None = None) -> DeliveryOutcome:
        return cls("ok", remote_activity_id=remote_activity_id)

    @classmethod
    def retryable(
        cls, *, status_code: int | None, retry_after: float | None = None, error: str = ""
    ) -> DeliveryOutcome:
        return cls(
            "retryable", status_code=status_code, retry_after=retry_after, error=error or f"HTTP {status_code}"
        )

    @classmethod
    def permanent(cls, error: str, *, status_code: int | None = None) -> DeliveryOutcome:
        return cls("permanent", status_code=status_code, error=error)

    @classmethod
    def cancelled(cls, why: str) -> DeliveryOutcome:
        """Not sent because it is no longer wanted (a page acknowledged meanwhile): not a failure."""
        return cls("cancelled", error=why)


# ---------------------------------------------------------------------------- the last moment

Start = Callable[[], Awaitable[bool]]
_START: ContextVar[Start | None] = ContextVar("firebreak_outbox_start", default=None)


def set_start(start: Start | None) -> Token:
    """The worker: for the delivery running in this context, `about_to_send` calls `start`."""
    return _START.set(start)


def reset_start(token: Token) -> None:
    _START.reset(token)


async def about_to_send() -> bool:
    """A sender calls this right before the request that delivers (after its own reads and
    set-up), so the row is marked `sending` as late as possible: a crash before this point
    leaves the row to be sent after a restart, not lost as "delivery unknown". False: the row
    is no longer this worker's (its claim lapsed and another took it); do not send."""
    start = _START.get()
    return True if start is None else await start()


class OutboundSender(Protocol):
    """Posts one outbox row to Teams (or anywhere); the Teams implementation lives in bot/teams/.

    Must map every failure it understands to a DeliveryOutcome; an exception means "outcome
    unknown" and the row is not resent. A sender whose `starts_itself` is True calls
    `about_to_send()` right before its delivering request; otherwise the worker marks the row
    `sending` before calling `deliver`.
    """

    async def deliver(self, message: OutboxMessage) -> DeliveryOutcome: ...


def backoff(attempt: int, retry_after: float | None, *, rng: Callable[[], float] = random.random) -> timedelta:
    """How long to wait before retrying after failed attempt number `attempt` (1-based).

    Retry-After wins when given: exactly that long, never earlier. Otherwise exponential
    "equal jitter": the step is BACKOFF_BASE * 2**(attempt-1), capped at BACKOFF_CAP, and the
    wait is uniform in [step/2, step], so replicas retrying together spread out but never wait
    less than half the step.
    """
    if retry_after is not None:
        return timedelta(seconds=max(0.0, retry_after))
    step = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** min(max(0, attempt - 1), 20)))
    return step / 2 + (step / 2) * rng()


def gives_up(attempt: int) -> bool:
    """True once `attempt` failed attempts exhaust MAX_ATTEMPTS."""
    return attempt >= MAX_ATTEMPTS
