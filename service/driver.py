"""Core statements compiled once, run on the database driver's own cursor (the verification hot path).

SQLAlchemy's ``Connection.execute`` spends about 50 µs of Python per statement
(execution context, events, result set-up) around the driver's 5–10 µs on
SQLite; a verification runs about ten statements, so that was a third of its
cost. Here each statement is still written once, as a SQLAlchemy Core
construct against the models, and compiled once per dialect; its parameters and
results go through the same type processing the column types define
(``TypeEngine.dialect_impl(...).bind_processor`` / ``result_processor``), and
only the execution itself is the driver's (``sqlite3``, ``psycopg``).

On PostgreSQL the statements of a transaction travel together (see
:class:`DriverConnection`): each is prepared once per connection and the
transaction is sent as ``BEGIN; EXECUTE …; COMMIT`` in as few multi-statement
queries as its reads allow (two for the verification).

Driver errors are translated: a lost or locked database is
``database-unavailable`` (503, retryable), and a lost connection is discarded
from the pool, not reused.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any, cast

from sqlalchemy import Engine
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import Select

from service.errors import DatabaseUnavailable

Processor = Callable[[Any], Any]
PREPARED_INFO = "lethe.prepared"  # in a pooled connection's info: the statement names PREPAREd on it
CLIENT_INFO = "lethe.client"  # and the psycopg ClientCursor its transactions are sent with


class Prepared:
    """One Core statement compiled for one dialect, with its bind and result processors.

    On PostgreSQL it is also compiled with ``$n`` parameters (``server_sql``, in
    ``server_order``) for a server-side ``PREPARE`` under the name ``name``.
    """

    def __init__(self, statement: ClauseElement, dialect: Dialect, name: str) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        self.sql: str = compiled.string
        self.name = name
        self._order: Sequence[str] | None = compiled.positiontup if dialect.positional else None
        self.server_sql = ""
        self.server_order: Sequence[str] = ()
        if dialect.name == "postgresql":
            numbered = cast(SQLCompiler, statement.compile(dialect=type(dialect)(paramstyle="numeric_dollar")))  # type: ignore[call-arg]
            self.server_sql, self.server_order = numbered.string, numbered.positiontup or ()
        self._fixed: dict[str, Any] = {}  # the literals the statement binds itself ("open", "used", ...)
        self._bind: dict[str, Processor] = {}
        for name, bind in compiled.binds.items():
            if not bind.required:
                self._fixed[name] = bind.effective_value
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                self._bind[name] = processor
        self.is_read = isinstance(statement, Select)
        # known here, so no cursor.description is asked for (psycopg builds a Column object per column for it)
        self.returns_rows = self.is_read or bool(compiled.effective_returning)
        columns = list(statement.selected_columns) if isinstance(statement, Select) else []
        self._row: Any = namedtuple("Row", [str(c.key) for c in columns], rename=True)  # type: ignore[misc]
        processors = [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns]
        self._result = [(i, p) for i, p in enumerate(processors) if p is not None]  # most columns have none

    def parameters(self, values: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        merged = self._fixed | dict(values)
        for name, processor in self._bind.items():
            merged[name] = processor(merged[name])
        return merged if self._order is None else [merged[name] for name in self._order]

    def server_parameters(self, values: Mapping[str, Any]) -> list[Any]:
        """The values for ``EXECUTE name(...)``, in ``server_order``."""
        merged = self.parameters(values)
        assert isinstance(merged, dict)
        return [merged[name] for name in self.server_order]

    def row(self, raw: Sequence[Any]) -> Any:
        """``raw`` with each column's result processing, as a named tuple (``row.status``)."""
        values = list(raw)
        for index, processor in self._result:
            values[index] = processor(values[index])
        return self._row._make(values)


