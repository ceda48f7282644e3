"""The manifest's "validation" record (anomaly thresholds) and "finding_head" record: parsed exactly,
absent in older bundles, malformed ones refused with the key named."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest

from runtime.bundle import MANIFEST, ModelBundle, ValidationCalibration
from runtime.errors import BundleError
from tests.runtime.conftest import HEAD_LABELS, VALIDATION


def _edit(bundle: Path, change) -> None:
    manifest = json.loads((bundle / MANIFEST).read_text())
    change(manifest)
    (bundle / MANIFEST).write_text(json.dumps(manifest))


@pytest.fixture
def head_copy(tmp_path: Path, tiny_head_bundle: Path) -> Path:
    dst = tmp_path / "head"
    shutil.copytree(tiny_head_bundle, dst)
    return dst


def test_validation_and_head_labels_are_read(tiny_head_bundle: Path) -> None:
    m = ModelBundle.open(tiny_head_bundle).manifest
    assert m.finding_labels == HEAD_LABELS
    assert m.validation == ValidationCalibration(
        labels=HEAD_LABELS,
        logprob_mean_min=VALIDATION["logprob_mean_min"],
        logprob_min_min=VALIDATION["logprob_min_min"],
        agreement_min=VALIDATION["agreement_min"],
        source=VALIDATION["source"],
    )
    assert m.validation.to_dict() == VALIDATION
    assert ValidationCalibration.from_dict(m.validation.to_dict()) == m.validation


def test_an_older_manifest_without_the_records_opens(bundle_copy: Path) -> None:
    manifest = json.loads((bundle_copy / MANIFEST).read_text())
    assert "validation" not in manifest and "finding_head" not in manifest
    m = ModelBundle.open(bundle_copy).manifest
    assert m.validation is None and m.finding_labels == ()


def test_validation_null_and_agreement_null_are_accepted(head_copy: Path) -> None:
    _edit(head_copy, lambda m: m["validation"].__setitem__("agreement_min", None))
    assert ModelBundle.open(head_copy).manifest.validation.agreement_min is None  # type: ignore[union-attr]
    _edit(head_copy, lambda m: m.__setitem__("validation", None))
    assert ModelBundle.open(head_copy).manifest.validation is None


def _set(key: str, value: Any):
    return lambda m: m["validation"].__setitem__(key, value)


def _drop(key: str):
    return lambda m: m["validation"].pop(key)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_drop("logprob_mean_min"), "missing key validation.logprob_mean_min"),
        (_drop("logprob_min_min"), "missing key validation.logprob_min_min"),
        (_set("logprob_mean_min", "low"), "validation.logprob_mean_min must be a finite number"),
        (_set("logprob_min_min", math.inf), "validation.logprob_min_min must be a finite number"),
        (_set("agreement_min", True), "validation.agreement_min must be a finite number"),
        (_set("labels", "cardiomegaly"), "validation.labels must be a list of strings"),
        (_set("labels", ["cardiomegaly"]), "validation.labels differ from finding_head.labels"),
        (_set("source", []), "validation.source must be an object"),
        (lambda m: m.__setitem__("validation", [1, 2]), "validation must be an object"),
        (lambda m: m["finding_head"].__setitem__("labels", [1]), "finding_head.labels must be a list of strings"),
    ],
)
def test_malformed_records_are_refused(head_copy: Path, change, message: str) -> None:
    _edit(head_copy, change)
    with pytest.raises(BundleError, match=message):
        ModelBundle.open(head_copy)
