"""botbuilder `Storage` over the `bot_state` table: dialog and conversation state survive restarts.

botbuilder keeps dialog stacks and conversation state in a `Storage`; its `MemoryStorage`
forgets everything when the process stops, which would drop every half-finished triage
dialog on each deploy. This class keeps MemoryStorage's semantics and stores each item as
one row.

Semantics (those of MemoryStorage 4.17.1, where it has any):
- An item is a plain dict or any object (StoreItem, DialogState, ...). An item that carries
  an `e_tag` (dict key or attribute) is a "store item": each write gives it a new etag, which
  `read` returns in `e_tag`; writing it back with an older etag raises `EtagConflict` (a
  `KeyError`, as MemoryStorage raises). `e_tag` of `"*"` or `None` means last write wins; `""`
  is refused. An item written without `e_tag` is read back without one (C#/MemoryStorage
  behaviour), so botbuilder's `BotState` dicts are last-write-wins, exactly as in memory.
- Read and write copy: the caller never holds an object that aliases the stored one.
- Serialization is jsonpickle's `Pickler().flatten` / `Unpickler().restore`, the approach of
  botbuilder-azure's CosmosDbPartitionedStorage and BlobStorage, so `DialogState` and its
  `DialogInstance`s, prompts' `PromptOptions` and `Activity`s round-trip as real objects.
  The database is therefore trusted: whoever can write `bot_state` can make the bot build
  objects of its own choosing. Never store user-supplied jsonpickle text.

Deliberate differences, none of which botbuilder relies on:
- `read(None)` raises "Keys are required when reading" (botbuilder-testing's
  `StorageBaseTests` demands it of every storage other than Memory/Cosmos); `read([])` is `{}`.
- A batch `write` is one transaction: a conflict on one key writes none of them
  (MemoryStorage would have written the keys before it).
- A conditional write checks the row's etag even when the row was first written as a plain
  dict (MemoryStorage skips the check there; nobody can hold a matching etag for such a row).

Why the guarded SQL: two replicas (or a Teams retry racing the original turn) may write the
same key. Reading the etag and then writing would let both pass the check. Instead the etag
test is part of the write itself (`UPDATE ... WHERE key = :k AND etag = :old`, then the
rowcount says who won), and a first write is an INSERT whose primary-key violation (inside a
SAVEPOINT, so PostgreSQL's transaction survives it) means another writer got there first.
The database settles every race; nothing here holds a lock across an await.
"""
from __future__ import annotations

import json
import logging
import uuid
from typing import Any, Dict, Iterable, List, Optional

from botbuilder.core import Storage
from jsonpickle.pickler import Pickler
from jsonpickle.unpickler import Unpickler
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock, SystemClock
from storage.db import Database
from storage.models import BotState

log = logging.getLogger(__name__)

_TABLE = BotState.__table__
MAX_KEY_LENGTH = 500  # bot_state.key is VARCHAR(500); PostgreSQL enforces it, SQLite would not
_ETAG_FIELD = "e_tag"
_UPSERT_ATTEMPTS = 5  # an unconditional write only retries while rows vanish and reappear under it


class EtagConflict(KeyError):
    """A write carried an etag that is no longer the stored one: someone else wrote first."""

    def __init__(self, key: str, given: str, current: Optional[str]) -> None:
        # Same text as MemoryStorage's KeyError, plus the key, so logs say which state raced.
        super().__init__(
            "Etag conflict.\nOriginal: %s\r\nCurrent: %s\r\nKey: %s" % (given, current, key)
        )
        self.key = key
        self.given = given
        self.current = current


