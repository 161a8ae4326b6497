"""Firebreak: composition root and command line.

`create_app(settings)` builds the whole object graph (settings -> database -> services ->
adapter -> aiohttp app) with no module globals, so tests build it with fakes. Nothing else in
the code base wires components together.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys
from pathlib import Path
from collections.abc import Awaitable, Callable
from typing import Sequence

from aiohttp import web

from bot.clock import Clock, SystemClock
from bot.config import Settings, load_settings
from bot.domain import paging
from bot.domain.model import Source
from bot.domain.service import IncidentService
from bot.errors import ConfigError
from bot.logs import configure_logging
from bot.plan import Plan, check_plan_file, format_problems, load_plan
from bot.plan_holder import PlanHolder
from bot.plan_watch import PlanWatcher
from bot.teams.adapter import build_adapter
from bot.teams.all_actions import actions as card_actions
from bot.teams.connector_api import ConnectorApi
from bot.teams.context import TeamsServices
from bot.teams.dialog_state import conversation_dialogs
from bot.teams.handler import FirebreakBot, on_turn_error
from bot.teams.identity import IdentityResolver
from bot.teams.all_commands import registry as command_registry
from bot.teams.incident_channels import incident_channels_for
from bot.teams.incident_commands import declare_and_post
from bot.teams.messages_endpoint import messages_handler
from bot.teams.publisher import CardPublisher
from bot.teams.router import TurnRouter
from bot.teams.sdk_patches import configure_reply_executor
from bot.teams.spaces import SpacePlacer
from bot.teams.outbound import TeamsSender
from bot.outbox_routing import RoutingSender
from bot.outbox_worker import OutboxWorker
from bot.senders.wiring import page_senders
from bot.engine import Engine
from bot.teams.state_storage import DatabaseStorage
from bot.teams.transport import ConnectorTransport
from bot.teams.triage_commands import triage_actions
from bot.web import HttpMetrics, add_ops_routes, request_middleware
from bot.web_calendar import add_calendar_routes, calendar_token
from bot.domain.overrides import overrides_for
from bot.web_ack import add_ack_routes
from bot.web_alerts import add_alert_routes
from dialogs.declare import DeclareDialog
from dialogs.triage import TriageDialog
from storage.schema import MigrationFailed, upgrade_in_child
from storage.db import Database

log = logging.getLogger("firebreak")

ENGINE_KEY = web.AppKey("engine", object)
SERVICE_KEY = web.AppKey("service", IncidentService)
ADAPTER_KEY = web.AppKey("adapter", object)
ENGINE_TICK_KEY = web.AppKey("tick", object)
PLAN_KEY = web.AppKey("plan", PlanHolder)
PLAN_WATCH_KEY = web.AppKey("plan_watch", PlanWatcher)


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    plan: Plan | None = None,
    openid_metadata_url: str | None = None,
    migrate_on_start: bool = True,
    graph_token_provider: Callable[[], Awaitable[str]] | None = None,
) -> web.Application:
    """Build the aiohttp application and everything behind it.

    With `migrate_on_start` the schema is upgraded when the app starts; `python app.py`
    passes False because it has already migrated in a child process. `graph_token_provider`
    replaces the app's MSAL client-credentials token source for Microsoft Graph (tests).
    """
    settings.require_production_ready()
    clock = clock or SystemClock()
    # The plan in use; `plan reload` and the file watcher swap it whole (bot/plan_holder.py).
    plans = PlanHolder(plan, settings.plan_path) if plan is not None else PlanHolder.from_file(settings.plan_path)
    db = Database.from_url(settings.database_url)
    engine = db.engine
    service = IncidentService(db=db, plan=plans.current, clock=clock)

    conversation_state, dialog_set = conversation_dialogs(DatabaseStorage(db, clock=clock))

    transport = ConnectorTransport()
    adapter = build_adapter(settings, openid_metadata_url=openid_metadata_url, transport=transport)
    publisher = CardPublisher(service=service)
    identity = IdentityResolver(service)
    channels = incident_channels_for(settings, session_provider=transport.session, token_provider=graph_token_provider)
    placer = SpacePlacer(adapter=adapter, app_id=settings.app_id, service=service, publisher=publisher,
                         channels=channels, dev=settings.dev)
    teams_sender = TeamsSender(adapter=adapter, app_id=settings.app_id, service=service, dev=settings.dev,
                               api=ConnectorApi(adapter=adapter, app_id=settings.app_id, transport=transport),
                               spaces=placer)

    async def page_outcome(session, message, status, error, now) -> None:
        await paging.delivery_outcome(session, message=message, status=status, error=error, plan=service.plan, now=now)

    email_sender, webhook_sender = page_senders(settings, service=service, clock=clock,
                                                session_provider=transport.session)
    sender = RoutingSender(teams=teams_sender, email=email_sender, webhook=webhook_sender)
    worker = OutboxWorker(db=db, clock=clock, sender=sender, on_outcome=page_outcome)
    service.after_commit(worker.kick)
    ticker = Engine(service=service, clock=clock)
    service.after_commit(ticker.kick, flag=paging.ESCALATION_DUE)
    teams = TeamsServices(service=service, publisher=publisher, identity=identity, commands=command_registry,
                          spaces=placer, plans=plans)

    async def finish_declare(turn, found: dict) -> None:
        actor = await identity.actor_for(turn)
        await declare_and_post(teams, turn, actor, found, source=Source.DIALOG)

    dialog_set.add(DeclareDialog(plan=plans.current, on_complete=finish_declare))
    dialog_set.add(TriageDialog(plan=lambda: service.plan, actions=triage_actions(teams)))
    router = TurnRouter(app=teams, actions=card_actions, dialogs=dialog_set, conversation_state=conversation_state)

    async def handle_error(turn, error: Exception) -> None:
        await on_turn_error(router, turn, error)

    adapter.on_turn_error = handle_error
    teams.start_declare_dialog = router.start_declare_dialog
    teams.start_dialog = router.start_dialog
    bot = FirebreakBot(router=router, conversation_state=conversation_state)

    metrics = HttpMetrics()
    app = web.Application(middlewares=[request_middleware(metrics)], client_max_size=settings.max_body)
    app[ENGINE_KEY] = engine
    app[ENGINE_TICK_KEY] = ticker
    # A plan handed in (tests) did not come from the file, so the file is not watched for it.
    plan_watch = PlanWatcher(holder=plans, service=service, interval=settings.plan_watch_s if plan is None else 0)
    app[PLAN_KEY] = plans
    app[PLAN_WATCH_KEY] = plan_watch
    app[SERVICE_KEY] = service
    app[ADAPTER_KEY] = adapter
    app.router.add_post("/api/messages", messages_handler(adapter=adapter, bot=bot, settings=settings))
    add_ops_routes(app, engine=engine, metrics=metrics, ticking=ticker.ticking)

    async def schedule_overrides(schedule_id, start, end):
        return await service.read(lambda s: overrides_for(s, schedule_id, start, end))

    add_calendar_routes(app, plan=plans.current, overrides=schedule_overrides,
                        secret=settings.calendar_secret.get_secret_value(), clock=clock)
    add_ack_routes(app, service=service, secret=settings.ack_secret.get_secret_value())
    add_alert_routes(app, service=service, plan=plans.current, registry=metrics.registry)

    stopping = asyncio.Event()
    background: dict[str, asyncio.Task] = {}

    async def on_startup(_app: web.Application) -> None:
        configure_reply_executor(asyncio.get_running_loop(), settings.reply_threads)
        if migrate_on_start:
            from storage.migrate import upgrade_to_head  # Alembic only in processes that migrate

            try:
                await asyncio.to_thread(upgrade_to_head, settings.database_url)
            except MigrationFailed as exc:
                raise ConfigError(str(exc)) from exc
        background["outbox"] = asyncio.create_task(worker.run_forever(stopping), name="outbox")
        ticker.start()
        plan_watch.start()
        # Everything built so far lives as long as the process: keep it out of the garbage
        # collector's full passes, which otherwise stall the loop ~100 ms every few seconds.
        gc.collect()
        gc.freeze()

    async def on_cleanup(_app: web.Application) -> None:
        await plan_watch.stop()
        await ticker.stop()
        stopping.set()
        for task in background.values():
            await task
        await transport.close()
        await db.dispose()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python app.py",
        description="Firebreak: incident response in Microsoft Teams. Without a subcommand, runs the bot server.",
    )
    parser.add_argument("--port", type=int, help="port to listen on (default 3978 or FIREBREAK_PORT)")
    parser.add_argument("--dev", action="store_true",
                        help="local development: no inbound authentication, binds 127.0.0.1 only")
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND")
    plan = sub.add_parser("plan", help="response plan tools").add_subparsers(dest="plan_command", required=True)
    check = plan.add_parser("check", help="validate a response plan file and list every problem")
    check.add_argument("file", type=Path)
    manifest = sub.add_parser("manifest", help="Teams app package").add_subparsers(dest="manifest_command", required=True)
    build = manifest.add_parser("build", help="write the Teams app package zip")
    build.add_argument("--out", type=Path, default=None, help="output zip (default build/firebreak-teams-app.zip)")
    db = sub.add_parser("db", help="database tools").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply schema migrations")
    calendar = sub.add_parser("calendar", help="on-call calendar feeds").add_subparsers(dest="calendar_command",
                                                                                      required=True)
    link = calendar.add_parser("link", help="print a schedule's iCalendar feed URL (for Outlook)")
    link.add_argument("schedule")
    alerts = sub.add_parser("alerts", help="monitoring alert tools").add_subparsers(dest="alerts_command", required=True)
    route = alerts.add_parser("route", help="routing").add_subparsers(dest="route_command", required=True)
    route_test = route.add_parser("test", help="show how a payload would be routed (no side effects)")
    route_test.add_argument("file", type=Path, help="a webhook body, as the sender posts it")
    route_test.add_argument("--integration", help="the integration id in the plan (its source decides the parser)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides: dict = {}
    if args.port:
        overrides["port"] = args.port
    if args.dev:
        overrides["dev"] = True
    try:
        settings = load_settings(**overrides)
    except Exception as exc:  # pydantic ValidationError: name the variable
        print(f"Invalid settings: {exc}", file=sys.stderr)
        return 2
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    if args.command == "plan":
        return _plan_check(args.file)
    if args.command == "manifest":
        return _manifest_build(settings, args.out)
    if args.command == "db":
        from storage.migrate import upgrade_to_head

        try:
            print(f"Database is at revision {upgrade_to_head(settings.database_url)}.")
        except MigrationFailed as exc:
            print(str(exc), file=sys.stderr)
            return 1
        return 0
    if args.command == "calendar":
        return _calendar_link(settings, args.schedule)
    if args.command == "alerts":
        from bot.alert_cli import route_test

        code, text = route_test(load_plan(settings.plan_path), args.integration, args.file)
        print(text, file=sys.stdout if code == 0 else sys.stderr)
        return code
    return _serve(settings)


def _calendar_link(settings: Settings, schedule_id: str) -> int:
    """Print the feed URL of one schedule; the token in it is the credential, share it as such."""
    secret = settings.calendar_secret.get_secret_value()
    if not secret:
        print("Calendar feeds are off: set FIREBREAK_CALENDAR_SECRET (e.g. `python -c \"import secrets; "
              "print(secrets.token_urlsafe(32))\"`).", file=sys.stderr)
        return 1
    ids = [s.id for s in load_plan(settings.plan_path).schedules]
    if schedule_id not in ids:
        print(f"Unknown schedule `{schedule_id}`. The plan defines: {', '.join(ids) or 'none'}.", file=sys.stderr)
        return 1
    base = (settings.public_url or f"http://127.0.0.1:{settings.port}").rstrip("/")
    print(f"{base}/calendar/{schedule_id}.ics?token={calendar_token(secret, schedule_id)}")
    return 0


def _plan_check(path: Path) -> int:
    problems = check_plan_file(path)
    if problems:
        print(f"{path}: {len(problems)} problem(s)\n{format_problems(problems)}", file=sys.stderr)
        return 1
    print(f"{path}: OK")
    return 0


def _manifest_build(settings: Settings, out: Path | None) -> int:
    from bot.teams.manifest import DEFAULT_PACKAGE_PATH, write_package

    try:
        path = write_package(out_path=out or DEFAULT_PACKAGE_PATH, app_id=settings.app_id,
                             commands=command_registry.manifest_commands(), public_url=settings.public_url)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(f"Wrote {path}. Upload it in Teams: Apps > Manage your apps > Upload an app.")
    return 0


def _serve(settings: Settings) -> int:
    """Migrate (in a child process), build the app, and serve until Ctrl-C or SIGTERM."""
    try:
        settings.require_production_ready()
        upgrade_in_child(settings.database_url)
        app = create_app(settings, migrate_on_start=False)
    except (ConfigError, MigrationFailed) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    host = settings.bind_host()
    if settings.dev:
        log.warning(
            "DEV MODE: inbound authentication is OFF and only 127.0.0.1 is served. "
            "Never expose this process; run without --dev in production."
        )

    def announce(_aiohttp_banner: str) -> None:
        # aiohttp calls this once the socket is bound, so the line is true when it appears.
        log.info("Firebreak listening on http://%s:%d/api/messages", host, settings.port)

    try:
        web.run_app(app, host=host, port=settings.port, print=announce, handle_signals=True)
    except OSError as exc:
        print(f"Cannot listen on {host}:{settings.port}: {exc.strerror}. "
              "Is another Firebreak running? Choose another port with --port N.", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
