"""The alert tables are Core and their ORM classes load only on the alert paths (idle memory):
the idle app does not import them, new rows start at the same defaults as before, and the
incident card's alert section (Core statements) reads what the ORM did, in the same order."""
import json
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone

import pytest

from bot.domain.alert_summary import summary
from storage.alerts import AlertGroup, AlertRecord, AlertSilence
from tests.support import ROOT, sqlite_with_schema

NOW = datetime(2026, 11, 29, 14, 5, tzinfo=timezone.utc)


@pytest.fixture
async def db(tmp_path):
    database = await sqlite_with_schema(tmp_path / "rows.db")
    yield database
    await database.dispose()


def test_the_app_imports_no_alert_orm_at_start_up():
    code = """
        import sys
        import app
        print(sorted(m for m in ("storage.alerts", "storage.alert_store", "bot.domain.alerts") if m in sys.modules))
    """
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_sqlite_process_never_loads_the_postgresql_dialect():
    """2.3 MiB of idle memory: `pg_insert` imports and `postgresql_where` indexes load it
    (storage/inserts.py, storage/partial_indexes.py)."""
    code = """
        import sys
        import app
        from storage import outbox, queries, breach_clock, follow_ups, runbook_runs  # noqa: F401
        print(sorted(m for m in sys.modules if m.startswith("sqlalchemy.dialects.postgresql")))
    """
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_new_rows_start_at_the_column_defaults():
    group = AlertGroup(integration_id="am", group_key="k", source_group_key="k", title="t")
    assert (group.id, group.status, group.route, group.record_only, group.truncated, group.labels_json,
            group.incident_id, group.resolved_at) == (None, "open", "", False, 0, "{}", None, None)
    row = AlertRecord(group_id=1, dedup_key="d", status="firing", title="t")
    assert (row.labels_json, row.annotations_json, row.links_json, row.changes_json) == ("{}", "{}", "[]", "[]")
    assert (AlertSilence(matchers_json="{}").created_by_aad, AlertSilence(matchers_json="{}").created_by_name) == ("", "")
    with pytest.raises(TypeError, match="no column colour"):
        AlertGroup(colour="red")


def _alert(group_id: int, n: int, *, status="firing", url: str | None = None, payload: int | None = None) -> AlertRecord:
    links = [{"title": f"link {n}", "url": url}] if url else []
    return AlertRecord(group_id=group_id, dedup_key=f"fp-{n}", status=status, title=f"alert {n}",
                       labels_json=json.dumps({"alertname": "HighLatency", "instance": f"web-{n}"}),
                       links_json=json.dumps(links), first_seen_at=NOW, last_seen_at=NOW, changed_at=NOW,
                       payload_id=payload)


async def test_the_summary_reads_links_group_by_group_and_the_rows_of_its_own_transaction(db):
    async with db.write() as session:
        assert await summary(session, 7) is None  # declared by hand: no alert section
        first, second = (AlertGroup(integration_id="am", group_key=k, source_group_key=k, title=k, incident_id=7,
                                    first_seen_at=NOW, last_seen_at=NOW) for k in ("g1", "g2"))
        session.add_all([first, second])
        await session.flush()
        # ids interleave across the groups: the links still come group by group, oldest first
        session.add(_alert(first.id, 1, url="https://a.example/1", payload=3))
        await session.flush()
        session.add(_alert(second.id, 2, url="https://b.example/2", payload=4))
        await session.flush()
        session.add(_alert(first.id, 3, status="resolved", url="https://a.example/3", payload=5))
        second.flapping_since = NOW - timedelta(minutes=5)  # not flushed yet: the summary must see it
        seen = await summary(session, 7)
    assert [link.url for link in seen.links] == ["https://a.example/1", "https://a.example/3", "https://b.example/2"]
    assert (seen.firing, seen.resolved, seen.groups, seen.flapping, seen.payload_id) == (2, 1, 2, True, 5)
    assert seen.labels == (("alertname", "HighLatency"),)
