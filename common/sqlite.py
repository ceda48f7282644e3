"""One SQLite connection the way every store of the appliance wants it: durable, private, serialised.

The spool index, the job queue, the re-identification mapping store and the envelope store all
open their file through `Database`:

    db = Database(path, SCHEMA)                 # WAL, synchronous=FULL, schema applied, mode 0600
    with db.transaction() as conn:              # BEGIN IMMEDIATE ... COMMIT, ROLLBACK on any exception
        row = conn.execute("SELECT ...").fetchone()
        conn.execute("UPDATE ...")
    db.execute("INSERT ...")                    # one statement, its own committed transaction
    rows = db.query("SELECT ...")               # fetchall() under the lock
    db.close()

Contract
--------
* Connection: ``check_same_thread=False`` (one object is shared by threads) and
  ``isolation_level=None`` (Python never opens or commits a transaction behind our back: a lone
  statement autocommits, `transaction()` is the only way to group statements). `timeout` is the
  busy timeout: how long a writer waits for another process's write lock before
  ``sqlite3.OperationalError: database is locked``.
* Durability: ``PRAGMA journal_mode=WAL`` (readers never block the writer) and
  ``PRAGMA synchronous=FULL`` unless told otherwise, so a statement or transaction that returned
  is on disk and survives a power cut. `journal_mode` tells what SQLite actually chose (a file
  system without shared memory may refuse WAL; SQLite then keeps its rollback journal, which
  is just as durable with FULL, and a warning is logged).
* Privacy: the database file is created with mode 0600 before SQLite opens it, and SQLite gives
  its -wal and -shm files the mode of the database file. An existing file (or -wal/-shm/-journal
  file) that is readable by group or others is narrowed to its owner's bits; a file this user
  does not own and cannot chmod keeps its mode. The umask is not touched: it is process-wide,
  and changing it would race with every other thread creating files.
* Schema: `schema` is applied once at open, inside one ``BEGIN IMMEDIATE`` transaction, so two
  processes opening the same new file do not trip over each other. Write it with
  ``CREATE ... IF NOT EXISTS``. With `user_version`, a file whose ``PRAGMA user_version`` is
  neither 0 (new) nor `user_version` raises `SchemaVersionError` before the schema is touched,
  and a new file is stamped with it.
* Serialisation: one re-entrant lock guards the connection. `transaction()` holds it from BEGIN to
  COMMIT/ROLLBACK, so transactions from threads sharing this object run one after the other, and
  ``BEGIN IMMEDIATE`` takes SQLite's write lock at the start, so transactions of other
  connections or processes are serialised against them too (a read-then-write inside one
  transaction cannot interleave with another writer). Inside a transaction the same thread may
  call `execute`/`query`; they join it. Transactions do not nest (``sqlite3.ProgrammingError``).
* Rollback: any exception leaving the ``with`` block, `BaseException` included
  (KeyboardInterrupt, SystemExit, GeneratorExit), rolls the transaction back and propagates. If
  COMMIT itself fails the transaction is rolled back as well.
* Errors: SQLite's own (`sqlite3.Error`) and, when the file cannot be created, `OSError`. Each
  store translates them into its typed errors. After `close()` (idempotent) every call raises
  ``sqlite3.ProgrammingError``.

Standard library only: `common` is the ground floor.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import stat
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["FILE_MODE", "Database", "SchemaVersionError", "split_statements"]

LOGGER = logging.getLogger("securemed.sqlite")

FILE_MODE = 0o600
"""Mode of a database file created here (and, by SQLite, of its -wal and -shm files)."""

_SIDE_FILES = ("-wal", "-shm", "-journal")
_SYNCHRONOUS = frozenset({"OFF", "NORMAL", "FULL", "EXTRA"})
_MEMORY = ":memory:"

Params = Sequence[Any]


class SchemaVersionError(sqlite3.DatabaseError):
    """The file was written by another schema version (its PRAGMA user_version is unexpected)."""

    def __init__(self, path: object, found: int, expected: int) -> None:
        super().__init__(f"{path} has schema version {found}, expected {expected}")
        self.found = found
        self.expected = expected


def split_statements(script: str) -> list[str]:
    """The complete SQL statements of `script`, in order (``;`` inside strings or triggers is kept)."""
    statements: list[str] = []
    buffer = ""
    for piece in script.split(";"):
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            if buffer.strip(" \t\r\n;"):
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip(" \t\r\n;"):
        raise sqlite3.ProgrammingError("schema script ends with an incomplete statement")
    return statements


def _narrow_mode(path: Path, *, create: bool) -> None:
    """Create `path` with FILE_MODE (if `create` and missing), or strip group/other bits from an
    existing file.

    An existing file is never opened here: closing any descriptor of a file drops every POSIX lock
    this process holds on it (fcntl semantics), including SQLite's locks on a live database's -shm.
    Another process (`securemed doctor`) would then believe itself alone, rebuild the -shm, and the
    service, which has it mapped, would die of SIGBUS. So existing files are chmod-ed by path."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        if not create:
            return
        try:
            os.close(os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_CREAT | os.O_EXCL, FILE_MODE))
            return
        except FileExistsError:  # created meanwhile by another process: narrow it below
            info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise sqlite3.OperationalError(f"{path} is a symbolic link")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        try:
            os.chmod(path, mode & 0o700)
        except PermissionError:
            LOGGER.warning("sqlite: %s is mode %o and not ours to chmod", path, mode)


