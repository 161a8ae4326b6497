"""The operational HTTP surface: request ids, request metrics, health, readiness, Prometheus."""
from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.logs import request_id_var

log = logging.getLogger(__name__)
READY_TIMEOUT_S = 5.0


class HttpMetrics:
    """Per-app Prometheus registry (no process globals, so tests can build many apps)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("firebreak_http_requests", "HTTP requests by route and status",
                                ["route", "status"], registry=self.registry)
        self.latency = Histogram("firebreak_http_request_seconds", "HTTP request latency by route",
                                 ["route"], registry=self.registry)


def _route_name(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def request_middleware(metrics: HttpMetrics):
    """Give every request an id for the logs (Teams' MS-CV when present) and count it."""

    @web.middleware
    async def middleware(request: web.Request, handler):
        token = request_id_var.set(request.headers.get("X-Request-Id") or request.headers.get("MS-CV") or uuid.uuid4().hex[:12])
        route = _route_name(request)
        status = 500
        try:
            with metrics.latency.labels(route).time():
                response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            metrics.requests.labels(route, str(status)).inc()
            request_id_var.reset(token)

    return middleware


def add_ops_routes(
    app: web.Application, *, engine: AsyncEngine, metrics: HttpMetrics, ticking: Callable[[], bool] = lambda: True
) -> None:
    """GET /healthz (alive), /readyz (database reachable and the tick running), /metrics."""

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def readyz(_request: web.Request) -> web.Response:
        try:
            async with engine.connect() as conn:
                await asyncio.wait_for(conn.execute(text("SELECT 1")), READY_TIMEOUT_S)
        except Exception as exc:
            log.warning("readiness check failed: %s", type(exc).__name__)
            return web.json_response({"status": "not ready", "database": "unreachable"}, status=503)
        if not ticking():
            return web.json_response({"status": "not ready", "database": "ok", "tick": "stalled"}, status=503)
        return web.json_response({"status": "ready", "database": "ok", "tick": "ok"})

    async def metrics_view(_request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_view)
