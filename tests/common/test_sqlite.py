"""common.sqlite.Database: real SQLite files, real threads, several connections on one file."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.sqlite import Database, SchemaVersionError, split_statements

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (name TEXT PRIMARY KEY, value INTEGER NOT NULL);  -- a comment; with a semicolon
CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL);
INSERT OR IGNORE INTO counter VALUES (1, 0);
"""


class Interrupted(BaseException):
    """Not an Exception: like KeyboardInterrupt, without pytest treating it as one."""


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with Database(tmp_path / "test.sqlite3", SCHEMA) as opened:
        yield opened


def _rows_seen_by_another_connection(path: Path) -> list[tuple[str, int]]:
    other = sqlite3.connect(path)
    try:
        return other.execute("SELECT name, value FROM items ORDER BY name").fetchall()
    finally:
        other.close()


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# ---- transactions ---------------------------------------------------------------------------------


def test_transaction_commits(db: Database) -> None:
    with db.transaction() as conn:
        conn.execute("INSERT INTO items VALUES ('a', 1)")
        conn.execute("INSERT INTO items VALUES ('b', 2)")
    assert db.path is not None
    assert _rows_seen_by_another_connection(db.path) == [("a", 1), ("b", 2)]
    assert db.query("SELECT COUNT(*) FROM items") == [(2,)]


@pytest.mark.parametrize("error", [ValueError("boom"), Interrupted(), KeyboardInterrupt(), SystemExit(3)])
def test_any_exception_rolls_back_and_propagates(db: Database, error: BaseException) -> None:
    db.execute("INSERT INTO items VALUES ('kept', 0)")
    with pytest.raises(type(error)):
        with db.transaction() as conn:
            conn.execute("INSERT INTO items VALUES ('lost', 1)")
            conn.execute("UPDATE items SET value = 99 WHERE name = 'kept'")
            raise error
    assert db.path is not None
    assert _rows_seen_by_another_connection(db.path) == [("kept", 0)]
    with db.transaction() as conn:  # usable afterwards: nothing was left open
        conn.execute("INSERT INTO items VALUES ('next', 2)")
    assert db.query_one("SELECT value FROM items WHERE name = 'next'") == (2,)


def test_a_failed_statement_rolls_back_the_whole_transaction(db: Database) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        with db.transaction() as conn:
            conn.execute("INSERT INTO items VALUES ('a', 1)")
            conn.execute("INSERT INTO items VALUES ('a', 2)")  # primary key clash
    assert db.query("SELECT * FROM items") == []


def test_a_failed_commit_rolls_back(tmp_path: Path) -> None:
    schema = """
    CREATE TABLE IF NOT EXISTS parent (id INTEGER PRIMARY KEY);
    CREATE TABLE IF NOT EXISTS child (
        id INTEGER PRIMARY KEY,
        parent INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED
    );
    """
    with Database(tmp_path / "fk.sqlite3", schema) as db:
        db.execute("PRAGMA foreign_keys=ON")
        with pytest.raises(sqlite3.IntegrityError):
            with db.transaction() as conn:
                conn.execute("INSERT INTO child VALUES (1, 42)")  # checked only at COMMIT
        assert db.query("SELECT * FROM child") == []
        with db.transaction() as conn:
            conn.execute("INSERT INTO parent VALUES (42)")
            conn.execute("INSERT INTO child VALUES (1, 42)")
        assert db.query("SELECT * FROM child") == [(1, 42)]


def test_execute_and_query_join_the_threads_own_transaction(db: Database) -> None:
    with pytest.raises(ValueError):
        with db.transaction():
            db.execute("INSERT INTO items VALUES ('x', 1)")
            assert db.query("SELECT name FROM items") == [("x",)]
            raise ValueError
    assert db.query("SELECT name FROM items") == []


