"""`appliance.envelope.keys`: ECIES and Ed25519 key files (on `common.keyfiles`) and key ids."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from appliance.envelope import (
    KeyFileError,
    ecies_public_key,
    key_id_for,
    load_ecies_private_key,
    load_ecies_public_key,
    load_signing_key,
    load_verify_key,
    save_ecies_private_key,
    save_ecies_public_key,
    save_signing_key,
    save_verify_key,
)


def test_empty_secret_is_not_silently_replaced():
    with pytest.raises(ValueError):
        ecies_public_key(b"")


# --- key files --------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_ecies_key_files_round_trip(tmp_path, dr_a):
    save_ecies_private_key(tmp_path / "dr-a.key", dr_a.private_key)
    save_ecies_public_key(tmp_path / "dr-a.pub", dr_a.public_key)
    assert _mode(tmp_path / "dr-a.key") == 0o600
    assert load_ecies_private_key(tmp_path / "dr-a.key") == dr_a.private_key
    assert load_ecies_public_key(tmp_path / "dr-a.pub") == dr_a.public_key
    assert ecies_public_key(dr_a.private_key) == dr_a.public_key


def test_signing_key_files_round_trip(tmp_path, appliance_key, key_id):
    save_signing_key(tmp_path / "appliance.pem", appliance_key)
    save_verify_key(tmp_path / "appliance.pub.pem", appliance_key.public_key())
    assert _mode(tmp_path / "appliance.pem") == 0o600
    loaded = load_signing_key(tmp_path / "appliance.pem")
    assert key_id_for(loaded.public_key()) == key_id
    assert key_id_for(load_verify_key(tmp_path / "appliance.pub.pem")) == key_id


def test_group_readable_private_key_refused(tmp_path, dr_a, appliance_key):
    save_ecies_private_key(tmp_path / "k", dr_a.private_key)
    save_signing_key(tmp_path / "s", appliance_key)
    for path, loader in ((tmp_path / "k", load_ecies_private_key), (tmp_path / "s", load_signing_key)):
        os.chmod(path, 0o640)
        with pytest.raises(KeyFileError):
            loader(path)
        assert loader(path, allow_insecure_permissions=True)


@pytest.mark.parametrize("content", [b"", b"zz", b"00" * 31, b"00" * 32, b"ff" * 32])
def test_malformed_ecies_private_key_file(tmp_path, content):
    path = tmp_path / "k"
    path.write_bytes(content)
    os.chmod(path, 0o600)
    with pytest.raises(KeyFileError):
        load_ecies_private_key(path)


def test_signing_key_loader_rejects_other_key_types(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path = tmp_path / "ec.pem"
    path.write_bytes(pem)
    os.chmod(path, 0o600)
    with pytest.raises(KeyFileError):
        load_signing_key(path)
    with pytest.raises(KeyFileError):
        load_signing_key(tmp_path / "missing.pem")


def test_public_key_files_are_0644_and_readable_by_anyone(tmp_path, dr_a, appliance_key, key_id):
    save_ecies_public_key(tmp_path / "dr-a.pub", dr_a.public_key)
    save_verify_key(tmp_path / "appliance.pub.pem", appliance_key.public_key())
    assert _mode(tmp_path / "dr-a.pub") == _mode(tmp_path / "appliance.pub.pem") == 0o644
    os.chmod(tmp_path / "dr-a.pub", 0o666)
    assert load_ecies_public_key(tmp_path / "dr-a.pub") == dr_a.public_key
    assert key_id_for(load_verify_key(tmp_path / "appliance.pub.pem")) == key_id


def test_saving_overwrites_and_tightens_an_existing_key_file(tmp_path, dr_a):
    path = tmp_path / "dr-a.key"
    path.write_bytes(b"old")
    os.chmod(path, 0o644)
    save_ecies_private_key(path, dr_a.private_key)
    assert _mode(path) == 0o600 and load_ecies_private_key(path) == dr_a.private_key
    assert [p.name for p in tmp_path.iterdir()] == ["dr-a.key"]  # no temporary file left


def test_key_file_errors_name_the_file_and_the_fix_never_the_key(tmp_path, dr_a, appliance_key):
    key = tmp_path / "dr-a.key"
    save_ecies_private_key(key, dr_a.private_key)
    os.chmod(key, 0o604)
    with pytest.raises(KeyFileError) as err:
        load_ecies_private_key(key)
    assert str(key) in str(err.value) and "chmod 600" in str(err.value)
    assert dr_a.private_key.hex() not in str(err.value)
    for loader in (load_ecies_private_key, load_signing_key, load_ecies_public_key, load_verify_key):
        with pytest.raises(KeyFileError, match="not a regular file"):
            loader(tmp_path)
        with pytest.raises(KeyFileError, match="cannot be read"):
            loader(tmp_path / "missing")


def test_key_files_are_read_through_symlinks(tmp_path, dr_a, appliance_key, key_id):
    save_ecies_private_key(tmp_path / "real.key", dr_a.private_key)
    save_signing_key(tmp_path / "real.pem", appliance_key)
    (tmp_path / "link.key").symlink_to(tmp_path / "real.key")
    (tmp_path / "link.pem").symlink_to(tmp_path / "real.pem")
    assert load_ecies_private_key(tmp_path / "link.key") == dr_a.private_key
    assert key_id_for(load_signing_key(tmp_path / "link.pem").public_key()) == key_id
    os.chmod(tmp_path / "real.key", 0o640)  # the target's mode is what counts
    with pytest.raises(KeyFileError):
        load_ecies_private_key(tmp_path / "link.key")
