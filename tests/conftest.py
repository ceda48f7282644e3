"""Shared fixtures: a tiny image-dependent report model and its exported bundle.

Randomly initialised T5 emits one token forever, which would hide export mismatches; the fixture
uses training.model.image_dependent_init so that the first tokens depend on the image.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO_BUNDLE = REPO / "models" / "demo-cxr"

REPORT_SAMPLES = [
    "FINDINGS: The heart size is normal. No pleural effusion. No pneumothorax. IMPRESSION: No acute cardiopulmonary abnormality.",
    "FINDINGS: Cardiomegaly. Small left pleural effusion. IMPRESSION: Cardiomegaly with left effusion.",
    "FINDINGS: Right lower lobe consolidation. Endotracheal tube 4 cm above the carina. IMPRESSION: Pneumonia.",
]


def image_dependent_model(vocab_size: int, seed: int = 0, image_size: int = 64):
    torch = pytest.importorskip("torch")
    from training.model import ReportModel, image_dependent_init, tiny_config

    torch.manual_seed(seed)
    return image_dependent_init(ReportModel(tiny_config(vocab_size, image_size=image_size)).eval())


@pytest.fixture(scope="session")
def tiny_tokenizer_file(tmp_path_factory) -> Path:
    from training.tokenizer import save_tokenizer, train_tokenizer

    tok = train_tokenizer(REPORT_SAMPLES * 5, vocab_size=300)
    return save_tokenizer(tok, tmp_path_factory.mktemp("tok") / "tokenizer.json")


@pytest.fixture(scope="session")
def tiny_model(tiny_tokenizer_file):
    from tokenizers import Tokenizer

    vocab = Tokenizer.from_file(str(tiny_tokenizer_file)).get_vocab_size()
    return image_dependent_model(vocab)


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory, tiny_model, tiny_tokenizer_file) -> Path:
    """fp32 + int8 bundle of `tiny_model` (export needs torch; the bundle itself does not)."""
    from export.bundle import write_bundle

    out = tmp_path_factory.mktemp("bundle") / "tiny"
    write_bundle(
        tiny_model,
        tiny_tokenizer_file,
        out,
        name="tiny-test",
        int8=True,
        max_new_tokens=24,
        model_card="# tiny test model\n",
    )
    return out


@pytest.fixture
def bundle_copy(tmp_path, tiny_bundle) -> Path:
    """A private copy of the tiny bundle that a test may corrupt."""
    dst = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, dst)
    return dst
