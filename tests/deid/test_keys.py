"""Keyed replacements: UIDs, pseudonyms, date shifts."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.errors import ExitCode
from deid import DeidConfigError, Keyring
from deid.keys import load_secret
from deid.testing import OTHER_SECRET, SECRET

UID_RE = re.compile(r"^2\.25\.(0|[1-9][0-9]*)$")
uids = st.lists(st.integers(0, 10**12), min_size=2, max_size=12).map(lambda parts: ".".join(map(str, [1, 2, *parts])))


def test_uid_is_a_valid_2_25_uid_with_uuid_v8_bits() -> None:
    uid = Keyring(SECRET).uid("1.2.3.4")
    assert UID_RE.match(uid) and len(uid) <= 64
    n = int(uid[5:])
    assert n < 2**128 and (n >> 76) & 0xF == 8 and (n >> 62) & 0b11 == 0b10


def test_uid_ignores_padding_and_depends_on_the_secret() -> None:
    k = Keyring(SECRET)
    assert k.uid("1.2.3.4") == k.uid("1.2.3.4\x00") == k.uid(" 1.2.3.4 ")
    assert Keyring(SECRET).uid("1.2.3.4") == k.uid("1.2.3.4")
    assert Keyring(OTHER_SECRET).uid("1.2.3.4") != k.uid("1.2.3.4")


@settings(max_examples=300, deadline=None)
@given(st.lists(uids, min_size=2, max_size=40, unique=True))
def test_uid_mapping_is_a_deterministic_injection(originals: list[str]) -> None:
    k1, k2 = Keyring(SECRET), Keyring(SECRET)
    mapped = [k1.uid(u) for u in originals]
    assert mapped == [k2.uid(u) for u in originals]
    assert len(set(mapped)) == len(originals)
    assert all(UID_RE.match(m) and len(m) <= 64 for m in mapped)
    assert not set(mapped) & set(originals)


def test_pseudonym_and_ae_title_shapes() -> None:
    k = Keyring(SECRET)
    assert re.fullmatch(r"ANON[A-Z2-7]{16}", k.pseudonym("patient:1"))
    assert k.pseudonym("patient:1") != k.pseudonym("patient:2")
    assert k.pseudonym("patient:1") != Keyring(OTHER_SECRET).pseudonym("patient:1")
    assert re.fullmatch(r"DEID[0-9A-F]{12}", k.ae_title("PACS1"))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40), st.integers(-3650, -1), st.integers(0, 3000))
def test_date_shift_is_deterministic_and_in_range(key: str, lo: int, width: int) -> None:
    hi = min(lo + width, -1)
    shift = Keyring(SECRET).date_shift(key, lo, hi)
    assert lo <= shift <= hi
    assert shift == Keyring(SECRET).date_shift(key, lo, hi)


def test_date_shift_spreads_over_the_range() -> None:
    k = Keyring(SECRET)
    shifts = {k.date_shift(f"patient:{i}", -365, -1) for i in range(500)}
    assert len(shifts) > 200 and min(shifts) < -300 and max(shifts) > -60


@pytest.mark.parametrize("secret", [b"", b"x" * 15, "a string secret of enough length"])
def test_weak_or_wrong_secrets_are_refused(secret: object) -> None:
    with pytest.raises(DeidConfigError) as err:
        Keyring(secret)  # type: ignore[arg-type]
    assert err.value.key == "secret"


# --- the site secret file (read with common.keyfiles.read_private) ---------------------------------

HEX_SECRET = "5e" * 32


def _secret_file(tmp_path: Path, content: bytes, mode: int = 0o600) -> Path:
    path = tmp_path / "site.secret"
    path.write_bytes(content)
    os.chmod(path, mode)
    return path


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (HEX_SECRET.encode() + b"\n", bytes.fromhex(HEX_SECRET)),  # hex text, 64+ digits
        (b"raw secret of 16", b"raw secret of 16"),  # raw bytes
        (b"z" * 64, b"z" * 64),  # 64 characters that are not hex: raw bytes
    ],
)
def test_load_secret_reads_hex_or_raw(tmp_path: Path, content: bytes, expected: bytes) -> None:
    assert load_secret(_secret_file(tmp_path, content)) == expected


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda tmp: _secret_file(tmp, HEX_SECRET.encode(), 0o640), "chmod 600"),
        (lambda tmp: _secret_file(tmp, HEX_SECRET.encode(), 0o604), "chmod 600"),
        (lambda tmp: tmp / "missing.secret", "cannot be read"),
        (lambda tmp: tmp, "not a regular file"),
        (lambda tmp: _secret_file(tmp, b"short"), "fewer than 16 bytes"),
    ],
    ids=["mode-640", "mode-604", "missing", "directory", "too-short"],
)
def test_load_secret_refusals_are_config_errors_that_name_the_file(tmp_path: Path, make, fragment: str) -> None:
    path = make(tmp_path)
    with pytest.raises(DeidConfigError) as err:
        load_secret(path)
    assert err.value.key == "secret_file"
    assert err.value.exit_code == ExitCode.CONFIG
    assert fragment in str(err.value) and str(path) in str(err.value)
    assert HEX_SECRET not in str(err.value)
