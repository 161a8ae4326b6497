"""Helpers the benchmark scripts share: percentiles and the fake Bot Connector's route table."""
from __future__ import annotations

import math
from collections.abc import Callable

from aiohttp import web


def percentile(values: list[float], q: float) -> float:
    """Nearest rank, as in bench/turns.py (p99 of 200 values is the 2nd largest)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def ms(value: float) -> str:
    """Seconds as whole milliseconds for a table; `-` when there was nothing to measure."""
    return "-" if math.isnan(value) else f"{value * 1000:.0f} ms"


def add_connector_routes(app: web.Application, handle: Callable) -> None:
    """The Bot Connector endpoints Firebreak calls, all answered by `handle` (route names tell
    it which one), plus a catch-all that `handle` sees as "unknown"."""
    add = app.router.add_route
    conv = "/v3/conversations/{conversation_id}"
    add("GET", "/healthz", lambda _r: web.json_response({"status": "alive"}))
    add("POST", "/v3/conversations", handle, name="create_conversation")
    add("POST", f"{conv}/activities", handle, name="send")
    add("POST", f"{conv}/activities/{{activity_id}}", handle, name="reply")
    add("PUT", f"{conv}/activities/{{activity_id}}", handle, name="update")
    add("DELETE", f"{conv}/activities/{{activity_id}}", handle, name="delete")
    add("GET", f"{conv}/members/{{user_id}}", handle, name="member")
    add("GET", f"{conv}/members", handle, name="members")
    add("*", "/{tail:.*}", handle, name="unknown")
