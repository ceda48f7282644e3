from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tests.conftest import REPORT_SAMPLES  # noqa: E402
from training.tokenizer import train_tokenizer  # noqa: E402
from training.train import IGNORE, TrainConfig, encode_targets, train  # noqa: E402


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(REPORT_SAMPLES * 5, vocab_size=300)


def test_targets_end_with_eos_and_pad_with_ignore(tokenizer) -> None:
    out = encode_targets(tokenizer, REPORT_SAMPLES, max_length=512)
    for row, text in zip(out, REPORT_SAMPLES):
        ids = row[row != IGNORE]
        assert ids[-1] == 1
        assert tokenizer.decode(ids.tolist(), skip_special_tokens=True) == text
    assert (out == IGNORE).any()


def test_truncated_targets_still_end_with_eos(tokenizer) -> None:
    out = encode_targets(tokenizer, REPORT_SAMPLES, max_length=8)
    assert out.shape[1] == 8
    assert all(row[row != IGNORE][-1] == 1 for row in out)


def test_training_reduces_the_loss_on_a_tiny_task(tokenizer) -> None:
    """Two distinguishable images, two reports: a few epochs must fit them."""
    from training.model import ReportModel, tiny_config

    torch.manual_seed(0)
    model = ReportModel(tiny_config(tokenizer.get_vocab_size(), image_size=32))
    rng = np.random.default_rng(0)
    images = np.concatenate([rng.normal(-1, 0.1, (16, 3, 32, 32)), rng.normal(1, 0.1, (16, 3, 32, 32))]).astype(
        np.float32
    )
    targets = encode_targets(tokenizer, [REPORT_SAMPLES[0]] * 16 + [REPORT_SAMPLES[1]] * 16, 64)
    history = train(model, images, targets, None, TrainConfig(epochs=12, batch_size=8, lr=3e-3, warmup_steps=5))
    assert history.losses[-1] < 0.5 * history.losses[0]
    out = model.generate(
        torch.from_numpy(images[[0, -1]]),
        torch.ones(2, 1, dtype=torch.long),
        torch.ones(2, 1, dtype=torch.long),
        max_new_tokens=64,
    )
    texts = [tokenizer.decode(r.tolist(), skip_special_tokens=True) for r in out]
    assert texts == [REPORT_SAMPLES[0], REPORT_SAMPLES[1]]
