"""Alerts in, on a real SQLite file: one incident per group, dedup, resolve, refire, flapping,
silences, and concurrent webhooks for one group settled by the unique index."""
import asyncio
import json
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlmodel import SQLModel

from bot.alerts.model import FIRING, RESOLVED, Alert, AlertBatch
from bot.domain.alert_ingest import ingest
from bot.plan import load_plan
from storage.alerts import AlertGroup, AlertRecord, AlertSilence
from storage.db import Database
from storage.models import Incident, TimelineEvent
from storage.paging import Escalation
from tests.realpeers import fresh_database
from tests.support import EXAMPLE_PLAN, FakeClock, sqlite_with_schema

PLAN = load_plan(EXAMPLE_PLAN)
AM = PLAN.integration("alertmanager")


@pytest.fixture
async def db(tmp_path):
    database = await sqlite_with_schema(tmp_path / "alerts.db")
    yield database
    await database.dispose()


@pytest.fixture
def clock():
    return FakeClock()


def batch(*statuses: str, group="{}:{alertname=\"HighLatency\"}", service="field-service-app", extra=None) -> AlertBatch:
    alerts = tuple(Alert(dedup_key=f"fp-{i}", status=s, title=f"HighLatency on web-{i}", severity="critical",
                         labels={"alertname": "HighLatency", "service": service, "instance": f"web-{i}", **(extra or {})})
                   for i, s in enumerate(statuses))
    return AlertBatch(source="alertmanager", alerts=alerts, group_key=group, group_labels={"alertname": "HighLatency"})


async def post(db, clock, b: AlertBatch, integration=AM, plan=PLAN):
    async with db.write() as session:
        return await ingest(session, plan=plan, integration=integration, batch=b, body="{}", now=clock.now())


