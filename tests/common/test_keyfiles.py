"""`common.keyfiles`: the one reader/writer of key files (modes, file types, symlinks, atomic writes)."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from common.errors import ExitCode, KeyFileError
from common.keyfiles import read_private, read_public, write_private, write_public

SECRET = b"0123456789abcdef-not-for-messages\n"


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _file(mode: int) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        path = tmp / "key"
        path.write_bytes(SECRET)
        os.chmod(path, mode)
        return path

    return make


def _missing(tmp: Path) -> Path:
    return tmp / "missing.key"


def _directory(tmp: Path) -> Path:
    (tmp / "keys").mkdir()
    return tmp / "keys"


def _fifo(tmp: Path) -> Path:
    os.mkfifo(tmp / "fifo", 0o600)
    return tmp / "fifo"


def _symlink_to(mode: int) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        target = _file(mode)(tmp)
        (tmp / "link").symlink_to(target)
        return tmp / "link"

    return make


def _dangling_symlink(tmp: Path) -> Path:
    (tmp / "link").symlink_to(tmp / "nowhere")
    return tmp / "link"


# (case, how to make the path, read_private, read_private(allow_insecure_permissions=True), read_public)
# An expectation is None (the contents come back) or a fragment of the KeyFileError message.
# Symlinks are followed (like ssh): what counts is the file they point to.
CASES = [
    ("mode 600", _file(0o600), None, None, None),
    ("mode 400", _file(0o400), None, None, None),
    ("mode 700", _file(0o700), None, None, None),
    ("mode 640", _file(0o640), "chmod 600", None, None),
    ("mode 604", _file(0o604), "chmod 600", None, None),
    ("mode 660", _file(0o660), "mode 660", None, None),
    ("mode 644", _file(0o644), "accessible by group or others", None, None),
    ("mode 601", _file(0o601), "chmod 600", None, None),
    ("missing", _missing, "cannot be read", "cannot be read", "cannot be read"),
    ("directory", _directory, "is a directory", "is a directory", "is a directory"),
    ("fifo", _fifo, "is a FIFO", "is a FIFO", "is a FIFO"),
    ("symlink to 600", _symlink_to(0o600), None, None, None),
    ("symlink to 644", _symlink_to(0o644), "chmod 600", None, None),
    ("dangling symlink", _dangling_symlink, "cannot be read", "cannot be read", "cannot be read"),
]


def _check(read: Callable[[Path], bytes], path: Path, expected: str | None) -> None:
    if expected is None:
        assert read(path) == SECRET
        return
    with pytest.raises(KeyFileError) as err:
        read(path)
    message = str(err.value)
    assert expected in message
    assert str(path) in message  # names the file ...
    assert SECRET.decode().strip() not in message  # ... never the key
    assert err.value.exit_code == ExitCode.CONFIG


@pytest.mark.parametrize(("case", "make", "private", "insecure", "public"), CASES, ids=[c[0] for c in CASES])
def test_read(tmp_path: Path, case: str, make, private, insecure, public) -> None:
    path = make(tmp_path)
    _check(read_private, path, private)
    _check(lambda p: read_private(p, allow_insecure_permissions=True), path, insecure)
    _check(read_public, path, public)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_is_refused_with_the_os_reason(tmp_path: Path) -> None:
    path = _file(0o000)(tmp_path)
    with pytest.raises(KeyFileError, match="cannot be read: Permission denied"):
        read_private(path)


def test_read_accepts_str_paths_and_empty_files(tmp_path: Path) -> None:
    path = tmp_path / "empty"
    path.write_bytes(b"")
    os.chmod(path, 0o600)
    assert read_private(str(path)) == b"" == read_public(str(path))


@pytest.mark.parametrize(("write", "mode"), [(write_private, 0o600), (write_public, 0o644)], ids=["private", "public"])
@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077, 0o277])
def test_write_sets_the_exact_mode_whatever_the_umask(tmp_path: Path, write, mode: int, umask: int) -> None:
    old = os.umask(umask)
    try:
        write(tmp_path / "key", SECRET)
    finally:
        os.umask(old)
    assert _mode(tmp_path / "key") == mode
    assert (tmp_path / "key").read_bytes() == SECRET
    assert read_private(tmp_path / "key", allow_insecure_permissions=True) == SECRET


@pytest.mark.parametrize("write", [write_private, write_public], ids=["private", "public"])
def test_write_replaces_an_existing_file_and_leaves_no_temporary(tmp_path: Path, write) -> None:
    path = tmp_path / "key"
    path.write_bytes(b"old")
    os.chmod(path, 0o666)
    write(path, SECRET)
    assert path.read_bytes() == SECRET
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key"]


def test_write_private_then_read_private(tmp_path: Path) -> None:
    write_private(tmp_path / "key", SECRET)
    assert _mode(tmp_path / "key") == 0o600
    assert read_private(tmp_path / "key") == SECRET


def test_write_replaces_a_symlink_instead_of_writing_through_it(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_bytes(b"untouched")
    os.chmod(target, 0o644)
    (tmp_path / "key").symlink_to(target)
    write_private(tmp_path / "key", SECRET)
    assert not (tmp_path / "key").is_symlink()
    assert target.read_bytes() == b"untouched" and _mode(target) == 0o644
    assert read_private(tmp_path / "key") == SECRET


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "key"
    write_private(path, b"old secret")

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space left"):
        write_private(path, SECRET)
    monkeypatch.undo()
    assert path.read_bytes() == b"old secret"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key"]


def test_write_into_a_missing_directory_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_private(tmp_path / "no" / "key", SECRET)
