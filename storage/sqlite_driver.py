"""SQLAlchemy's aiosqlite dialect, with one worker-thread hop per statement instead of four.

Stock `sqlite+aiosqlite` (SQLAlchemy 2.1, aiosqlite 0.22) runs each statement as separate
trips to aiosqlite's thread: create cursor, execute, fetchall, close. Each trip queues
work, wakes the thread, and wakes the event loop again. A Firebreak turn runs about ten
statements, so that was some 40 trips and several milliseconds of CPU per turn. This
cursor does the whole statement (cursor, execute, fetch, close) in one function on
aiosqlite's thread.

Results and behaviour are unchanged: same SQLite connection, same thread, same
transaction handling. Only the number of trips changes. It uses aiosqlite's
`Connection._execute` (queue a function on the connection's thread) and `_conn`, which are
stable in the pinned aiosqlite 0.22.1. `tests/unit/test_sqlite_driver.py` checks the
behaviour the rest of the code relies on.

Registered as `sqlite+firebreak`; `storage.db.async_url` selects it for every SQLite URL.
"""
from __future__ import annotations

import collections
import sqlite3
from typing import Any

from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_cursor
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_dbapi,
    SQLiteDialect_aiosqlite,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_


def _run_statement(conn: sqlite3.Connection, begin: str | None, operation: str, parameters: Any, many: bool):
    """Runs on aiosqlite's thread: the pending BEGIN, if any, and the whole statement in one go."""
    if begin is not None:
        conn.execute(begin)
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        rows = cursor.fetchall() if cursor.description else None
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class OneHopCursor(AsyncAdapt_dbapi_cursor):
    """A DBAPI cursor facade whose every statement is a single trip to the SQLite thread."""

    __slots__ = ("_description", "_rowcount", "_lastrowid")
    _awaitable_cursor_close = False

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        # No aiosqlite cursor is created here: the sqlite3 cursor lives only inside
        # `_run_statement`, on the connection's own thread.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description = None
        self._rowcount = -1
        self._lastrowid = None

    @property
    def description(self):
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self):
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        pass

    async def _run(self, operation: str, parameters: Any, many: bool) -> None:
        connection = self._connection
        async with self._adapt_connection._execute_mutex:
            begin = self._adapt_connection.take_pending_begin()
            description, rowcount, lastrowid, rows = await connection._execute(
                _run_statement, connection._conn, begin, operation, parameters, many
            )
        self._description = description
        self._rowcount = rowcount
        self._lastrowid = lastrowid
        self._rows = collections.deque(rows or ())

    async def _execute_async(self, operation: str, parameters: Any) -> Any:
        await self._run(operation, parameters, False)

    async def _executemany_async(self, operation: str, seq_of_parameters: Any) -> Any:
        await self._run(operation, seq_of_parameters, True)

    async def _async_soft_close(self) -> None:
        return None

    def close(self) -> None:
        self._rows.clear()

    def nextset(self) -> None:
        return None


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    """Also defers BEGIN to the transaction's first statement, saving a trip per transaction."""

    __slots__ = ("_pending_begin",)
    _cursor_cls = OneHopCursor

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self._pending_begin: str | None = None

    def begin_with_next_statement(self, statement: str) -> None:
        """Send `statement` (e.g. BEGIN IMMEDIATE) just before the next statement."""
        self._pending_begin = statement

    def take_pending_begin(self) -> str | None:
        begin, self._pending_begin = self._pending_begin, None
        return begin

    def commit(self) -> None:
        if self.take_pending_begin() is None:  # a transaction that ran nothing has nothing to commit
            super().commit()

    def rollback(self) -> None:
        if self.take_pending_begin() is None:
            super().rollback()


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        connection = self.aiosqlite.connect(*arg, **kw)
        connection._thread.daemon = True
        return OneHopConnection(self, await_(connection))


class OneHopSQLiteDialect(SQLiteDialect_aiosqlite):
    driver = "firebreak"
    supports_statement_cache = True
    supports_server_side_cursors = False

    @classmethod
    def import_dbapi(cls) -> OneHopDBAPI:
        return OneHopDBAPI(__import__("aiosqlite"), __import__("sqlite3"))


registry.register("sqlite.firebreak", __name__, "OneHopSQLiteDialect")
