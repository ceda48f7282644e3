"""index.sqlite3: every SOP Instance UID the spool ever stored (until pruned), on common.sqlite.

The index is the truth for *whether an instance was seen*; disk is the truth for *where it is*.
One row per instance: its study, SOP class, the calling AE title and when it was received. An
`insert` is one autocommitted statement: committed and fsynced (WAL, synchronous=FULL) when it
returns, which is step 3 of the store protocol (see dicom_listener.spool).

`adopt` rebuilds rows for files found on disk but missing here (a crash between the rename and
the insert, or a lost index file), from the file's own meta header.

Not serialised with the folders by itself: Spool calls it under its lock. Methods raise
sqlite3.Error unless stated otherwise.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

from pydicom.filereader import read_file_meta_info

from common.sqlite import Database
from dicom_listener.errors import SpoolWriteError
from dicom_listener.spool.files import uid_from_filename

_SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    sop_instance_uid   TEXT PRIMARY KEY,
    study_instance_uid TEXT NOT NULL,
    sop_class_uid      TEXT NOT NULL,
    calling_aet        TEXT NOT NULL,
    received_at        REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS instances_by_study ON instances (study_instance_uid);
"""

_CHUNK = 500  # UIDs per IN (...) query, well below SQLite's variable limit


class SpoolIndex:
    """The SQLite index at `path` (created with mode 0600: it holds original UIDs)."""

    def __init__(self, path: Path) -> None:
        self._db = Database(path, _SCHEMA, timeout=30.0)

    def close(self) -> None:
        self._db.close()

    def contains(self, sop_uid: str) -> bool:
        return self._db.query_one("SELECT 1 FROM instances WHERE sop_instance_uid = ?", (sop_uid,)) is not None

    def insert(self, sop_uid: str, study_uid: str, sop_class_uid: str, aet: str, at: float) -> bool:
        """Insert unless present; True when this call inserted it. Committed (fsynced) on return."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO instances VALUES (?, ?, ?, ?, ?)",
            (sop_uid, study_uid, sop_class_uid, aet, at),
        )
        return cursor.rowcount == 1

    def rows(self, sop_uids: Iterable[str]) -> dict[str, tuple[float, str]]:
        """received_at and calling_aet of those of `sop_uids` that are indexed."""
        out: dict[str, tuple[float, str]] = {}
        uids = list(sop_uids)
        for start in range(0, len(uids), _CHUNK):
            chunk = uids[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for sop, at, aet in self._db.query(
                f"SELECT sop_instance_uid, received_at, calling_aet FROM instances WHERE sop_instance_uid IN ({marks})",
                chunk,
            ):
                out[sop] = (at, aet)
        return out

    def prune(self, older_than: float, keep_studies: set[str]) -> int:
        """Delete rows received before `older_than` of studies not in `keep_studies` (one transaction)."""
        removed = 0
        with self._db.transaction() as conn:
            stale = conn.execute(
                "SELECT DISTINCT study_instance_uid FROM instances WHERE received_at < ?", (older_than,)
            ).fetchall()
            for (study,) in stale:
                if study in keep_studies:
                    continue
                removed += conn.execute(
                    "DELETE FROM instances WHERE study_instance_uid = ? AND received_at < ?",
                    (study, older_than),
                ).rowcount
        return removed

    def adopt(self, study: str, paths: list[Path]) -> int:
        """Index files that are on disk but not in the index; returns how many were added.

        Details come from each file's meta header (Source AE title, SOP class, mtime); a damaged
        file is still adopted, without them. Raises SpoolWriteError when an insert fails.
        """
        by_uid = {uid_from_filename(p): p for p in paths}
        known = self.rows(uid for uid in by_uid if uid)
        adopted = 0
        for uid, path in by_uid.items():
            if uid is None or uid in known:
                continue
            aet, sop_class = "", ""
            try:
                meta = read_file_meta_info(path)
                aet = str(meta.get("SourceApplicationEntityTitle", "") or "").strip()
                sop_class = str(meta.get("MediaStorageSOPClassUID", "") or "")
                at = path.stat().st_mtime
            except Exception:
                at = time.time()
            try:
                adopted += self.insert(uid, study, sop_class, aet, at)
            except sqlite3.Error as exc:
                raise SpoolWriteError(f"cannot index instance: {exc.__class__.__name__}") from exc
        return adopted

    def describe(self, study: str, paths: list[Path]) -> tuple[float, float, str]:
        """(first received, last received, calling AE title of the first) of a study's files.

        Adopts unindexed files first, so every path has a row. `paths` must not be empty.
        """
        self.adopt(study, paths)
        rows = self.rows(uid_from_filename(p) or "" for p in paths)
        ordered = sorted(rows.values())
        return ordered[0][0], ordered[-1][0], ordered[0][1]
