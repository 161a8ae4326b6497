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


async def test_the_clock_wakes_the_tick_on_the_event_loop_even_in_debug_mode():
    import asyncio

    class Counting(Engine):
        ticks = 0

        async def tick(self, *, full: bool = True) -> None:
            Counting.ticks += full

    asyncio.get_running_loop().set_debug(True)  # refuses an Event set from another thread
    engine = Counting(service=None, clock=FakeClock(), interval_s=0.05)  # type: ignore[arg-type]
    engine.start()
    try:
        await asyncio.sleep(0.6)
    finally:
        engine._wake.set()  # a stuck clock must fail this test, not hang it
        await asyncio.wait_for(engine.stop(), 2)
    assert Counting.ticks >= 4
