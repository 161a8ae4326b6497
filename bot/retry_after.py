"""Reading an HTTP `Retry-After` header, for every outbound client (Graph, webhooks)."""
from __future__ import annotations

from email.utils import parsedate_to_datetime
from time import time


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if absent or bad.

    An HTTP date is the server's wall-clock time, so it is compared with this machine's clock,
    not the injected domain Clock.
    """
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time())
    except (TypeError, ValueError):
        return None
