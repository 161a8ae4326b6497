import pytest

from tests.fakes.connector import FakeConnector
from tests.http.harness import start_harness
from tests.support import FakeClock


@pytest.fixture
async def connector():
    async with FakeConnector() as fc:
        yield fc


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
async def harness(tmp_path, connector, clock):
    h = await start_harness(tmp_path / "fb.db", connector, clock)
    yield h
    await h.client.close()