def test_transactions_do_not_nest(db: Database) -> None:
    with pytest.raises(sqlite3.ProgrammingError, match="nest"):
        with db.transaction() as conn:
            conn.execute("INSERT INTO items VALUES ('outer', 1)")
            with db.transaction():
                pass
    assert db.query("SELECT * FROM items") == []


def test_a_lone_statement_commits_on_its_own(db: Database) -> None:
    cursor = db.execute("INSERT INTO items VALUES ('solo', 7)")
    assert cursor.rowcount == 1
    assert db.path is not None
    assert _rows_seen_by_another_connection(db.path) == [("solo", 7)]


# ---- serialisation --------------------------------------------------------------------------------


def _increment(db: Database, inside: list[int], most_inside: list[int], guard: threading.Lock) -> None:
    with db.transaction() as conn:
        with guard:
            inside[0] += 1
            most_inside[0] = max(most_inside[0], inside[0])
        (n,) = conn.execute("SELECT n FROM counter").fetchone()
        time.sleep(0.002)  # widen the read-modify-write window
        conn.execute("UPDATE counter SET n = ?", (n + 1,))
        with guard:
            inside[0] -= 1


def test_transactions_from_threads_sharing_one_database_serialise(db: Database) -> None:
    inside, most_inside, guard = [0], [0], threading.Lock()
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        for _ in range(10):
            _increment(db, inside, most_inside, guard)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert db.query_one("SELECT n FROM counter") == (80,)  # no lost update
    assert most_inside == [1]  # never two transactions at once


