"""Durable store of sealed envelopes (SQLite in WAL mode), shared by the pipeline and the server.

Contract
--------
* `put` is idempotent by (recipient id, report id): the first envelope wins,
  a repeat returns False (a re-sealed retry has different ciphertext but is
  the same report). The same report id may be stored once per recipient. A
  repeat naming a different study pseudonym raises `StoreConflict`.
* `list_for`, `get` and `ack` only ever touch rows of the given recipient;
  anybody else's report id is `ReportNotFound`, like an unknown one.
* `ack` is idempotent and keeps the time of the first acknowledgement.
* Sequence numbers order envelopes by commit (SQLite has one writer at a
  time), so a watcher that remembers the last sequence it saw misses nothing.
* `wait_for_new` returns as soon as another thread of this process stores
  something, and within `poll_interval` when another process does (it polls
  ``MAX(seq)``; WAL lets readers and the writer proceed concurrently).
* Durability: ``synchronous=FULL``; a committed `put` survives a power cut.
  The database file is created with mode 0600 (SQLite gives the -wal/-shm
  files the same mode). The store holds ciphertext and routing metadata only.
  A file of another schema version (``PRAGMA user_version``) is a `StoreError`.

One `EnvelopeStore` may be shared by many threads (one connection behind a
lock, `common.sqlite.Database`); every process opens its own.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from appliance.envelope import Envelope, MalformedEnvelope, check_structure, utc_now
from common.sqlite import Database

from .codec import decode_envelope, encode_envelope
from .errors import ReportNotFound, StoreConflict, StoreError

_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS envelopes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient_id TEXT NOT NULL,
    report_id TEXT NOT NULL,
    study_pseudonym TEXT NOT NULL,
    stored_at TEXT NOT NULL,
    acked_at TEXT,
    envelope BLOB NOT NULL,
    UNIQUE (recipient_id, report_id)
);
CREATE INDEX IF NOT EXISTS envelopes_by_recipient ON envelopes (recipient_id, seq);
"""


@dataclass(frozen=True)
class StoredEnvelope:
    """An envelope with its store metadata."""

    sequence: int
    envelope: Envelope
    stored_at: str
    acked_at: str | None

    @property
    def acked(self) -> bool:
        return self.acked_at is not None


