"""Fixtures of runtime tests: a tiny bundle whose encoder also has the image-only finding head.

The shared tiny bundle (tests/conftest.py) has no head, like older bundles and the full-size export
tests; this one carries "finding_logits" and a "validation" record, like the demo bundle.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

HEAD_LABELS = ("cardiomegaly", "effusion_left", "effusion_right", "line")
VALIDATION: dict[str, Any] = {
    "labels": list(HEAD_LABELS),
    "logprob_mean_min": -1.5,
    "logprob_min_min": -6.0,
    "agreement_min": 0.7,
    "source": {"n": 10, "quantile": 0.005},
}


def head_model(vocab_size: int, seed: int = 0, image_size: int = 64):
    """An image-dependent tiny model (see tests/conftest.py) with a finding head over HEAD_LABELS."""
    torch = pytest.importorskip("torch")
    from training.model import ReportModel, image_dependent_init, tiny_config

    torch.manual_seed(seed)
    model = ReportModel(tiny_config(vocab_size, image_size=image_size, labels=HEAD_LABELS))
    return image_dependent_init(model).eval()


def write_head_bundle(model, tokenizer_file: Path, out: Path, *, int8: bool = False) -> Path:
    from export.bundle import write_bundle, write_manifest

    write_bundle(model, tokenizer_file, out, name="tiny-head", int8=int8, max_new_tokens=24)
    manifest = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").unlink()
    write_manifest(
        model,
        out,
        name="tiny-head",
        variants=manifest["variants"],
        max_new_tokens=24,
        quantization=manifest["quantization"],
        validation=VALIDATION,
    )
    return out


@pytest.fixture(scope="session")
def tiny_head_model(tiny_tokenizer_file):
    from tokenizers import Tokenizer

    return head_model(Tokenizer.from_file(str(tiny_tokenizer_file)).get_vocab_size())


@pytest.fixture(scope="session")
def tiny_head_bundle(tmp_path_factory, tiny_head_model, tiny_tokenizer_file) -> Path:
    return write_head_bundle(tiny_head_model, tiny_tokenizer_file, tmp_path_factory.mktemp("head") / "tiny-head")
