"""A bundle is verified in full before any ONNX Runtime session exists."""

from __future__ import annotations

import json
from pathlib import Path

import onnxruntime as ort
import pytest

from runtime.bundle import MANIFEST, ModelBundle
from runtime.errors import BundleError, BundleIntegrityError
from runtime.generator import ReportGenerator


def _listed(bundle: Path) -> list[str]:
    return sorted(json.loads((bundle / MANIFEST).read_text())["files"])


def test_valid_bundle_opens_with_every_precision(tiny_bundle: Path) -> None:
    bundle = ModelBundle.open(tiny_bundle)
    assert set(bundle.precisions) == {"fp32", "int8"}
    assert bundle.bundle_id.startswith("tiny-test-")
    for precision in bundle.precisions:
        ReportGenerator(bundle, precision=precision)


@pytest.fixture
def count_sessions(monkeypatch) -> list[object]:
    created: list[object] = []
    original = ort.InferenceSession.__init__

    def spy(self, *args, **kwargs):
        created.append(args[0] if args else None)
        original(self, *args, **kwargs)

    monkeypatch.setattr(ort.InferenceSession, "__init__", spy)
    return created


@pytest.mark.parametrize("position", ["start", "middle", "end"])
def test_every_corrupted_file_is_refused_before_a_session(bundle_copy: Path, count_sessions, position: str) -> None:
    for name in _listed(bundle_copy):
        path = bundle_copy / name
        original = path.read_bytes()
        data = bytearray(original)
        i = {"start": 0, "middle": len(data) // 2, "end": len(data) - 1}[position]
        data[i] ^= 0x01
        path.write_bytes(bytes(data))
        with pytest.raises(BundleIntegrityError, match=name):
            ReportGenerator(ModelBundle.open(bundle_copy))
        path.write_bytes(original)
    assert count_sessions == []
    ModelBundle.open(bundle_copy)  # restored: opens again


def test_missing_and_truncated_files_are_refused(bundle_copy: Path) -> None:
    (bundle_copy / "decoder.onnx").unlink()
    with pytest.raises(BundleIntegrityError, match="decoder.onnx: listed in the manifest but missing"):
        ModelBundle.open(bundle_copy)


def test_hash_and_file_changed_together_breaks_the_bundle_id(bundle_copy: Path) -> None:
    """Re-hashing a swapped file in the manifest is caught by the content-derived bundle id."""
    from runtime.bundle import sha256_bytes

    manifest = json.loads((bundle_copy / MANIFEST).read_text())
    path = bundle_copy / "tokenizer.json"
    path.write_bytes(path.read_bytes() + b" ")
    manifest["files"]["tokenizer.json"] = {"sha256": sha256_bytes(path.read_bytes()), "bytes": path.stat().st_size}
    (bundle_copy / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BundleIntegrityError, match="bundle_id"):
        ModelBundle.open(bundle_copy)


@pytest.mark.parametrize("name", ["../escape.onnx", "/etc/passwd", "sub/dir.onnx"])
def test_file_names_must_stay_inside_the_bundle(bundle_copy: Path, name: str) -> None:
    manifest = json.loads((bundle_copy / MANIFEST).read_text())
    manifest["files"][name] = {"sha256": "0" * 64, "bytes": 1}
    (bundle_copy / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BundleIntegrityError, match="plain names"):
        ModelBundle.open(bundle_copy)


@pytest.mark.parametrize("key", ["preprocessing", "tokenizer", "decoder", "files", "generation"])
def test_malformed_manifest_names_the_missing_key(bundle_copy: Path, key: str) -> None:
    manifest = json.loads((bundle_copy / MANIFEST).read_text())
    del manifest[key]
    (bundle_copy / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=f"missing key {key}"):
        ModelBundle.open(bundle_copy)


def test_unknown_precision_is_a_clear_error(tiny_bundle: Path) -> None:
    with pytest.raises(BundleError, match="no fp16 encoder"):
        ReportGenerator(ModelBundle.open(tiny_bundle), precision="fp16")
