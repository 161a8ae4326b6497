"""A request body that marks its outbox row `sending` at the last moment, one request at a time.

An outbox row marked `sending` is never sent again after a crash (it may have gone out), so
the mark must come as late as possible: a crash before it leaves the row to be sent after
the restart, and a crash after it leaves "delivery unknown". aiohttp asks for a request's
body only once the connection is open, and holds the headers back until the first chunk of
an async-iterator body is written. A body that awaits the mark before it yields therefore
puts the mark between connecting and writing: a connection that fails (refused, DNS, TLS,
connect timeout) leaves the row unmarked and retryable, and nothing is on the wire until the
mark is committed.

The lane: marks are taken one request at a time, for every sender on the event loop. The
next request is marked only once the previous one's bytes are handed to the kernel. A crash
thus strands at most one request that was marked but never written. Without the lane, a
burst whose marks were committed together could lose every page not yet written when the
process died. It costs one small commit per request (marks of requests side by side no
longer share one); connecting and waiting for answers still run side by side.
"""
from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable

Ready = Callable[[], Awaitable[bool]]
"""The outbox's `about_to_send`: marks the row; False when it is no longer ours (do not send)."""

_LANES: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]" = weakref.WeakKeyDictionary()


def _lane() -> asyncio.Lock:
    """The lane of the running event loop (a lock is bound to one loop; tests run many)."""
    loop = asyncio.get_running_loop()
    lane = _LANES.get(loop)
    if lane is None:
        lane = _LANES[loop] = asyncio.Lock()
    return lane


class NotOurs(Exception):
    """`ready` said the row is no longer ours: the request is abandoned before its first byte."""


class MarkedBody:
    """One request's body. Pass `chunks()` as aiohttp's `data` with `headers` added, and call
    `give_back()` when the call ends whatever happened (a failed write never resumes the
    iterator). After a ClientError, `declined` says the row was not ours and nothing was sent."""

    def __init__(self, raw: bytes, ready: Ready) -> None:
        self._raw = raw
        self._ready = ready
        self._held: asyncio.Lock | None = None
        self.declined = False

    @property
    def headers(self) -> dict[str, str]:
        """A known length, so aiohttp sends the iterator without chunked encoding."""
        return {"Content-Length": str(len(self._raw))}

    async def chunks(self) -> AsyncIterator[bytes]:
        """Take the lane, mark the row, yield the whole body; aiohttp writes it to the socket
        before it asks for more, and the lane is given back."""
        lane = _lane()
        await lane.acquire()
        self._held = lane
        try:
            if not await self._ready():
                self.declined = True
                raise NotOurs("the outbox row is no longer ours to send")
            yield self._raw
        finally:
            self.give_back()

    def give_back(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            held.release()
