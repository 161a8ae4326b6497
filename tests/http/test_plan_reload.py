"""Reloading the response plan: `plan reload` by an admin, and the file watcher; a broken file
never replaces the plan in use, and the admins are told why."""
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from app import PLAN_KEY, PLAN_WATCH_KEY
from bot.domain.plan_reload import problems_text
from bot.plan import PlanProblem
from storage.models import AuditEvent
from tests.http.harness import start_harness
from tests.http.test_paging import _known_in_teams
from tests.support import EXAMPLE_PLAN

PRIYA = ("aad-priya", "Priya Raman")  # the plan's owner
AISHA = ("aad-aisha", "Aisha Patel")  # tier1, the incident manager's acting group; binds the incidents channel
MEGAN = ("aad-megan", "Megan Bowen")  # not in the plan

NEW_RUNBOOK = """runbooks:
  - id: azure-sql-failover
    name: Azure SQL failover
    team: platform
    steps:
      - title: Check the database's status
        instructions: In the Azure portal, open the scheduling database and read its health.
    bring_back:
      title: Fail back to the primary region
      instructions: Start a planned failover back to West Europe.
      check: The database reports West Europe as its primary.
"""


def _edit(path: Path, *pairs: tuple[str, str]) -> None:
    text = path.read_text(encoding="utf-8")
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new, 1)
    path.write_text(text, encoding="utf-8")


GOOD_CHANGE = (('version: "2026.4"', 'version: "2026.5"'), ("    name: Critical\n", "    name: Critical outage\n"),
               ("runbooks:\n", NEW_RUNBOOK))
BROKEN_CHANGE = (('version: "2026.4"', 'version: "2026.6"'), ("    owner_group: platform\n", "    owner_group: platfrom\n"),
                 ("    tier: critical\n", "    tier: gold\n"))


@pytest.fixture
def plan_file(tmp_path) -> Path:
    path = tmp_path / "plan.yaml"
    shutil.copyfile(EXAMPLE_PLAN, path)
    return path


@pytest.fixture
async def harness(tmp_path, connector, clock, plan_file):
    # the watch is driven by hand (poll) except in the test of the running loop
    h = await start_harness(tmp_path / "fb.db", connector, clock, FIREBREAK_PLAN=str(plan_file), FIREBREAK_PLAN_WATCH=0)
    yield h
    await h.client.close()


def _plan(harness):
    return harness.client.server.app[PLAN_KEY].current()


async def _audits(harness) -> list[AuditEvent]:
    async def rows(session):
        stmt = select(AuditEvent).where(AuditEvent.action.like("plan reload%")).order_by(AuditEvent.id)
        return list((await session.execute(stmt)).scalars())
    return await harness.service.read(rows)


async def _severity_label_on_a_new_card(harness) -> str:
    await harness.say("declare Payments API down sev1")
    card = harness.cards()[-1]
    return next(f["value"] for item in card["body"] if item["type"] == "FactSet"
                for f in item["facts"] if f["title"] == "Severity")


async def test_an_admin_reload_adopts_the_edited_file_and_the_next_command_uses_it(harness, plan_file):
    await _known_in_teams(harness)
    before = _plan(harness)
    _edit(plan_file, *GOOD_CHANGE)
    await harness.say("plan reload", user=PRIYA)
    assert harness.texts()[-1] == (
        f"Reloaded the response plan **Contoso Field Service** from `{plan_file}`; from now on every command and "
        "alert this replica handles uses it (other replicas read the file on their own, within "
        "`FIREBREAK_PLAN_WATCH` seconds).\n\n- version 2026.4 → 2026.5\n- runbooks 4 → 5\n- sections changed: plan, severities, runbooks")
    assert _plan(harness) is not before and _plan(harness).runbook("azure-sql-failover").name == "Azure SQL failover"
    assert await _severity_label_on_a_new_card(harness) == "SEV1 · Critical outage"
    [audit] = await _audits(harness)
    assert (audit.action, audit.actor_name) == ("plan reload (command)", "Priya Raman")
    assert '"version": "2026.4"' in audit.old_value and '"version": "2026.5"' in audit.new_value
    # reloading the same file again changes nothing and records nothing
    await harness.say("plan reload", user=AISHA)
    assert harness.texts()[-1] == f"`{plan_file}` says the same as the plan in use (version 2026.5); nothing changed."
    assert len(await _audits(harness)) == 1


