"""`POST /api/alerts/{integration}`: monitoring webhooks in.

The order matters and is the contract senders rely on:

1. The integration must exist in the plan (404 otherwise).
2. The body is read, bounded by FIREBREAK_MAX_BODY (413 beyond it, nothing written).
3. The sender is authenticated (`bot.alerts.auth`) before the body is decoded (401; 500 when
   the integration's secret is missing on our side, naming the variable or file in the log).
4. The body is parsed for the integration's source (400 malformed, 422 well-formed but not
   what this integration takes, e.g. an Azure payload without the common alert schema).
5. The alerts are ingested in one transaction, and 2xx is answered only once it committed.
   Any temporary failure on our side (database locked, down, or slow) answers 503 with
   Retry-After, which every sender that retries at all retries on (Alertmanager retries 5xx,
   Azure Monitor 408/429/503/504); nothing accepted is ever lost.

Every answer is counted in `firebreak_alert_requests_total{integration, outcome}`.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiohttp import web
from prometheus_client import Counter
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bot.alerts.model import AlertPayloadInvalid
from bot.domain.service import IncidentService
from bot.plan import Plan

log = logging.getLogger(__name__)
RETRY_AFTER_S = 5
UNKNOWN = "(unknown)"  # the metric label for integrations the plan does not have: bounded cardinality


def add_alert_routes(app: web.Application, *, service: IncidentService, plan: Callable[[], Plan], registry,
                     secrets=None) -> None:
    """Serve `POST /api/alerts/{integration}` (see the module docstring). `secrets`: a
    `bot.alerts.auth.SecretSource` (tests inject one); by default the environment and files."""
    requests = Counter("firebreak_alert_requests", "Alert webhooks by integration and outcome",
                       ["integration", "outcome"], registry=registry)
    loaded: dict = {}

    def answer(integration: str, outcome: str, status: int, body: dict, headers: dict | None = None) -> web.Response:
        requests.labels(integration, outcome).inc()
        return web.json_response(body, status=status, headers=headers)

    async def receive(request: web.Request) -> web.Response:
        name = request.match_info["integration"]
        current = plan()  # one plan for the whole request, even if it is reloaded meanwhile
        integration = current.integration(name)
        if integration is None:
            return answer(UNKNOWN, "unknown_integration", 404,
                          {"error": f"There is no integration `{name}` in the response plan."})
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return answer(name, "too_large", 413, {"error": f"The body is larger than {request.app._client_max_size} "
                                                            "bytes (FIREBREAK_MAX_BODY); nothing was recorded."})
        # The alert machinery (authentication, parsers, ingest) loads on the first webhook, not
        # at start-up: it costs idle memory in every deployment, including those without alerts.
        from bot.alerts.auth import AlertAuthFailed, SecretSource, authenticate
        from bot.alerts.parse import parse
        from bot.domain import alert_ingest

        if "secrets" not in loaded:
            loaded["secrets"] = secrets or SecretSource()
        source = loaded["secrets"]
        try:
            authenticate(integration.auth, headers=request.headers, query=request.query, body=body,
                         secrets=source.secrets_for(integration.auth), now=service.clock.now())
        except AlertAuthFailed as failed:
            if failed.status >= 500:
                log.error("alert integration %s is misconfigured: %s", name, failed.reason)
                return answer(name, "misconfigured", 500, {"error": "This integration's secret is not configured "
                                                                    "on the server; its operator has been told."})
            log.info("alert webhook refused for %s: %s", name, failed.reason)
            return answer(name, "unauthorized", 401, {"error": failed.reason})
        try:
            batch = parse(integration.source, body)
        except AlertPayloadInvalid as invalid:
            outcome = {413: "too_large", 422: "unprocessable"}.get(invalid.status, "malformed")
            return answer(name, outcome, invalid.status, {"error": str(invalid)})
        text = body.decode("utf-8", errors="replace")
        try:
            result = await service.execute(lambda s, now: alert_ingest.ingest(
                s, plan=current, integration=integration, batch=batch, body=text, now=now))
        except DataError as exc:  # the database refuses a value: retrying the same body cannot help
            log.warning("alert webhook for %s refused by the database: %s", name, exc.orig)
            return answer(name, "unprocessable", 422, {"error": "A value in this payload cannot be stored (too long "
                                                                "or not valid text); nothing was recorded."})
        except (OperationalError, DBAPIError, PoolTimeout, OSError, asyncio.TimeoutError) as exc:
            log.warning("alert webhook for %s not recorded (will be retried by the sender): %s", name,
                        type(exc).__name__)
            return answer(name, "unavailable", 503, {"error": "Temporarily unable to record alerts; retry."},
                          headers={"Retry-After": str(RETRY_AFTER_S)})
        except Exception:  # a bug: logged with its traceback, answered and counted, never silent
            log.exception("alert webhook for %s failed", name)
            return answer(name, "error", 500, {"error": "Firebreak failed to record this payload; its operator "
                                                        "can find why in the log."})
        groups = [{"group": g.group_id, "incident": g.incident_id, "opened": g.opened_incident, "new": g.new,
                   "changed": g.changed, "repeated": g.repeated, "silenced": g.silenced,
                   "resolved": g.resolved_group} for g in result.groups]
        if integration.source == "pagerduty":  # what PagerDuty's Events API answers, for its clients
            dedup = batch.alerts[0].dedup_key if batch.alerts else None
            return answer(name, "accepted", 202, {"status": "success", "message": "Event processed",
                                                  "dedup_key": dedup})
        return answer(name, "accepted", 200, {"status": "ok", "payload": result.payload_id, "groups": groups})

    app.router.add_post("/api/alerts/{integration}", receive)
