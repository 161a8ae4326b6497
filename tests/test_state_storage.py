"""DatabaseStorage: botbuilder's own storage contract, dialog state across a restart, races.

botbuilder-testing's StorageBaseTests is the contract every botbuilder storage passes (see
botbuilder's test_memory_storage.py); the rest shows what the database adds: state that
outlives the process, and etag checks that hold between processes.
"""
from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from botbuilder.core import ConversationState, StoreItem, TurnContext
from botbuilder.core.adapters import TestAdapter
from botbuilder.dialogs import (
    DialogSet,
    DialogTurnStatus,
    PromptOptions,
    TextPrompt,
    WaterfallDialog,
    WaterfallStepContext,
)
from botbuilder.schema import Activity
from botbuilder.testing.storage_base_tests import StorageBaseTests

from bot.teams.state_storage import DatabaseStorage, EtagConflict
from storage.db import Database, create_engine
from storage.migrate import upgrade_to_head as upgrade

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def migrated_template(tmp_path_factory) -> Path:
    """One migrated database per module; each test copies it (Alembic per test is slow)."""
    path = tmp_path_factory.mktemp("state-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def db_url(migrated_template, tmp_path) -> str:
    path = tmp_path / "state.db"
    shutil.copyfile(migrated_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
async def open_storage(db_url):
    """Factory: a DatabaseStorage with its own engine, as a separate process would have."""
    engines = []

    def _open() -> DatabaseStorage:
        engine = create_engine(db_url)
        engines.append(engine)
        return DatabaseStorage(Database(engine))

    yield _open
    for engine in engines:
        await engine.dispose()


@pytest.fixture
def storage(open_storage) -> DatabaseStorage:
    return open_storage()


# --- botbuilder-testing's StorageBaseTests, every method, as test_memory_storage.py runs them ---

BASE_TESTS = sorted(
    name
    for name, member in vars(StorageBaseTests).items()
    if isinstance(member, staticmethod) and not name.startswith("_")
)


def test_base_suite_is_complete():
    """If botbuilder-testing grows a test, this list (and so the run below) grows with it."""
    assert len(BASE_TESTS) >= 11
    assert "proceeds_through_waterfall" in BASE_TESTS


@pytest.mark.parametrize("name", BASE_TESTS)
async def test_storage_base_tests(storage, name):
    assert await getattr(StorageBaseTests, name)(storage) is True


# --- semantics beyond the base suite ---


async def test_store_item_gets_new_etag_each_write_and_stale_etag_is_refused(storage):
    await storage.write({"k": StoreItem(count=1, e_tag="*")})
    first = (await storage.read(["k"]))["k"]
    assert isinstance(first, StoreItem) and first.count == 1 and first.e_tag not in (None, "*")

    first.count = 2
    await storage.write({"k": first})
    second = (await storage.read(["k"]))["k"]
    assert second.count == 2 and second.e_tag != first.e_tag

    first.count = 99  # first.e_tag is now stale
    with pytest.raises(KeyError, match="Etag conflict") as err:
        await storage.write({"k": first})
    assert isinstance(err.value, EtagConflict)
    assert (await storage.read(["k"]))["k"].count == 2

    first.e_tag = "*"  # wildcard: last write wins
    await storage.write({"k": first})
    assert (await storage.read(["k"]))["k"].count == 99


async def test_plain_dict_stays_without_etag(storage):
    await storage.write({"poco": {"n": 1}})
    assert (await storage.read(["poco"]))["poco"] == {"n": 1}


async def test_copies_never_alias_what_is_stored(storage):
    item = {"nested": {"list": [1, 2]}, "e_tag": "*"}
    await storage.write({"k": item})
    item["nested"]["list"].append(3)  # the caller keeps mutating its own object
    assert item["e_tag"] == "*"  # and write did not touch it

    read1 = (await storage.read(["k"]))["k"]
    read1["nested"]["list"].append(4)
    read2 = (await storage.read(["k"]))["k"]
    assert read2["nested"]["list"] == [1, 2]
    assert read1 is not read2


async def test_conflict_in_a_batch_writes_nothing(storage):
    await storage.write({"a": {"v": 1, "e_tag": "*"}, "b": {"v": 1, "e_tag": "*"}})
    items = await storage.read(["a", "b"])
    await storage.write({"b": dict(items["b"], v=2)})  # b's etag moves on
    with pytest.raises(EtagConflict):
        await storage.write({"a": dict(items["a"], v=3), "b": dict(items["b"], v=3)})
    after = await storage.read(["a", "b"])
    assert (after["a"]["v"], after["b"]["v"]) == (1, 2)


async def test_deleted_item_may_be_written_again_with_its_old_etag(storage):
    # MemoryStorage checks etags only against an existing item; so do we.
    await storage.write({"k": {"v": 1, "e_tag": "*"}})
    item = (await storage.read(["k"]))["k"]
    await storage.delete({"k"})  # BotState.delete passes a set
    await storage.write({"k": dict(item, v=2)})
    assert (await storage.read(["k"]))["k"]["v"] == 2


async def test_refuses_keys_longer_than_the_column(storage):
    with pytest.raises(ValueError, match="at most 500"):
        await storage.write({"x" * 501: {"v": 1}})


async def test_state_is_in_the_database_not_the_object(open_storage):
    await open_storage().write({"k": {"v": 1, "e_tag": "*"}})
    assert (await open_storage().read(["k"]))["k"]["v"] == 1


# --- dialog state survives a restart ---


def _build_bot(storage: DatabaseStorage, replies: list[str]):
    """One 'process': ConversationState + DialogSet over `storage`, and its turn handler."""
    convo_state = ConversationState(storage)
    dialogs = DialogSet(convo_state.create_property("dialogState"))

    async def ask_name(step: WaterfallStepContext):
        replies.append("step1")
        return await step.prompt(
            TextPrompt.__name__, PromptOptions(prompt=Activity(type="message", text="Your name?"))
        )

    async def greet(step: WaterfallStepContext):
        replies.append("step2")
        await step.context.send_activity(f"Hello {step.result}")
        return await step.end_dialog(step.result)

    dialogs.add(TextPrompt(TextPrompt.__name__))
    dialogs.add(WaterfallDialog("intake", [ask_name, greet]))

    async def on_turn(turn_context: TurnContext) -> None:
        dialog_context = await dialogs.create_context(turn_context)
        result = await dialog_context.continue_dialog()
        if result.status == DialogTurnStatus.Empty:
            await dialog_context.begin_dialog("intake")
        await convo_state.save_changes(turn_context)

    return on_turn


async def test_waterfall_resumes_at_step_two_after_restart(open_storage):
    before: list[str] = []
    adapter = TestAdapter(_build_bot(open_storage(), before))
    await (await adapter.send("start")).assert_reply("Your name?")
    assert before == ["step1"]

    # "Restart": new storage, engine, ConversationState, DialogSet and adapter; same DB file.
    after: list[str] = []
    adapter2 = TestAdapter(_build_bot(open_storage(), after))
    await (await adapter2.send("Kyle")).assert_reply("Hello Kyle")
    assert after == ["step2"]  # resumed at step 2; step 1 did not run again

    # The dialog ended, so the next message starts a fresh one.
    await (await adapter2.send("again")).assert_reply("Your name?")


# --- races ---


async def test_two_writers_same_old_etag_exactly_one_wins(open_storage):
    first, second = open_storage(), open_storage()
    await first.write({"k": {"owner": "nobody", "e_tag": "*"}})
    seen_a = (await first.read(["k"]))["k"]
    seen_b = (await second.read(["k"]))["k"]
    assert seen_a["e_tag"] == seen_b["e_tag"]

    results = await asyncio.gather(
        first.write({"k": dict(seen_a, owner="a")}),
        second.write({"k": dict(seen_b, owner="b")}),
        return_exceptions=True,
    )
    failures = [r for r in results if isinstance(r, Exception)]
    assert len(failures) == 1 and isinstance(failures[0], EtagConflict)
    winner = "a" if results[0] is None else "b"
    assert (await open_storage().read(["k"]))["k"]["owner"] == winner


async def test_first_write_race_is_settled_by_the_primary_key(open_storage, monkeypatch):
    """Make our UPDATE miss a row another writer just inserted, forcing the INSERT path."""
    other, ours = open_storage(), open_storage()
    await other.write({"k": {"v": "other", "e_tag": "*"}})
    real_update = DatabaseStorage._update

    async def update_that_misses_once(self, session, key, data_json, *, expected):
        if self is ours and not getattr(self, "_missed", False):
            self._missed = True
            return False
        return await real_update(self, session, key, data_json, expected=expected)

    monkeypatch.setattr(DatabaseStorage, "_update", update_that_misses_once)
    await ours.write({"k": {"v": "ours", "e_tag": "*"}})  # IntegrityError -> update its row
    assert (await other.read(["k"]))["k"]["v"] == "ours"

    ours._missed = False  # a conditional first write that loses the INSERT race conflicts
    with pytest.raises(EtagConflict):
        await ours.write({"new": {"v": 1, "e_tag": "stale"}, "k": {"v": "x", "e_tag": "stale"}})


_INCREMENTER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from bot.teams.state_storage import DatabaseStorage, EtagConflict
    from storage.db import Database, create_engine

    async def main(url, rounds, barrier, me):
        engine = create_engine(url)
        storage = DatabaseStorage(Database(engine))
        # Start together (imports take a while) so the two loops really interleave.
        Path(barrier, me).touch()
        while len(list(Path(barrier).iterdir())) < 2:
            await asyncio.sleep(0.01)
        conflicts = 0
        for _ in range(rounds):
            while True:
                item = (await storage.read(["counter"]))["counter"]
                item["n"] += 1
                try:
                    await storage.write({"counter": item})
                    break
                except EtagConflict:
                    conflicts += 1
        await engine.dispose()
        print(conflicts)

    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]))
    """
)


async def test_two_processes_never_lose_an_update(storage, db_url, tmp_path):
    """Read-modify-write from two OS processes: every increment lands exactly once."""
    await storage.write({"counter": {"n": 0, "e_tag": "*"}})
    rounds = 25
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", _INCREMENTER, db_url, str(rounds), str(barrier), f"p{i}",
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        for i in range(2)
    ]
    outputs = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in procs)), 120)
    for proc, (_out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err.decode()
    conflicts = sum(int(out) for out, _err in outputs)
    print(f"etag conflicts retried across the two processes: {conflicts}")
    assert (await storage.read(["counter"]))["counter"]["n"] == 2 * rounds