class Statements:
    """Core statements, each compiled on first use for one engine's dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._compiled: dict[int, tuple[ClauseElement, Prepared]] = {}

    def __call__(self, statement: ClauseElement) -> Prepared:
        found = self._compiled.get(id(statement))
        if found is None:  # the statement itself is kept too, so its id is never reused for another
            prepared = Prepared(statement, self._dialect, f"lethe_{len(self._compiled)}")
            found = self._compiled[id(statement)] = (statement, prepared)
        return found[1]


class Result:
    """What one statement returned: its row count and rows, already processed by the column types."""

    def __init__(self, prepared: Prepared, pending: Callable[[], None] | None = None) -> None:
        self._prepared = prepared
        self._pending = pending  # on PostgreSQL: sends the queued statements (see DriverConnection)
        self._rowcount = -1
        self._rows: list[Any] | None = None

    @property
    def returns_rows(self) -> bool:
        return self._prepared.returns_rows

    def _fill(self, rowcount: int, rows: list[Any]) -> None:
        self._rowcount, self._rows, self._pending = rowcount, [self._prepared.row(r) for r in rows], None

    def _ready(self) -> list[Any]:
        if self._pending is not None:
            self._pending()
        if self._rows is None:
            raise RuntimeError("the statement did not run (an earlier one in its batch failed)")
        return self._rows

    @property
    def rowcount(self) -> int:
        self._ready()
        return self._rowcount

    def all(self) -> list[Any]:
        return self._ready()

    def first(self) -> Any:
        rows = self._ready()
        return rows[0] if rows else None

    def scalar(self) -> Any:
        row = self.first()
        return None if row is None else row[0]


class DriverConnection:
    """A pooled driver connection. Statements outside :meth:`transaction` run in autocommit, each its own snapshot.

    On SQLite every statement runs when :meth:`run` is called. On PostgreSQL a
    statement outside a transaction does too (bound on the server, prepared by
    psycopg after a few uses: the verification's five-table read costs the
    server ~100 µs so, ~540 µs when planned every time). Inside a transaction a
    statement is queued as ``EXECUTE name(…)`` of a statement prepared (``PREPARE``) once
    per connection, its values bound on the client by psycopg's own quoting
    (``ClientCursor.mogrify``, one call per batch); the queue goes to the server
    as one multi-statement query when a result is first read or the transaction
    commits, so the verification's write is two round trips, ``BEGIN`` and
    ``COMMIT`` included. Measured against one round trip per statement (eight
    inserts and a commit, loopback): 108–131 µs of client CPU against 284–436 µs
    (psycopg's pipeline mode: 290–315 µs); preparing took the write's server
    CPU from ~550 to ~250 µs.
    """

    def __init__(self, engine: Engine, statements: Statements) -> None:
        self._engine = engine
        self._statements = statements
        self._dbapi = engine.dialect.loaded_dbapi
        self._postgres = engine.dialect.name == "postgresql"
        self._queue: list[tuple[str, Result | None]] = []  # SQL with %s for the arguments, and its result
        self._prepares: list[str] = []  # PREPAREs the queue needs first (no %s: never passed to mogrify)
        self._arguments: list[Any] = []  # the queue's arguments, in order
        self._queueing = False
        self._client: Any = None
        self._raw: Any = None
        self._driver: Any = None
        self._checkout()

    def _checkout(self) -> None:
        try:
            self._raw = self._engine.raw_connection()
        except (DBAPIError, self._dbapi.Error) as exc:  # the pool passes the driver's own connection errors through
            raise DatabaseUnavailable() from exc
        self._driver = self._raw.driver_connection
        self._fresh = True  # no statement has gone through this checkout yet
        if self._postgres:
            from psycopg import ClientCursor

            if not self._driver.autocommit:  # the engine's connections are (BEGIN and COMMIT are sent explicitly)
                self._raw.close()
                raise RuntimeError("the hot path's PostgreSQL engine must be made with isolation_level='AUTOCOMMIT'")
            self._client = self._raw.info.get(CLIENT_INFO)
            if self._client is None:
                self._client = self._raw.info[CLIENT_INFO] = ClientCursor(self._driver)

    def run(self, statement: ClauseElement, values: Mapping[str, Any] | None = None) -> Result:
        """Run ``statement`` with ``values`` for its named bind parameters (in a PostgreSQL transaction: queue it)."""
        prepared = self._statements(statement)
        if not self._queueing:
            cursor = self._execute(prepared, prepared.parameters(values or {}))
            result = Result(prepared)
            result._fill(cursor.rowcount, cursor.fetchall() if prepared.returns_rows else [])
            return result
        result = Result(prepared, self._flush)
        prepared_here: set[str] = self._raw.info.setdefault(PREPARED_INFO, set())
        if prepared.name not in prepared_here:
            self._prepares.append(f"PREPARE {prepared.name} AS {prepared.server_sql}")
            prepared_here.add(prepared.name)
        arguments = prepared.server_parameters(values or {})
        placeholders = ", ".join(["%s"] * len(arguments))
        self._queue.append(
            (f"EXECUTE {prepared.name}({placeholders})" if arguments else f"EXECUTE {prepared.name}", result)
        )
        self._arguments.extend(arguments)
        return result

    def _execute(self, prepared: Prepared, parameters: Any) -> Any:
        """Run now. A pooled connection the server has dropped (a restart) fails on its first use: rather than a
        ping before every checkout (a round trip per request), a read that is a checkout's first statement is
        run once more on a new connection."""
        try:
            cursor = self._driver.execute(prepared.sql, parameters)
        except (self._dbapi.OperationalError, self._dbapi.InterfaceError) as exc:
            if not (self._fresh and prepared.is_read and self.disconnected(exc)):
                raise
            self.release()
            self._checkout()
            cursor = self._driver.execute(prepared.sql, parameters)
        self._fresh = False
        return cursor

    def _flush(self) -> None:
        """Send the queue as one query: the new ``PREPARE`` statements first, then the rest, bound in one call."""
        queued, prepares, arguments = self._queue, self._prepares, self._arguments
        self._queue, self._prepares, self._arguments = [], [], []
        if not queued:
            return
        cursor = self._client
        cursor.execute("; ".join([*prepares, cursor.mogrify("; ".join(sql for sql, _ in queued), arguments)]))
        for _ in prepares:
            cursor.nextset()
        for index, (_, result) in enumerate(queued):
            if index:
                cursor.nextset()
            if result is not None:
                result._fill(cursor.rowcount, cursor.fetchall() if result.returns_rows else [])

    @contextmanager
    def transaction(self, begin: str = "BEGIN") -> Iterator[DriverConnection]:
        """One transaction: committed when the block ends without error, rolled back otherwise.

        ``begin`` opens it (SQLite: ``BEGIN IMMEDIATE``); on PostgreSQL it is
        queued with the first statements and the ``COMMIT`` with the last.
        """
        self._fresh = False  # a statement in a transaction is never run twice
        try:
            if self._client is None:
                self._driver.execute(begin)
                yield self
                self._driver.commit()
            else:
                self._queueing = True
                self._queue.append((begin, None))
                yield self
                self._queue.append(("COMMIT", None))
                self._flush()
        except BaseException:
            self._queue, self._prepares, self._arguments = [], [], []
            with suppress(self._dbapi.Error):  # a connection that went away cannot roll back; the error says why
                self._driver.rollback()
                if self._client is not None and self._raw.info.pop(PREPARED_INFO, None):
                    self._driver.execute("DEALLOCATE ALL")  # a failed batch may have skipped a PREPARE: start over
            raise
        finally:
            self._queueing = False

    def disconnected(self, exc: Exception) -> bool:
        """Whether ``exc`` says the connection is gone; if so it is discarded from the pool, not reused."""
        if not self._engine.dialect.is_disconnect(exc, self._driver, None):  # type: ignore[arg-type]
            return False
        self._raw.invalidate(exc)
        return True

    def release(self) -> None:
        """Hand the connection back to the pool (its client cursor stays with it, in its ``info``)."""
        self._raw.close()


@contextmanager
def connect(engine: Engine, statements: Statements) -> Iterator[DriverConnection]:
    """Check a driver connection out of ``engine``'s pool for the block; translate the driver's errors."""
    conn = DriverConnection(engine, statements)
    dbapi = engine.dialect.loaded_dbapi
    try:
        yield conn
    except (dbapi.OperationalError, dbapi.InterfaceError) as exc:
        conn.disconnected(exc)
        raise DatabaseUnavailable() from exc
    finally:
        conn.release()