class DatabaseStorage(Storage):
    """botbuilder `Storage` kept in the `bot_state` table (SQLite or PostgreSQL)."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Optional[Clock] = None,
    ) -> None:
        super().__init__()
        self._db = db
        self._clock = clock or SystemClock()

    async def read(self, keys: Iterable[str]) -> Dict[str, Any]:
        """Load the items stored under `keys`; unknown keys are simply absent from the result."""
        if keys is None:
            raise Exception("Keys are required when reading")
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        async with self._db.read_rows() as session:
            rows = (
                await session.execute(
                    select(_TABLE.c.key, _TABLE.c.data_json, _TABLE.c.etag).where(
                        _TABLE.c.key.in_(wanted)
                    )
                )
            ).all()
        return {row.key: _decode(row.data_json, row.etag) for row in rows}

    async def write(self, changes: Dict[str, Any]) -> None:
        """Save items, honouring each item's `e_tag` (see the module docstring)."""
        if changes is None:
            raise Exception("Changes are required when writing")
        if not changes:
            return
        # Serialize before the first await: the caller may mutate its objects meanwhile.
        prepared = []
        for key, change in changes.items():
            if len(key) > MAX_KEY_LENGTH:
                raise ValueError(
                    f"DatabaseStorage.write(): key is {len(key)} characters; at most "
                    f"{MAX_KEY_LENGTH} fit bot_state.key ({key[:60]}...)"
                )
            given = _etag_of(change)
            if given == "":
                raise Exception("DatabaseStorage.write(): etag missing")
            prepared.append((key, given, _encode(change)))

        async with self._db.write() as session:
            for key, given, data_json in prepared:
                if given is None or given == "*":
                    await self._write_unconditionally(session, key, data_json)
                else:
                    await self._write_if_unchanged(session, key, given, data_json)

    async def delete(self, keys: Iterable[str]) -> None:
        """Remove items whatever their etag; unknown keys are ignored."""
        if keys is None:
            raise TypeError("Keys are required when deleting")
        doomed = list(dict.fromkeys(keys))
        if not doomed:
            return
        async with self._db.write() as session:
            await session.execute(delete(_TABLE).where(_TABLE.c.key.in_(doomed)))

    async def _write_unconditionally(self, session: AsyncSession, key: str, data_json: str) -> None:
        for _ in range(_UPSERT_ATTEMPTS):
            if await self._update(session, key, data_json, expected=None):
                return
            if await self._insert(session, key, data_json):
                return
            # Another writer inserted the key between our UPDATE and INSERT; update its row.
        raise RuntimeError(
            f"DatabaseStorage.write(): could not settle concurrent writes to {key!r}"
        )

    async def _write_if_unchanged(
        self, session: AsyncSession, key: str, given: str, data_json: str
    ) -> None:
        if await self._update(session, key, data_json, expected=given):
            return
        current = await _current_etag(session, key)
        if current is not None:
            raise EtagConflict(key, given, current)
        # No row: as in MemoryStorage, an item whose state was deleted may be written again.
        if not await self._insert(session, key, data_json):
            raise EtagConflict(key, given, await _current_etag(session, key))

    async def _update(
        self, session: AsyncSession, key: str, data_json: str, *, expected: Optional[str]
    ) -> bool:
        """UPDATE the row (only if its etag is `expected`, when given); True if a row changed."""
        stmt = update(_TABLE).where(_TABLE.c.key == key)
        if expected is not None:
            stmt = stmt.where(_TABLE.c.etag == expected)
        result = await session.execute(
            stmt.values(data_json=data_json, etag=_new_etag(), updated_at=self._clock.now())
        )
        return result.rowcount == 1

    async def _insert(self, session: AsyncSession, key: str, data_json: str) -> bool:
        """INSERT a first version of `key`; False if another writer created it first."""
        try:
            async with session.begin_nested():
                await session.execute(
                    insert(_TABLE).values(
                        key=key, data_json=data_json, etag=_new_etag(), updated_at=self._clock.now()
                    )
                )
        except IntegrityError:
            log.info("bot_state: concurrent first write to %r; settling by etag", key)
            return False
        return True


async def _current_etag(session: AsyncSession, key: str) -> Optional[str]:
    return (
        await session.execute(select(_TABLE.c.etag).where(_TABLE.c.key == key))
    ).scalar_one_or_none()


def _etag_of(item: Any) -> Optional[str]:
    if isinstance(item, dict):
        return item.get(_ETAG_FIELD)
    return getattr(item, _ETAG_FIELD, None)


def _new_etag() -> str:
    return uuid.uuid4().hex


def _encode(item: Any) -> str:
    flat = Pickler().flatten(item)
    if isinstance(flat, dict) and _ETAG_FIELD in flat:
        # Keep the field (it marks a store item) but not its value: the etag column is the truth.
        flat[_ETAG_FIELD] = None
    return json.dumps(flat, separators=(",", ":"))


def _decode(data_json: str, etag: str) -> Any:
    flat = json.loads(data_json)
    if isinstance(flat, dict) and _ETAG_FIELD in flat:
        flat[_ETAG_FIELD] = etag
    # safe=True: never eval a `py/repr` even if someone slipped one into the table.
    return Unpickler(safe=True).restore(flat)


__all__: List[str] = ["DatabaseStorage", "EtagConflict", "MAX_KEY_LENGTH"]