async def count(db, model, *where) -> int:
    async with db.read() as session:
        return (await session.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


async def timeline(db, incident_id) -> list[str]:
    async with db.read() as session:
        rows = await session.execute(select(TimelineEvent.text).where(TimelineEvent.incident_id == incident_id,
                                                                      TimelineEvent.kind == "alert"))
        return [r[0] for r in rows]


async def test_a_firing_group_opens_one_incident_and_pages_once(db, clock):
    first = await post(db, clock, batch(FIRING, FIRING, FIRING))
    [group] = first.groups
    assert group.opened_incident and group.new == 3
    async with db.read() as session:
        incident = await session.get(Incident, group.incident_id)
    assert (incident.severity, incident.service_id, incident.title) == ("sev1", "field-service-app", "HighLatency on web-0")
    assert await count(db, Escalation) == 1  # field-service-app's policy pages
    # Alertmanager resends the whole group every repeat_interval: nothing new happens
    for _ in range(3):
        clock.advance(minutes=5)
        again = await post(db, clock, batch(FIRING, FIRING, FIRING))
        assert again.groups[0].incident_id == group.incident_id and not again.groups[0].opened_incident
        assert again.groups[0].repeated == 3
    assert await count(db, Incident) == 1 and await count(db, Escalation) == 1
    assert await count(db, AlertRecord) == 3


async def test_partial_then_full_resolve_closes_the_group_not_the_incident(db, clock):
    opened = (await post(db, clock, batch(FIRING, FIRING, FIRING))).groups[0]
    partial = (await post(db, clock, batch(FIRING, RESOLVED, FIRING))).groups[0]
    assert partial.changed == 1 and not partial.resolved_group
    done = (await post(db, clock, batch(RESOLVED, RESOLVED, RESOLVED))).groups[0]
    assert done.resolved_group and done.incident_id == opened.incident_id
    async with db.read() as session:
        group = await session.get(AlertGroup, opened.group_id)
        incident = await session.get(Incident, opened.incident_id)
    assert group.status == "resolved" and incident.status == "declared"  # the people decide
    assert "all 3 alerts of the group resolved" in await timeline(db, opened.incident_id)


async def test_auto_resolve_resolves_the_incident(db, clock):
    auto = AM.model_copy(update={"auto_resolve": True})
    opened = (await post(db, clock, batch(FIRING), integration=auto)).groups[0]
    await post(db, clock, batch(RESOLVED), integration=auto)
    async with db.read() as session:
        incident = await session.get(Incident, opened.incident_id)
        stopped = (await session.execute(select(Escalation.status))).scalars().all()
    assert incident.status == "resolved" and stopped == ["stopped"]


async def test_firing_again_while_the_incident_is_open_attaches_and_after_resolve_opens_a_linked_one(db, clock):
    first = (await post(db, clock, batch(FIRING))).groups[0]
    await post(db, clock, batch(RESOLVED))
    again = (await post(db, clock, batch(FIRING))).groups[0]
    assert again.incident_id == first.incident_id and not again.opened_incident  # still being worked on
    await post(db, clock, batch(RESOLVED))
    async with db.write() as session:
        (await session.get(Incident, first.incident_id)).status = "resolved"
    clock.advance(hours=2)
    new = (await post(db, clock, batch(FIRING))).groups[0]
    assert new.opened_incident and new.incident_id != first.incident_id
    assert any(f"after INC-{first.incident_id} resolved" in t for t in await timeline(db, new.incident_id))
    assert await count(db, Escalation) == 2


async def test_flapping_is_summarised_once_and_never_pages_again(db, clock):
    opened = (await post(db, clock, batch(FIRING))).groups[0]
    flaps = []
    for status in (RESOLVED, FIRING, RESOLVED, FIRING, RESOLVED, FIRING):
        clock.advance(minutes=3)
        flaps.append((await post(db, clock, batch(status))).groups[0])
    assert [f.flapping for f in flaps] == [False, False, False, True, False, False]  # the 4th change within 1h
    assert {f.incident_id for f in flaps} == {opened.incident_id}
    notes = [t for t in await timeline(db, opened.incident_id) if t.startswith("flapping")]
    assert len(notes) == 1 and "changed state 4 times within 1:00:00" in notes[0]
    assert await count(db, Escalation) == 1 and await count(db, Incident) == 1


async def test_record_only_routes_keep_alerts_without_an_incident(db, clock):
    kept = (await post(db, clock, batch(FIRING, service="not-in-any-route"))).groups[0]
    assert kept.incident_id is None and not kept.opened_incident
    assert await count(db, Incident) == 0 and await count(db, AlertRecord) == 1


async def test_a_silence_keeps_matching_alerts_from_opening_an_incident_only_while_it_lasts(db, clock):
    async with db.write() as session:
        session.add(AlertSilence(matchers_json=json.dumps({"service": "field-service-app"}), created_at=clock.now(),
                                 ends_at=clock.now() + timedelta(hours=1)))
    muted = (await post(db, clock, batch(FIRING, FIRING))).groups[0]
    assert muted.silenced == 2 and muted.incident_id is None
    clock.advance(minutes=30)
    assert (await post(db, clock, batch(FIRING, FIRING))).groups[0].incident_id is None  # still silenced
    clock.advance(hours=1)  # the silence has ended: the same alerts, resent, open the incident
    later = (await post(db, clock, batch(FIRING, FIRING))).groups[0]
    assert later.opened_incident and later.silenced == 0 and later.repeated == 2


async def test_a_group_without_an_incident_follows_the_route_of_its_latest_alerts(db, clock):
    kept = (await post(db, clock, batch(FIRING, service="unrouted"))).groups[0]
    assert kept.incident_id is None  # record only
    mixed = AlertBatch(source="alertmanager", group_key=batch(FIRING).group_key, alerts=(
        Alert(dedup_key="fp-0", status=FIRING, title="t", severity="warning", labels={"service": "unrouted"}),
        Alert(dedup_key="fp-9", status=FIRING, title="critical now", severity="critical",
              labels={"service": "field-service-app"})))
    opened = (await post(db, clock, mixed)).groups[0]
    assert opened.group_id == kept.group_id and opened.opened_incident
    async with db.read() as session:
        incident = await session.get(Incident, opened.incident_id)
    assert (incident.severity, incident.service_id) == ("sev1", "field-service-app")


async def test_alerts_of_an_incident_resolved_by_people_start_a_new_linked_incident(db, clock):
    first = (await post(db, clock, batch(FIRING))).groups[0]
    async with db.write() as session:
        (await session.get(Incident, first.incident_id)).status = "resolved"  # while its alerts still fire
    again = (await post(db, clock, batch(FIRING, FIRING))).groups[0]
    assert again.opened_incident and again.incident_id != first.incident_id and again.group_id != first.group_id
    assert any(f"after INC-{first.incident_id} resolved" in t for t in await timeline(db, again.incident_id))


async def test_a_security_event_is_need_to_know(db, clock):
    opened = (await post(db, clock, batch(FIRING, extra={"category": "security"}))).groups[0]
    async with db.read() as session:
        incident = await session.get(Incident, opened.incident_id)
    assert incident.need_to_know and incident.home_conversation_id is None
    notes = await timeline(db, opened.incident_id)
    assert any(t.startswith("groups told: security") for t in notes)


async def test_a_truncated_webhook_never_resolves_the_group(db, clock):
    await post(db, clock, batch(FIRING, FIRING))
    truncated = replace(batch(RESOLVED, RESOLVED), truncated=5)  # 5 more alerts left out: they may still fire
    assert not (await post(db, clock, truncated)).groups[0].resolved_group
    assert (await post(db, clock, batch(RESOLVED, RESOLVED))).groups[0].resolved_group


async def test_alerts_without_a_group_key_group_by_route_and_service(db, clock):
    generic = PLAN.integration("generic")
    storm = AlertBatch(source="generic", alerts=tuple(
        Alert(dedup_key=f"job-{i}", status=FIRING, title=f"job {i} failed", severity="error") for i in range(300)))
    result = await post(db, clock, storm, integration=generic)
    assert len(result.groups) == 1 and result.groups[0].new == 300
    assert await count(db, Incident) == 1


async def test_flapping_holds_auto_resolve_so_it_never_pages_again(db, clock):
    auto = AM.model_copy(update={"auto_resolve": True})
    opened = (await post(db, clock, batch(FIRING), integration=auto)).groups[0]
    for status in (RESOLVED, FIRING, RESOLVED, FIRING, RESOLVED, FIRING, RESOLVED):
        clock.advance(minutes=2)
        await post(db, clock, batch(status), integration=auto)
    async with db.read() as session:
        incident = await session.get(Incident, opened.incident_id)
    # the first two resolves auto-resolve and each refire opens a linked incident; at the fourth
    # change within the hour the key is flapping: its incident opens without paging, and is no
    # longer resolved automatically, so later refires attach to it
    assert incident.status == "resolved"
    assert await count(db, Incident) == 3 and await count(db, Escalation) == 2


async def race(dbs: list[Database], clock, runs: int) -> None:
    """Each run: every database handle posts the same new group twice at once; one incident."""
    async with dbs[0].engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.create_all)
    try:
        for run in range(runs):
            b = batch(FIRING, FIRING, group=f"race-{run}")
            results = await asyncio.gather(*(post(d, clock, b) for d in dbs for _ in range(2)))
            incidents = {r.groups[0].incident_id for r in results}
            assert len(incidents) == 1 and None not in incidents
        assert await count(dbs[0], AlertGroup) == runs and await count(dbs[0], Incident) == runs
        assert await count(dbs[0], Escalation) == runs
    finally:
        for d in dbs:
            await d.dispose()


