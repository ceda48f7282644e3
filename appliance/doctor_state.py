"""The doctor's read-only snapshot of a state directory (see appliance.doctor for the contract).

    snap = read_state(state_dir)    # jobs, envelopes, spool index, re-identification pseudonyms,
                                    # spool folders, quarantine, database integrity, file modes

Each SQLite database is read in one read-only connection and checked with PRAGMA integrity_check.
The stores are read in the order the service writes them (envelopes before jobs; spool folders
before the spool index), so a snapshot of a running service errs towards "in flight", not "lost".
`ref` and `display` are how spool UIDs and paths may appear in output: one-way digests.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from common.logref import uid_ref
from dicom_listener.identity import is_valid_uid
from dicom_listener.spool import CLAIMED, INCOMING, INDEX_FILE, QUARANTINE, SUFFIX, TMP
from dicom_listener.spool.files import instance_paths, uid_from_filename
from dicom_listener.spool.scratch import OWNER_LOCK

JOBS_DB = "jobs.sqlite3"
ENVELOPES_DB = "envelopes.sqlite3"
MAPPING_DB = "reidentification.sqlite3"
SPOOL = "spool"


def ref(uid: str) -> str:
    """A spool UID as it may appear in output: a short one-way digest, never the UID itself (the
    same reference the service's logs use)."""
    return uid_ref(uid)


def display(path: Path, root: Path) -> str:
    """`path` relative to `root`, every UID-named component replaced by its ref()."""
    parts = []
    for part in path.relative_to(root).parts:
        stem = part[: -len(SUFFIX)] if part.endswith(SUFFIX) else part
        parts.append(ref(stem) + part[len(stem) :] if is_valid_uid(stem) else part)
    return "/".join(parts) or "."


# ---- the snapshot: everything the rules look at, read once -----------------------------------------


@dataclass(frozen=True)
class JobRow:
    job_id: str
    study_uid: str
    files: tuple[Path, ...]
    state: str
    report_ids: tuple[str, ...]

    @property
    def sops(self) -> set[str]:
        return {uid for uid in map(uid_from_filename, self.files) if uid}


@dataclass(frozen=True)
class EnvelopeRow:
    recipient_id: str
    report_id: str
    study_pseudonym: str


@dataclass
class Snapshot:
    """What `check` read from a state directory. Spool maps are {study uid: {sop uid: path}}."""

    root: Path
    service_running: bool = False
    jobs: list[JobRow] = field(default_factory=list)
    envelopes: list[EnvelopeRow] = field(default_factory=list)
    indexed: dict[str, str] = field(default_factory=dict)  # sop -> study
    pseudonyms: set[str] = field(default_factory=set)  # of the re-identification store
    incoming: dict[str, dict[str, Path]] = field(default_factory=dict)
    claimed: dict[str, dict[str, Path]] = field(default_factory=dict)
    quarantine: list[Path] = field(default_factory=list)
    integrity: dict[str, str] = field(default_factory=dict)  # database (display) -> "ok" or the problem
    modes: list[tuple[str, int, bool]] = field(default_factory=list)  # (display path, mode, is_dir)

    @property
    def on_disk(self) -> set[str]:
        return {sop for folder in (self.incoming, self.claimed) for sops in folder.values() for sop in sops}


def _connect(path: Path) -> sqlite3.Connection:
    """Read-only. Without a -wal file (a clean stop: everything is in the main file) the database is
    opened `immutable`, which creates no side file; with one (a crash, or the service running) `ro`,
    which reads the WAL and may create the -shm file (with the database file's mode)."""
    wal = path.with_name(path.name + "-wal")
    return sqlite3.connect(f"file:{path}?{'mode=ro' if wal.exists() else 'immutable=1'}", uri=True, timeout=10.0)


def _read_db(snap: Snapshot, path: Path, sql: str) -> list[tuple]:
    """Rows of `sql` from the database at `path` ([] when it does not exist); records its integrity."""
    if not path.exists():
        return []
    name = display(path, snap.root)
    try:
        with _connect(path) as conn:
            problems = [str(r[0]) for r in conn.execute("PRAGMA integrity_check").fetchall()]
            snap.integrity[name] = "ok" if problems == ["ok"] else "; ".join(problems[:3])
            rows = conn.execute(sql).fetchall()
        conn.close()
        return rows
    except sqlite3.Error as exc:
        snap.integrity[name] = f"cannot be read: {type(exc).__name__}: {exc}"
        return []


def _studies(base: Path) -> dict[str, dict[str, Path]]:
    out: dict[str, dict[str, Path]] = {}
    if base.is_dir():
        for study_dir in sorted(base.iterdir()):
            if study_dir.is_dir() and is_valid_uid(study_dir.name):
                paths = instance_paths(study_dir)
                if paths:
                    out[study_dir.name] = {uid_from_filename(p) or "": p for p in paths}
    return out


def _service_running(tmp_root: Path) -> bool:
    """True when a live Spool holds its scratch folder's flock (the service, or another Spool user)."""
    if not tmp_root.is_dir():
        return False
    for owner in tmp_root.iterdir():
        try:
            fd = os.open(owner / OWNER_LOCK, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
    return False


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            yield Path(dirpath) / name


def read_state(state_dir: Path) -> Snapshot:
    """Read the whole state directory (FileNotFoundError when it does not exist)."""
    root = Path(state_dir)
    if not root.is_dir():
        raise FileNotFoundError(2, "no state directory", str(root))
    spool = root / SPOOL
    snap = Snapshot(root=root, service_running=_service_running(spool / TMP))
    # Envelopes before jobs: delivery writes the envelope before the job is marked finished.
    snap.envelopes = [
        EnvelopeRow(*r)
        for r in _read_db(snap, root / ENVELOPES_DB, "SELECT recipient_id, report_id, study_pseudonym FROM envelopes")
    ]
    snap.jobs = [
        JobRow(r[0], r[1], tuple(Path(p) for p in json.loads(r[2])), r[3], tuple(json.loads(r[4])))
        for r in _read_db(snap, root / JOBS_DB, "SELECT job_id, study_uid, files, state, report_ids FROM jobs")
    ]
    snap.pseudonyms = {r[0] for r in _read_db(snap, root / MAPPING_DB, "SELECT DISTINCT pseudonym FROM records")}
    # Spool folders before its index: an instance is indexed only after it is in incoming/.
    snap.incoming = _studies(spool / INCOMING)
    snap.claimed = _studies(spool / CLAIMED)
    quarantine = spool / QUARANTINE
    snap.quarantine = sorted(quarantine.iterdir()) if quarantine.is_dir() else []
    snap.indexed = dict(
        _read_db(snap, spool / INDEX_FILE, "SELECT sop_instance_uid, study_instance_uid FROM instances")
    )
    for path in [root, *_walk(root)]:
        try:
            info = path.lstat()
        except FileNotFoundError:
            continue  # removed meanwhile (the service is running)
        if stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode):
            snap.modes.append((display(path, root), stat.S_IMODE(info.st_mode), stat.S_ISDIR(info.st_mode)))
    return snap
