"""training.injection_classifier.OPSET duplicates export.spec.OPSET (training sits below export in
the layers and must not import it): this test keeps the two equal."""

from __future__ import annotations

import pytest


def test_injection_classifier_opset_equals_the_bundles() -> None:
    pytest.importorskip("torch")  # both modules import torch at the top
    from export.spec import OPSET as BUNDLE_OPSET
    from training.injection_classifier import OPSET

    assert isinstance(OPSET, int)
    assert OPSET == BUNDLE_OPSET
