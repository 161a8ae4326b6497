"""The tick's liveness, as /readyz reports it."""
import time

from bot.engine import STALE_AFTER_S, Engine
from tests.support import FakeClock


def test_ticking_needs_a_recent_tick():
    engine = Engine(service=None, clock=FakeClock())  # type: ignore[arg-type]
    assert not engine.ticking()  # never started
    engine._alive_at = time.monotonic()
    assert engine.ticking()
    engine._alive_at = time.monotonic() - STALE_AFTER_S - 1
    assert not engine.ticking()