async def test_webhooks_racing_for_one_group_end_in_one_group_and_one_incident(tmp_path, clock):
    """Two processes (two engines on one SQLite file) post the same new group at once, many
    times over: the partial unique index, not luck, keeps one open group per key."""
    path = tmp_path / "race.db"
    await race([Database.from_url(f"sqlite:///{path}") for _ in range(2)], clock, runs=15)


async def test_the_unique_index_settles_a_create_that_lost_the_race(db, clock):
    """What a racer that did not see the winner's group meets: its insert fails on the partial
    unique index, inside a savepoint, and it carries on with the winner's group."""
    from storage import alert_store

    args = dict(integration_id="alertmanager", group_key="k" * 64, source_group_key="g", title="t", route="r",
                record_only=False, service_id=None, severity="sev1", labels={}, now=clock.now())
    async with db.write() as session:
        winner, created = await alert_store.create_group(session, **args)
        assert created
        loser, created = await alert_store.create_group(session, **args)  # as if it had not looked first
        assert not created and loser.id == winner.id
        session.add(AlertRecord(group_id=winner.id, dedup_key="still-usable", status="firing", title="t",
                                first_seen_at=clock.now(), last_seen_at=clock.now(), changed_at=clock.now()))
    assert await count(db, AlertGroup) == 1 and await count(db, AlertRecord) == 1  # the transaction went on


@pytest.mark.realpeer
async def test_webhooks_racing_for_one_group_on_postgres(postgres_url, clock):
    """On PostgreSQL both racers can miss each other's uncommitted group; the index decides."""
    url = await fresh_database(postgres_url)
    await race([Database.from_url(url) for _ in range(3)], clock, runs=10)


async def test_a_group_takes_its_most_severe_alert(db, clock):
    mixed = AlertBatch(source="alertmanager", group_key="mixed", alerts=(
        Alert(dedup_key="a", status=FIRING, title="warning first", severity="warning",
              labels={"service": "field-service-app"}),
        Alert(dedup_key="b", status=FIRING, title="critical second", severity="critical",
              labels={"service": "field-service-app"}),
        Alert(dedup_key="c", status=RESOLVED, title="resolved", severity="critical",
              labels={"service": "field-service-app"})))
    opened = (await post(db, clock, mixed)).groups[0]
    async with db.read() as session:
        incident = await session.get(Incident, opened.incident_id)
    assert (incident.severity, incident.title) == ("sev1", "critical second")


async def test_without_a_space_the_incident_manager_hears_of_the_resolve_in_their_chat(db, clock):
    from bot.domain import conversations, incidents
    from bot.domain.model import Actor, Role, Source
    from storage.outbox import OutboxMessage

    opened = (await post(db, clock, batch(FIRING))).groups[0]
    async with db.write() as session:
        await conversations.remember_person(session, aad_object_id="aad-tom", display_name="Tom Becker",
                                            email="tom.becker@contoso.com", now=clock.now())
        tom = Actor(aad_id="aad-tom", name="Tom Becker", email="tom.becker@contoso.com")
        await incidents.assign_role(session=session, plan=PLAN, incident_id=opened.incident_id,
                                    role=Role.INCIDENT_MANAGER, assignee=tom, actor=tom, source=Source.COMMAND,
                                    now=clock.now())
    await post(db, clock, batch(RESOLVED))
    async with db.read() as session:
        told = (await session.execute(select(OutboxMessage).where(OutboxMessage.key.like("alerts-resolved:%")))).scalars()
        told = list(told)
    assert [m.conversation_id for m in told] == ["user:aad-tom"]
    assert "All 1 alerts of INC-1 have resolved" in told[0].payload["text"]