async def test_a_broken_file_is_refused_with_its_problems_and_the_old_plan_stays(harness, plan_file):
    await _known_in_teams(harness)
    before = _plan(harness)
    _edit(plan_file, *BROKEN_CHANGE)
    await harness.say("plan reload", user=PRIYA)
    reply = harness.texts()[-1]
    assert reply.startswith(f"I did not reload the plan: `{plan_file}` has 2 problems, so the plan already loaded "
                            "(version 2026.4) stays in use.\n\n")
    assert "- `services[0].owner_group`: unknown group `platfrom` (did you mean `platform`?)" in reply
    assert "- `services[0].tier`: " in reply and "Fix: " in reply
    assert _plan(harness) is before
    assert await _severity_label_on_a_new_card(harness) == "SEV1 · Critical"
    assert await _audits(harness) == []


async def test_someone_who_is_not_an_admin_is_refused(harness, plan_file):
    before = _plan(harness)
    _edit(plan_file, *GOOD_CHANGE)
    await harness.say("plan reload", user=MEGAN)
    assert harness.texts()[-1] == ("Sorry Megan Bowen, only the plan owner (priya.raman@contoso.com) or a member of "
                                   "Tier 1 responders may reload the response plan.")
    assert _plan(harness) is before
    await harness.say("plan", user=PRIYA)
    assert "Say `plan reload`" in harness.texts()[-1] and _plan(harness) is before


def _told(harness) -> list[str]:
    return [t for t in harness.texts() if t.startswith("⚠️ The response plan file")]


async def test_the_watcher_reloads_a_valid_change_and_tells_the_admins_about_a_broken_one(harness, plan_file, connector):
    await harness.bind_incidents_channel()  # by Aisha
    await _known_in_teams(harness)  # Priya, the plan's owner, can be reached in Teams
    watch = harness.client.server.app[PLAN_WATCH_KEY]
    assert await watch.poll() is None  # nothing changed
    _edit(plan_file, *GOOD_CHANGE)
    assert await watch.poll() is None  # a change is seen; it must settle for one more look
    result = await watch.poll()
    assert result.ok and _plan(harness).plan.version == "2026.5"
    assert await watch.poll() is None
    assert harness.service.plan.severity("sev1").name == "Critical outage"  # what every command reads
    [audit] = await _audits(harness)
    assert (audit.action, audit.actor_name) == ("plan reload (file change)", "Firebreak (plan file changed)")
    sent_before = len(harness.sent())

    good = _plan(harness)
    _edit(plan_file, ('version: "2026.5"', 'version: "2026.6"'), ("    owner_group: platform\n", "    owner_group: platfrom\n"))
    await watch.poll()
    result = await watch.poll()
    assert not result.ok and _plan(harness) is good
    told = await harness.until(lambda: len(_told(harness)) == 2 and _told(harness))
    assert told[0].startswith(f"⚠️ The response plan file `{plan_file}` changed, but it has 1 problem, so I kept using "
                              "the plan already loaded (version 2026.5).")
    assert "`services[0].owner_group`: unknown group `platfrom`" in told[0]
    chats = [r.json["members"] for r in connector.find(method="POST", path=r"^/v3/conversations$")
             if (r.json or {}).get("isGroup") is False]
    assert sorted(m[0]["id"] for m in chats) == ["aad-aisha", "aad-priya"]  # each in their 1:1 chat
    # saved again unchanged (a touch): the same broken file is not told twice
    plan_file.write_text(plan_file.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    plan_file.write_text(plan_file.read_text(encoding="utf-8").rstrip("\n") + "\n", encoding="utf-8")
    await watch.poll()
    await watch.poll()
    assert len(_told(harness)) == 2
    assert len(harness.sent()) == sent_before + 2  # nothing else went out
    assert len(await _audits(harness)) == 1


async def test_the_watch_runs_with_the_app(tmp_path, connector, clock, plan_file):
    harness = await start_harness(tmp_path / "fb.db", connector, clock, FIREBREAK_PLAN=str(plan_file),
                                  FIREBREAK_PLAN_WATCH=0.05)
    try:
        _edit(plan_file, *GOOD_CHANGE)
        await harness.until(lambda: _plan(harness).plan.version == "2026.5")
    finally:
        await harness.client.close()
    assert harness.client.server.app[PLAN_WATCH_KEY]._task is None  # stopped with the app


def test_a_long_list_of_problems_is_cut_to_fit_one_message():
    problems = [PlanProblem(f"services[{i}].owner_group", "unknown group `x`", "use a known group") for i in range(500)]
    text = problems_text(problems, Path("plans/mine.yaml"))
    assert len(text) < 6200
    assert text.splitlines()[0] == "- `services[0].owner_group`: unknown group `x`. Fix: use a known group"
    shown = len(text.splitlines()) - 1
    assert text.splitlines()[-1] == (f"…and {500 - shown} more; run `python app.py plan check plans/mine.yaml` "
                                     "to see them all.")
