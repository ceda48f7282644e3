"""The spool's file primitives: Part 10 headers, fsync of folders, and the durable write.

A file reaches its final name only by `write_temp` (write + fsync, in a private temp folder)
followed by `publish` (atomic rename + fsync of the folder that received it, and of its parent
when that folder was just created). Every caller that acknowledges data does so only after both
returned: then the bytes and the name survive a power loss.

Instance files are named <SOPInstanceUID>.dcm; `uid_from_filename` and `instance_paths` read the
UIDs back from those names (anything else in a study folder is ignored).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterable
from io import BytesIO
from pathlib import Path

from pydicom.dataset import FileMetaDataset
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import UID

from dicom_listener.errors import SpoolError, SpoolWriteError
from dicom_listener.identity import is_valid_uid

SUFFIX = ".dcm"
# The spool holds patient data in clear: only the service user may read it.
DIR_MODE = 0o700
FILE_MODE = 0o600


def encode_file_meta(file_meta: FileMetaDataset) -> bytes:
    """Return preamble + b'DICM' + the encoded File Meta Information group."""
    buffer = BytesIO()
    buffer.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(buffer, file_meta, enforce_standard=True)  # type: ignore[arg-type]
    return buffer.getvalue()


def instance_header(file_meta: FileMetaDataset, sop_class_uid: str, sop_instance_uid: str, calling_aet: str) -> bytes:
    """The Part 10 header of a stored instance: `file_meta` (it must carry the Transfer Syntax UID)
    with the media storage UIDs and the Source AE title set. The one place that header is made,
    whether the data set is written after it at once (Spool.store) or as it arrives (ReceivingFile).

    Raises SpoolError when it cannot be encoded.
    """
    meta = FileMetaDataset(file_meta)
    meta.MediaStorageSOPClassUID = UID(sop_class_uid)
    meta.MediaStorageSOPInstanceUID = UID(sop_instance_uid)
    meta.SourceApplicationEntityTitle = calling_aet
    try:
        return encode_file_meta(meta)
    except (AttributeError, ValueError, TypeError) as exc:
        raise SpoolError(f"file meta cannot be encoded: {exc.__class__.__name__}") from exc


def fsync_dir(path: Path) -> None:
    """fsync a directory so that entries created, renamed or removed in it survive a power loss."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_temp(folder: Path, parts: Iterable[bytes]) -> Path:
    """Write `parts` to a new file in `folder` and fsync it; returns its path.

    The name is random (<hex>.part). Raises SpoolWriteError; a partial file is removed.
    """
    path = folder / f"{uuid.uuid4().hex}.part"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
        with open(fd, "wb") as handle:
            for part in parts:
                handle.write(part)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        with contextlib.suppress(OSError):
            path.unlink()
        raise SpoolWriteError(f"cannot write temp file: {exc.strerror or exc}") from exc
    return path


def publish(staged: Path, folder: Path, name: str) -> Path:
    """Rename the fsynced `staged` file to folder/name and fsync `folder`; returns the new path.

    `folder` is created (and its parent fsynced) when missing. Raises SpoolWriteError.
    """
    final = folder / name
    try:
        try:
            folder.mkdir(mode=DIR_MODE)
            fsync_dir(folder.parent)
        except FileExistsError:
            pass
        os.replace(staged, final)
        fsync_dir(folder)
    except OSError as exc:
        raise SpoolWriteError(f"cannot place instance: {exc.strerror or exc}") from exc
    return final


def uid_from_filename(path: Path) -> str | None:
    """The SOP Instance UID an instance file is named after, or None for any other name."""
    name = path.name
    if not name.endswith(SUFFIX):
        return None
    stem = name[: -len(SUFFIX)]
    return stem if is_valid_uid(stem) else None


def instance_paths(study_dir: Path) -> list[Path]:
    """The instance files of a study folder, sorted; [] when it cannot be listed."""
    try:
        entries = list(study_dir.iterdir())
    except OSError:
        return []
    return sorted(p for p in entries if uid_from_filename(p) is not None and p.is_file())
