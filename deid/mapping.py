"""The re-identification record of one de-identified instance, and an encrypted store for it.

A ReidentificationRecord holds patient data (original Patient ID, name, accession number, study
date, UIDs): its repr shows only the pseudonymous fields, it is never logged, and at rest it is
only ever written encrypted (AES-256-GCM) by MappingStore. The store's SQLite columns hold only
pseudonymous lookup keys (new UIDs, pseudonym); everything else is inside the ciphertext, bound to
its row by the associated data.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import sqlite3
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from types import TracebackType

from common.keyfiles import read_private
from common.sqlite import Database
from deid.errors import KeyFileError, MappingStoreError, RecordDecryptionError

KEY_BYTES = 32
_NONCE_BYTES = 12
_AAD_PREFIX = b"securemed-edge/deid/mapping/v1|"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    new_sop_instance_uid   TEXT PRIMARY KEY,
    new_study_instance_uid TEXT NOT NULL,
    pseudonym              TEXT NOT NULL,
    nonce                  BLOB NOT NULL,
    ciphertext             BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS records_study ON records(new_study_instance_uid);
CREATE INDEX IF NOT EXISTS records_pseudonym ON records(pseudonym);
"""


@dataclass(frozen=True)
class ReidentificationRecord:
    """What is needed to go back from a de-identified instance to the patient.

    Pseudonymous fields (safe to log): pseudonym, new_* UIDs, date_shift_days (None unless dates
    were shifted). Original fields (patient data, repr=False): the values before
    de-identification, "" where the instance had none.
    """

    pseudonym: str
    new_study_instance_uid: str
    new_series_instance_uid: str
    new_sop_instance_uid: str
    date_shift_days: int | None
    original_patient_id: str = field(repr=False)
    original_patient_name: str = field(repr=False)
    original_accession_number: str = field(repr=False)
    original_study_date: str = field(repr=False)
    original_study_instance_uid: str = field(repr=False)
    original_series_instance_uid: str = field(repr=False)
    original_sop_instance_uid: str = field(repr=False)

    def to_json_bytes(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_json_bytes(cls, data: bytes) -> ReidentificationRecord:
        try:
            raw = json.loads(data.decode("utf-8"))
            names = {f.name for f in fields(cls)}
            if not isinstance(raw, dict) or set(raw) != names:
                raise ValueError("fields do not match")
            return cls(**raw)
        except (ValueError, TypeError, UnicodeDecodeError) as exc:
            raise MappingStoreError("stored record is malformed") from exc


def load_key(path: str | os.PathLike[str]) -> bytes:
    """The 32-byte store key from `path`: 32 raw bytes, or 64 hex digits, or base64 of 32 bytes.

    The file must be a regular file not accessible by group or others (like an SSH key);
    KeyFileError otherwise. The key itself never appears in an error message.
    """
    p = Path(path)
    data = read_private(p)  # KeyFileError unless a regular file without group/other access
    if len(data) == KEY_BYTES:
        return data
    text = data.strip()
    if len(text) == 2 * KEY_BYTES:
        try:
            return bytes.fromhex(text.decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            pass
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) == KEY_BYTES:
        return key
    raise KeyFileError(f"key file {p} does not hold a 32-byte key (raw, hex or base64)")


def create_key_file(path: str | os.PathLike[str]) -> Path:
    """Write a fresh random key (hex) to `path` with mode 600; refuses to overwrite a file."""
    p = Path(path)
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"key file {p} already exists") from None
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(os.urandom(KEY_BYTES).hex() + "\n")
    return p


class MappingStore:
    """Re-identification records in one SQLite file, each encrypted with AES-256-GCM.

    A row is keyed by the new SOP Instance UID (storing the same instance again replaces it);
    the associated data binds the ciphertext to that key, so rows cannot be swapped. Use as a
    context manager or call close().
    """

    def __init__(self, path: str | os.PathLike[str], key: bytes) -> None:
        # Imported here so the header engine works where `cryptography` is not installed.
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if not isinstance(key, (bytes, bytearray)) or len(key) != KEY_BYTES:
            raise KeyFileError("the store key must be 32 bytes (AES-256)")
        self._aead = AESGCM(bytes(key))
        self._path = Path(path)
        try:
            # Used from the pipeline's worker thread after being opened at start-up: the Database
            # serialises access behind one lock; its file (and -wal/-shm) is mode 0600.
            self._db = Database(self._path, _SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise MappingStoreError(f"mapping store {self._path} cannot be opened: {exc}") from None

    @classmethod
    def open(cls, path: str | os.PathLike[str], key_file: str | os.PathLike[str]) -> MappingStore:
        """Open (or create) the store at `path` with the key read from `key_file` (see load_key)."""
        return cls(path, load_key(key_file))

    def put(self, record: ReidentificationRecord) -> None:
        nonce = os.urandom(_NONCE_BYTES)
        ciphertext = self._aead.encrypt(nonce, record.to_json_bytes(), _aad(record.new_sop_instance_uid))
        try:
            with self._db.transaction() as conn:
                conn.execute(
                    "INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?, ?)",
                    (record.new_sop_instance_uid, record.new_study_instance_uid, record.pseudonym, nonce, ciphertext),
                )
        except sqlite3.Error as exc:
            raise MappingStoreError(f"mapping store write failed: {exc}") from None

    def get(self, new_sop_instance_uid: str) -> ReidentificationRecord | None:
        rows = self._select("new_sop_instance_uid = ?", new_sop_instance_uid)
        return rows[0] if rows else None

    def find_by_study(self, new_study_instance_uid: str) -> list[ReidentificationRecord]:
        return self._select("new_study_instance_uid = ?", new_study_instance_uid)

    def find_by_pseudonym(self, pseudonym: str) -> list[ReidentificationRecord]:
        return self._select("pseudonym = ?", pseudonym)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> MappingStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _select(self, where: str, value: str) -> list[ReidentificationRecord]:
        from cryptography.exceptions import InvalidTag

        try:
            rows = self._db.query(
                f"SELECT new_sop_instance_uid, nonce, ciphertext FROM records WHERE {where} "
                "ORDER BY new_sop_instance_uid",
                (value,),
            )
        except sqlite3.Error as exc:
            raise MappingStoreError(f"mapping store read failed: {exc}") from None
        out = []
        for sop_uid, nonce, ciphertext in rows:
            try:
                plain = self._aead.decrypt(nonce, ciphertext, _aad(sop_uid))
            except InvalidTag:
                raise RecordDecryptionError(f"record {sop_uid} does not authenticate (wrong key or tampered)") from None
            out.append(ReidentificationRecord.from_json_bytes(plain))
        return out


def _aad(new_sop_instance_uid: str) -> bytes:
    return _AAD_PREFIX + new_sop_instance_uid.encode("ascii", "replace")
