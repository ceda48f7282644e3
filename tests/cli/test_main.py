"""`securemed generate` and `securemed phantoms` against the committed demo bundle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cli.main import run
from runtime.bundle import ModelBundle
from tests.conftest import DEMO_BUNDLE
from training.findings import FINDINGS
from training.labeler import label_report
from training.phantoms import load_phantom_manifest

needs_bundle = pytest.mark.skipif(
    not (DEMO_BUNDLE / "manifest.json").exists(), reason="demo bundle missing: run `make demo-model`"
)


@needs_bundle
def test_demo_bundle_verifies_and_meets_its_quality_bar() -> None:
    bundle = ModelBundle.open(DEMO_BUNDLE)
    heldout = bundle.manifest.metrics["heldout"]
    assert heldout["fp32"]["macro_label_f1"] >= 0.8
    assert heldout["fp32"]["n"] >= 200
    parity = bundle.manifest.metrics["token_parity_fp32_vs_torch"]
    assert parity["identical"] == parity["total"] >= 20


@needs_bundle
def test_generate_names_the_findings_drawn_in_phantoms(tmp_path: Path, capsys) -> None:
    assert run(["phantoms", str(tmp_path), "--count", "12", "--seed", "777"]) == 0
    rows = load_phantom_manifest(tmp_path)
    capsys.readouterr()
    assert run(["generate", "--bundle", str(DEMO_BUNDLE), "--json", *[str(tmp_path / r["file"]) for r in rows]]) == 0
    outputs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(outputs) == len(rows)
    predicted = np.stack([label_report(f"FINDINGS: {o['findings']} IMPRESSION: {o['impression']}") for o in outputs])
    truth = np.array([r["labels"] for r in rows])
    exact = int((predicted == truth).all(axis=1).sum())
    # phantoms the model was never trained on: most reports name exactly the drawn findings
    assert exact >= 8, [(FINDINGS, t, p) for t, p in zip(truth, predicted)]
    assert all(o["findings"] and o["impression"] for o in outputs)


def test_generate_refuses_a_tampered_bundle_with_exit_78(tiny_bundle: Path, tmp_path: Path, capsys) -> None:
    import shutil

    from training.phantoms import make_phantom

    bundle = tmp_path / "b"
    shutil.copytree(tiny_bundle, bundle)
    (bundle / "encoder.onnx").write_bytes(b"\0" + (bundle / "encoder.onnx").read_bytes()[1:])
    dcm = tmp_path / "x.dcm"
    make_phantom(3).dataset.save_as(dcm, enforce_file_format=True)
    assert run(["generate", "--bundle", str(bundle), str(dcm)]) == 78
    assert "encoder.onnx: SHA-256 differs" in capsys.readouterr().err


def test_generate_rejects_a_non_dicom_file_with_exit_65(tiny_bundle: Path, tmp_path: Path, capsys) -> None:
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not dicom at all")
    assert run(["generate", "--bundle", str(tiny_bundle), str(junk)]) == 65
    assert "not a readable DICOM file" in capsys.readouterr().err


def test_export_names_a_missing_weights_directory_with_exit_66(tmp_path: Path, capsys) -> None:
    pytest.importorskip("torch")
    assert run(["export", "--out", str(tmp_path / "b"), "--t5", str(tmp_path / "missing")]) == 66
    assert "--t5" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_build_engines_without_tensorrt_exits_69(tiny_bundle: Path, tmp_path: Path, capsys) -> None:
    import onnxruntime

    if "TensorrtExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has TensorRT")
    code = run(["build-engines", "--bundle", str(tiny_bundle), "--cache", str(tmp_path / "engines")])
    assert code == 69
    assert "TensorRT" in capsys.readouterr().err


def test_build_engines_needs_a_config_or_a_bundle_and_cache(capsys) -> None:
    assert run(["build-engines"]) == 64