def test_transactions_on_separate_connections_serialise(tmp_path: Path) -> None:
    """BEGIN IMMEDIATE takes SQLite's write lock: two Database objects (as two processes) lose no update."""
    path = tmp_path / "shared.sqlite3"
    first, second = Database(path, SCHEMA), Database(path, SCHEMA)
    inside, most_inside, guard = [0], [0], threading.Lock()

    def worker(db: Database) -> None:
        for _ in range(15):
            _increment(db, inside, most_inside, guard)

    threads = [threading.Thread(target=worker, args=(db,)) for db in (first, second, first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert first.query_one("SELECT n FROM counter") == (60,)
        assert most_inside == [1]
    finally:
        first.close()
        second.close()


# ---- files and pragmas ----------------------------------------------------------------------------


@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_database_wal_and_shm_files_are_private(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "private.sqlite3"
    previous = os.umask(umask)
    try:
        db = Database(path, SCHEMA)
    finally:
        os.umask(previous)
    try:
        db.execute("INSERT INTO items VALUES ('uid', 1)")
        wal, shm = path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")
        assert wal.exists() and shm.exists()
        assert {p.name: _mode(p) for p in (path, wal, shm)} == {
            path.name: 0o600,
            wal.name: 0o600,
            shm.name: 0o600,
        }
    finally:
        db.close()


def test_an_existing_loose_file_is_narrowed(tmp_path: Path) -> None:
    path = tmp_path / "loose.sqlite3"
    sqlite3.connect(path).close()
    path.chmod(0o644)
    with Database(path, SCHEMA):
        assert _mode(path) == 0o600


def test_wal_mode_and_synchronous_level(tmp_path: Path) -> None:
    path = tmp_path / "wal.sqlite3"
    with Database(path, SCHEMA) as db:
        assert db.journal_mode == "wal"
        assert db.query_one("PRAGMA synchronous") == (2,)  # FULL
    other = sqlite3.connect(path)
    assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)  # persistent in the file
    other.close()
    with Database(path, synchronous="normal") as db:
        assert db.query_one("PRAGMA synchronous") == (1,)
    with pytest.raises(ValueError):
        Database(path, synchronous="FULL; DROP TABLE items")


def test_connection_settings(db: Database) -> None:
    with db.transaction() as conn:
        assert conn.isolation_level is None
    done: list[object] = []
    thread = threading.Thread(target=lambda: done.append(db.query_one("SELECT 1")))  # check_same_thread=False
    thread.start()
    thread.join(10)
    assert done == [(1,)]


def test_schema_is_idempotent_and_versioned(tmp_path: Path) -> None:
    path = tmp_path / "versioned.sqlite3"
    with Database(path, SCHEMA, user_version=3) as db:
        db.execute("INSERT INTO items VALUES ('a', 1)")
    with Database(path, SCHEMA, user_version=3) as db:  # reopened: schema again, data kept
        assert db.query("SELECT * FROM items") == [("a", 1)]
        assert db.query_one("PRAGMA user_version") == (3,)
    with pytest.raises(SchemaVersionError, match="version 3, expected 4"):
        Database(path, SCHEMA, user_version=4)


def test_split_statements_keeps_semicolons_inside_statements() -> None:
    script = """
    CREATE TABLE t (a TEXT DEFAULT 'x;y');  -- trailing; comment
    CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET a = 'z;'; DELETE FROM t WHERE a = ''; END;
    """
    statements = split_statements(script)
    assert len(statements) == 2  # the comment leads the next statement
    assert "CREATE TRIGGER" in statements[1] and statements[1].endswith("END;")
    with pytest.raises(sqlite3.ProgrammingError):
        split_statements("CREATE TRIGGER tr AFTER INSERT ON t BEGIN DELETE FROM t;")  # no END
    with Database(":memory:", script) as db:
        db.execute("INSERT INTO t VALUES ('q')")
        assert db.query("SELECT a FROM t") == [("z;",)]


def test_close_is_idempotent_and_final(tmp_path: Path) -> None:
    db = Database(tmp_path / "closed.sqlite3", SCHEMA)
    db.close()
    db.close()
    assert db.closed
    with pytest.raises(sqlite3.ProgrammingError):
        db.query("SELECT 1")
    with pytest.raises(sqlite3.ProgrammingError):
        db.execute("SELECT 1")
    with pytest.raises(sqlite3.ProgrammingError):
        with db.transaction():
            pass


def test_missing_directory_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        Database(tmp_path / "missing" / "db.sqlite3")


def test_an_open_database_keeps_its_shm_lock_after_a_crash_so_no_other_process_rebuilds_the_shm(
    tmp_path: Path,
) -> None:
    """SQLite holds a shared lock on byte 128 of the -shm (the "DMS" lock) while a connection is open;
    a process that can take it exclusively believes itself alone and rebuilds the -shm, which kills
    the process that has it mapped with SIGBUS (found by the SIGKILL soak: `securemed doctor` next to
    a restarted service). Closing any descriptor of a file drops the process's locks on it (POSIX
    fcntl semantics), so Database must not open and close side files that SQLite already holds: the
    -wal and -shm left by a killed process are open and locked as soon as WAL mode is set."""
    import signal
    import subprocess
    import sys

    path = tmp_path / "x.sqlite3"
    writer = (
        "import sqlite3, sys, time\n"
        "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "c.execute('PRAGMA journal_mode=WAL'); c.execute('CREATE TABLE t (x)'); c.execute('INSERT INTO t VALUES (1)')\n"
        "print('written', flush=True); time.sleep(60)\n"
    )
    crashed = subprocess.Popen([sys.executable, "-c", writer, str(path)], stdout=subprocess.PIPE, text=True)
    assert crashed.stdout is not None and crashed.stdout.readline().strip() == "written"
    crashed.send_signal(signal.SIGKILL)
    crashed.wait(timeout=10)
    assert (tmp_path / "x.sqlite3-shm").exists()  # the crash leftovers a restart finds

    db = Database(path)
    db.execute("INSERT INTO t VALUES (2)")
    probe = (
        "import fcntl, os, sys\n"
        "fd = os.open(sys.argv[1], os.O_RDWR)\n"
        "try:\n"
        "    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 128)\n"
        "    print('taken')\n"
        "except OSError:\n"
        "    print('held')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path / "x.sqlite3-shm")], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "held"
    assert stat.S_IMODE((tmp_path / "x.sqlite3-shm").stat().st_mode) & 0o077 == 0
    db.close()
