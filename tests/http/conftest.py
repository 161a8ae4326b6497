import pytest

from tests.http.harness import start_harness


@pytest.fixture
async def harness(tmp_path, connector, clock):
    h = await start_harness(tmp_path / "fb.db", connector, clock)
    yield h
    await h.client.close()
