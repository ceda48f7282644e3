"""The finding head is part of the model: configured by label names, saved and loaded with it,
trained in both phases, and absent from models (and configs) without labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from training.model import FindingHead, ReportModel, ReportModelConfig, tiny_config  # noqa: E402
from training.train import AuxiliaryHead, TrainConfig, VisionWarmup, encode_targets, pretrain_vision, train  # noqa: E402

LABELS = ("a", "b", "c")


@pytest.mark.parametrize(("labels", "has_head"), [((), False), (LABELS, True)])
def test_config_round_trip_and_head(labels: tuple[str, ...], has_head: bool) -> None:
    cfg = tiny_config(50, image_size=32, labels=labels)
    again = ReportModelConfig.from_json(cfg.to_json())
    assert again == cfg
    assert ("labels" in json.loads(cfg.to_json())) == has_head  # configs without a head keep the old form
    model = ReportModel(cfg)
    assert (model.finding_head is not None) == has_head
    if model.finding_head is not None:
        assert model.finding_head.linear.out_features == len(labels)


def test_head_is_saved_and_loaded(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = ReportModel(tiny_config(50, image_size=32, labels=LABELS))
    model.save(tmp_path)
    loaded = ReportModel.load(tmp_path)
    assert loaded.finding_head is not None and model.finding_head is not None
    assert torch.equal(loaded.finding_head.linear.weight, model.finding_head.linear.weight)


def test_both_phases_train_the_models_own_head(tiny_tokenizer_file: Path) -> None:
    import warnings

    from tests.conftest import REPORT_SAMPLES
    from training.tokenizer import load_tokenizer

    assert AuxiliaryHead is FindingHead
    tok = load_tokenizer(tiny_tokenizer_file)
    torch.manual_seed(0)
    model = ReportModel(tiny_config(tok.get_vocab_size(), image_size=32, labels=LABELS))
    assert model.finding_head is not None
    rng = np.random.default_rng(0)
    images = rng.standard_normal((8, 3, 32, 32)).astype(np.float32)
    labels = (rng.random((8, 3)) > 0.5).astype(np.float32)
    before = model.finding_head.linear.weight.detach().clone()
    pretrain_vision(model, model.finding_head, images, labels, VisionWarmup(epochs=1, batch_size=4))
    after_warmup = model.finding_head.linear.weight.detach().clone()
    assert not torch.equal(before, after_warmup)
    targets = encode_targets(tok, REPORT_SAMPLES[:1] * 8, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # e.g. "duplicate parameters" in the optimizer
        train(model, images, targets, labels, TrainConfig(epochs=1, batch_size=4, warmup_steps=1))
    assert not torch.equal(after_warmup, model.finding_head.linear.weight)
