"""The spool volume's low-watermark and disk-full handling on a real small tmpfs; listener limit settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .conftest import Listener, associate, make_cr, write_cr
from .test_limits import CR_CONTEXT, TEMPORARY_CONGESTION, _ok, _stored, _storescu
from .test_server import _rejection

# --------------------------------------------------------------------------- the spool volume


@pytest.fixture
def small_volume(tmp_path: Path) -> Any:
    """An 8 MiB tmpfs (root may mount one here); skipped where mounting is not permitted."""
    import subprocess

    mount_point = tmp_path / "vol"
    mount_point.mkdir()
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount_point)], capture_output=True, check=False
        )
    except OSError as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, check=False)  # lazy: never blocks


def _fill(volume: Path, leave: int) -> Path:
    """Write a filler file leaving about `leave` bytes free."""
    from dicom_listener.limits import free_bytes

    filler = volume / "filler"
    free = free_bytes(volume) or 0
    with open(filler, "ab") as handle:
        handle.write(b"\x00" * max(0, free - leave))
    return filler


@pytest.mark.dcmtk
def test_low_disk_refuses_then_recovers_without_restart(
    small_volume: Path, start_listener: Callable[..., Listener], tmp_path: Path
) -> None:
    # small_volume first: it is unmounted after the listener using it has stopped.
    listener = start_listener(spool_dir=small_volume / "spool", min_free_bytes=2 << 20)
    open_assoc = associate(listener.port, contexts=CR_CONTEXT)
    filler = _fill(small_volume, 1 << 20)
    assert _rejection(listener.port) == (True, TEMPORARY_CONGESTION)
    status = open_assoc.send_c_store(make_cr())
    assert status.Status == 0xA700 and "low on free space" in status.ErrorComment
    path, _ = write_cr(tmp_path)
    out = _storescu(listener, path)
    assert not _ok(out) and "Association Rejected" in out, out
    assert listener.server.counters["disk_low"] >= 3

    filler.unlink()  # space returns: no restart needed
    assert open_assoc.send_c_store(make_cr()).Status == 0x0000
    open_assoc.release()
    out = _storescu(listener, path)
    assert _ok(out), out
    assert len(_stored(listener)) == 2


def test_disk_full_while_writing_answers_a700_and_leaves_no_partial_file(
    small_volume: Path, start_listener: Callable[..., Listener]
) -> None:
    listener = start_listener(spool_dir=small_volume / "spool", min_free_bytes=0)
    filler = _fill(small_volume, 200 * 1024)
    ds = make_cr(size=512)  # 512 KiB: does not fit
    assoc = associate(listener.port, contexts=CR_CONTEXT)
    assert assoc.send_c_store(ds).Status == 0xA700
    leftovers = [p for p in (small_volume / "spool").rglob("*") if p.is_file() and p.suffix in (".part", ".dcm")]
    assert leftovers == []
    assert listener.server.counters["write_failed"] == 1
    filler.unlink()
    assert assoc.send_c_store(ds).Status == 0x0000  # the retry succeeds once space is back
    assoc.release()
    assert [p.name for p in _stored(listener)] == [f"{ds.SOPInstanceUID}.dcm"]


def test_settings_reject_bad_limits() -> None:
    from dicom_listener import ListenerConfigError, ListenerSettings

    base: dict[str, Any] = {"ae_title": "SECUREMED", "allowed_calling_aets": frozenset(), "spool_dir": Path("/x")}
    assert ListenerSettings(**base).connection_limit == 20
    assert ListenerSettings(**base, max_associations=50).connection_limit == 100
    for key, value in [
        ("max_connections", 3),
        ("max_dataset_bytes", 0),
        ("max_inflated_bytes", True),
        ("min_free_bytes", -5),
    ]:
        with pytest.raises(ListenerConfigError) as info:
            ListenerSettings(**base, **{key: value})
        assert info.value.key == key
