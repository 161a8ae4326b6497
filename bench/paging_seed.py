"""Seeding escalations straight into a Firebreak database, for paging benches and durability tests.

Uses the app's own domain functions (`incidents.declare`, `paging.start`,
`conversations.remember_person` / `remember_conversation`) against the database file, from a
process other than the app, after `python app.py db upgrade`. The only thing done by hand is
moving each new escalation's first step from "now" to the due time asked for (`next_at`), which
is what a policy level with a wait would have set anyway.

- `write_plan` copies `plans/example.yaml` with extra people and escalation policies.
- `seed` remembers the people as seen in Teams (AAD ids), stores a home conversation
  reference per incident (a group chat on the fake connector, so a 1:1 page chat can be
  created through it), declares each incident and starts its escalation, first step due at
  the time given. Batched: one transaction per `batch` escalations.
- `move_due` sets escalations' next due time afterwards (seeding thousands takes a while, so a
  bench seeds first and then sets the due times relative to when it is ready to start).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_PLAN = ROOT / "plans" / "example.yaml"
TENANT = "00000000-0000-0000-0000-0000000000001"
BOT = {"id": "28:firebreak-bench", "name": "Firebreak"}


@dataclass(frozen=True)
class Person:
    email: str
    name: str
    aad: str


@dataclass(frozen=True)
class Pending:
    """One escalation to seed: its incident title, home conversation and first due time.

    Either `policy_id` (a policy of the plan, snapshotted as on declare) or `targets` with
    `timeout` (a one-level page, as `page @person` makes) says who is paged.
    """

    title: str
    home: str
    due: datetime
    policy_id: str | None = None
    targets: tuple[str, ...] = ()
    timeout: timedelta = timedelta(hours=1)


def write_plan(path: Path, *, people: Sequence[Person], policies: Sequence[dict]) -> Path:
    """The example plan plus `people` (Teams only, at once) and `policies`, written to `path`."""
    data = yaml.safe_load(EXAMPLE_PLAN.read_text(encoding="utf-8"))
    data["people"] = list(data.get("people") or []) + [
        {"email": p.email, "name": p.name, "time_zone": "UTC", "contact": [{"method": "teams", "after": "0s"}]}
        for p in people]
    data["escalation_policies"] = list(data.get("escalation_policies") or []) + list(policies)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def home_reference(conversation_id: str, service_url: str) -> str:
    """A stored reference to a group chat on the fake connector (what a turn there would store)."""
    from botbuilder.schema import ChannelAccount, ConversationAccount, ConversationReference

    reference = ConversationReference(
        activity_id=None, user=ChannelAccount(id="29:bench-user", name="Bench User", aad_object_id="bench-aad"),
        bot=ChannelAccount(**BOT), channel_id="msteams", service_url=service_url, locale="en-US",
        conversation=ConversationAccount(id=conversation_id, conversation_type="groupChat", is_group=True,
                                         tenant_id=TENANT))
    return json.dumps(reference.serialize(), sort_keys=True)


async def seed(database_url: str, plan_path: Path, *, people: Sequence[Person], pending: Sequence[Pending],
               service_url: str, batch: int = 250, severity: str = "sev3") -> list[tuple[int, int]]:
    """Seed `pending` escalations; returns (incident id, escalation id) for each, in order."""
    from bot.clock import SystemClock
    from bot.domain import conversations, incidents, paging
    from bot.domain import escalation_rules as rules
    from bot.domain.model import SYSTEM_ACTOR, Source
    from bot.plan import load_plan
    from storage.db import Database

    plan = load_plan(plan_path)
    clock = SystemClock()
    db = Database.from_url(database_url)
    out: list[tuple[int, int]] = []
    try:
        async with db.write() as session:
            now = clock.now()
            for p in people:
                await conversations.remember_person(session, aad_object_id=p.aad, display_name=p.name,
                                                    email=p.email.lower(), now=now)
            for home in sorted({item.home for item in pending}):
                await conversations.remember_conversation(
                    session, conversation_id=home, tenant_id=TENANT, service_url=service_url,
                    conversation_type="groupChat", reference_json=home_reference(home, service_url), now=now)
        for start in range(0, len(pending), batch):
            async with db.write() as session:
                now = clock.now()
                for item in pending[start:start + batch]:
                    view = await incidents.declare(session=session, plan=plan, title=item.title, severity=severity,
                                                   actor=SYSTEM_ACTOR, source=Source.SYSTEM, now=now,
                                                   conversation_id=item.home, tenant_id=TENANT)
                    if item.policy_id:
                        snapshot = rules.PolicySnapshot.from_policy(plan.escalation_policy(item.policy_id))
                    else:
                        snapshot = rules.PolicySnapshot.one_level(list(item.targets), item.timeout)
                    row = await paging.start(session, plan=plan, incident_id=view.id, snapshot=snapshot,
                                             reason=f"seeded: {item.title}", actor=SYSTEM_ACTOR,
                                             source=Source.SYSTEM, now=now)
                    row.next_at = item.due  # the first step waits, as a level's `after` would make it
                    out.append((view.id, row.id))
    finally:
        await db.engine.dispose()
    return out


async def move_due(database_url: str, due: dict[int, datetime]) -> None:
    """Set `next_at` of the given escalations (id -> when their next step is due), in one transaction."""
    from sqlalchemy import update

    from storage.db import Database
    from storage.paging import Escalation

    db = Database.from_url(database_url)
    try:
        async with db.write() as session:
            for escalation_id, at in due.items():
                await session.execute(update(Escalation).where(Escalation.id == escalation_id).values(next_at=at))
    finally:
        await db.engine.dispose()