class Database:
    """One shared SQLite connection with WAL, synchronous=FULL, mode 0600 and one lock.

    See the module docstring for the contract. `path` may be ":memory:" (no file, no WAL).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        schema: str = "",
        *,
        synchronous: str = "FULL",
        timeout: float = 30.0,
        user_version: int | None = None,
    ) -> None:
        level = synchronous.upper()
        if level not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {sorted(_SYNCHRONOUS)}, not {synchronous!r}")
        self.path: Path | None = None if os.fspath(path) == _MEMORY else Path(path)
        self._lock = threading.RLock()
        self._closed = False
        if self.path is not None:
            _narrow_mode(self.path, create=True)
        self._conn = sqlite3.connect(
            _MEMORY if self.path is None else self.path,
            timeout=timeout,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            self.journal_mode: str = str(self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]).lower()
            if self.path is not None and self.journal_mode != "wal":
                LOGGER.warning("sqlite: %s kept journal_mode=%s (WAL refused)", self.path, self.journal_mode)
            self._conn.execute(f"PRAGMA synchronous={level}")
            if self.path is not None:
                for suffix in _SIDE_FILES:
                    _narrow_mode(self.path.with_name(self.path.name + suffix), create=False)
            if schema or user_version is not None:
                self._apply_schema(schema, user_version)
        except BaseException:
            self._closed = True
            self._conn.close()
            raise

    def _apply_schema(self, schema: str, user_version: int | None) -> None:
        statements = split_statements(schema)
        with self.transaction() as conn:
            if user_version is not None:
                found = int(conn.execute("PRAGMA user_version").fetchone()[0])
                if found not in (0, user_version):
                    raise SchemaVersionError(self.path or _MEMORY, found, user_version)
            for statement in statements:
                conn.execute(statement)
            if user_version is not None:
                conn.execute(f"PRAGMA user_version={int(user_version)}")

    # ------------------------------------------------------------------ state

    @property
    def closed(self) -> bool:
        return self._closed

    def _connection(self) -> sqlite3.Connection:
        """The connection, for a caller holding the lock; ProgrammingError once closed."""
        if self._closed:
            raise sqlite3.ProgrammingError(f"database {self.path or _MEMORY} is closed")
        return self._conn

    def close(self) -> None:
        """Close the connection (waits for a transaction in another thread). Idempotent."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ statements

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` under the lock; ROLLBACK on any exception, then re-raise.

        Yields the connection; run the transaction's statements on it (or through execute/query,
        which join it). Does not nest.
        """
        with self._lock:
            conn = self._connection()
            if conn.in_transaction:
                raise sqlite3.ProgrammingError("Database.transaction() does not nest")
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise

    def execute(self, sql: str, params: Params = ()) -> sqlite3.Cursor:
        """Run one statement under the lock; outside a transaction it commits on its own.

        Returns the cursor for rowcount/lastrowid; read rows with query()/query_one() instead,
        which fetch them before the lock is released.
        """
        with self._lock:
            return self._connection().execute(sql, params)

    def query(self, sql: str, params: Params = ()) -> list[Any]:
        """All rows of one statement, fetched under the lock."""
        with self._lock:
            return self._connection().execute(sql, params).fetchall()

    def query_one(self, sql: str, params: Params = ()) -> Any | None:
        """The first row of one statement (None when there is none), fetched under the lock."""
        with self._lock:
            return self._connection().execute(sql, params).fetchone()