class EnvelopeStore:
    """See the module docstring. `path` is the SQLite file; its directory must exist."""

    def __init__(self, path: Path, *, poll_interval: float = 0.2, busy_timeout: float = 10.0) -> None:
        self.path = Path(path)
        self.poll_interval = poll_interval
        self._changed = threading.Condition()
        try:
            self._db = Database(self.path, _SCHEMA, timeout=busy_timeout, user_version=_SCHEMA_VERSION)
            self._db.execute("PRAGMA foreign_keys=ON")
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open envelope store {self.path}: {exc}") from exc

    # -- plumbing ---------------------------------------------------------------

    @contextmanager
    def _transaction(self, what: str) -> Iterator[sqlite3.Connection]:
        """One write transaction; StoreError (with `what` failed) on any SQLite error or once closed."""
        if self._db.closed:
            raise StoreError("store is closed")
        try:
            with self._db.transaction() as conn:
                yield conn
        except sqlite3.Error as exc:
            raise StoreError(f"{what}: {exc}") from exc

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        if self._db.closed:
            raise StoreError("store is closed")
        try:
            return self._db.query(sql, args)
        except sqlite3.Error as exc:
            raise StoreError(f"envelope store query failed: {exc}") from exc

    @staticmethod
    def _row(row: tuple) -> StoredEnvelope:
        seq, stored_at, acked_at, blob = row
        try:
            envelope = decode_envelope(bytes(blob))
        except MalformedEnvelope as exc:
            raise StoreError(f"stored envelope #{seq} is not decodable") from exc
        return StoredEnvelope(seq, envelope, stored_at, acked_at)

    # -- API --------------------------------------------------------------------

    def put(self, envelope: Envelope) -> bool:
        """Store `envelope`; True if stored now, False if this (recipient, report) already was."""
        check_structure(envelope)
        blob = encode_envelope(envelope)
        with self._transaction(f"cannot store report {envelope.report_id}") as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO envelopes (recipient_id, report_id, study_pseudonym,"
                " stored_at, envelope) VALUES (?, ?, ?, ?, ?)",
                (envelope.recipient_id, envelope.report_id, envelope.study_pseudonym, utc_now(), blob),
            )
            inserted = cur.rowcount == 1
            if not inserted:
                (existing,) = db.execute(
                    "SELECT study_pseudonym FROM envelopes WHERE recipient_id=? AND report_id=?",
                    (envelope.recipient_id, envelope.report_id),
                ).fetchone()
                if existing != envelope.study_pseudonym:
                    raise StoreConflict(
                        f"report {envelope.report_id} for {envelope.recipient_id} is already stored for another study"
                    )
        if inserted:
            with self._changed:
                self._changed.notify_all()
        return inserted

    def list_for(
        self, recipient_id: str, include_acked: bool = False, *, after_sequence: int = 0, limit: int | None = None
    ) -> list[StoredEnvelope]:
        """The recipient's envelopes with sequence > `after_sequence`, oldest first."""
        sql = "SELECT seq, stored_at, acked_at, envelope FROM envelopes WHERE recipient_id=? AND seq>?"
        if not include_acked:
            sql += " AND acked_at IS NULL"
        sql += " ORDER BY seq"
        args: tuple = (recipient_id, after_sequence)
        if limit is not None:
            sql += " LIMIT ?"
            args += (max(0, int(limit)),)
        return [self._row(r) for r in self._query(sql, args)]

    def get(self, recipient_id: str, report_id: str) -> StoredEnvelope:
        """The recipient's envelope for `report_id`, or `ReportNotFound`."""
        rows = self._query(
            "SELECT seq, stored_at, acked_at, envelope FROM envelopes WHERE recipient_id=? AND report_id=?",
            (recipient_id, report_id),
        )
        if not rows:
            raise ReportNotFound(report_id)
        return self._row(rows[0])

    def ack(self, recipient_id: str, report_id: str) -> StoredEnvelope:
        """Mark the recipient's `report_id` acknowledged (first time wins); `ReportNotFound` otherwise."""
        with self._transaction(f"cannot acknowledge report {report_id}") as db:
            db.execute(
                "UPDATE envelopes SET acked_at=? WHERE recipient_id=? AND report_id=? AND acked_at IS NULL",
                (utc_now(), recipient_id, report_id),
            )
            row = db.execute(
                "SELECT seq, stored_at, acked_at, envelope FROM envelopes WHERE recipient_id=? AND report_id=?",
                (recipient_id, report_id),
            ).fetchone()
        if row is None:
            raise ReportNotFound(report_id)
        return self._row(row)

    def latest_sequence(self) -> int:
        """The highest sequence number stored so far by any process (0 when empty)."""
        return int(self._query("SELECT COALESCE(MAX(seq), 0) FROM envelopes")[0][0])

    def wait_for_new(self, after_sequence: int, timeout: float) -> bool:
        """Block until an envelope with sequence > `after_sequence` exists, `timeout` passes,
        or `wake_waiters`/`close` is called. Returns whether there is a newer envelope."""
        deadline = time.monotonic() + timeout
        while True:
            if self._db.closed:
                return False
            if self.latest_sequence() > after_sequence:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self._changed:
                # Notified by put() in this process; the timeout covers other processes.
                self._changed.wait(min(self.poll_interval, remaining))

    def wake_waiters(self) -> None:
        """Make every `wait_for_new` re-check now (e.g. on shutdown)."""
        with self._changed:
            self._changed.notify_all()

    def close(self) -> None:
        self._db.close()
        self.wake_waiters()

    def __enter__(self) -> EnvelopeStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
