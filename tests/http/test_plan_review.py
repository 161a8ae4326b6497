"""The plan's owner is told when its review is overdue: once the date passes, then weekly."""
from datetime import datetime, timezone

from app import ENGINE_TICK_KEY
from tests.http.test_paging import _known_in_teams


async def _look(harness):
    engine = harness.client.server.app[ENGINE_TICK_KEY]
    engine._watched_at = None  # the next tick looks now, not 30 s after the last look
    await engine.tick()


def _reminders(harness):
    return [t for t in harness.texts() if "was due for review" in t]


async def test_the_owner_is_told_when_the_review_is_overdue_then_weekly(harness, clock):
    await harness.bind_incidents_channel()
    await _known_in_teams(harness)  # Priya, the plan's owner, is known in Teams
    # example plan: last reviewed 2026-10-14, every 90 days: due 2027-01-12
    clock._now = datetime(2027, 1, 11, 23, 59, tzinfo=timezone.utc)
    await _look(harness)
    assert _reminders(harness) == []
    clock._now = datetime(2027, 1, 12, 0, 0, tzinfo=timezone.utc)
    await _look(harness)
    [told] = await harness.until(lambda: _reminders(harness))
    assert "**Contoso Field Service** (version 2026.4) was due for review on 2027-01-12 00:00 UTC" in told
    assert "last reviewed on 2026-10-14" in told
    [chat] = [r.json for r in harness.connector.find(method="POST", path=r"^/v3/conversations$")
              if (r.json or {}).get("members") == [{"id": "aad-priya"}]]
    assert chat["isGroup"] is False  # in Priya's 1:1 chat
    clock.advance(days=6)
    await _look(harness)
    await _look(harness)
    assert len(_reminders(harness)) == 1  # not again within the week
    clock.advance(days=1)
    await _look(harness)
    assert len(await harness.until(lambda: len(_reminders(harness)) == 2 and _reminders(harness))) == 2
