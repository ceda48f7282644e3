"""Training with indication prompts: tokenised as the runtime tokenises them, drawn per example, and
actually read by the model (the report stays a decoder target only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from runtime.bundle import ModelBundle  # noqa: E402
from runtime.generator import ReportGenerator  # noqa: E402
from runtime.session import SessionSettings  # noqa: E402
from tests.conftest import REPORT_SAMPLES  # noqa: E402
from training.tokenizer import load_tokenizer, train_tokenizer  # noqa: E402
from training.train import TrainConfig, encode_prompts, encode_targets, train  # noqa: E402

PROMPTS = ["Shortness of breath. ? left effusion", "", "Post central line insertion, check position", "Cough"]


@pytest.mark.parametrize("limit", [64, 4])
def test_prompts_are_tokenised_like_the_runtime(tiny_bundle: Path, tiny_tokenizer_file: Path, limit: int) -> None:
    tok = load_tokenizer(tiny_tokenizer_file)
    generator = ReportGenerator(ModelBundle.open(tiny_bundle), settings=SessionSettings(max_prompt_tokens=limit))
    ids, mask = encode_prompts(tok, [PROMPTS[:2], PROMPTS[2:]], eos_token_id=1, pad_token_id=0, max_length=limit)
    assert ids.shape[:2] == (2, 2)
    want_ids, want_mask = generator.encode_prompts(PROMPTS)
    for i, (row, j) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        n = int(mask[row, j].sum())
        assert n == int(want_mask[i].sum()) and n <= limit
        assert ids[row, j, :n].tolist() == want_ids[i, :n].tolist()
        assert ids[row, j, n - 1] == 1  # closed by </s>, truncated or not
    assert mask[0, 1].sum() == 1  # the empty indication is just </s>


@pytest.mark.parametrize("rows", [[], [[]], [["a", "b"], ["c"]]])
def test_ragged_or_empty_prompt_rows_are_refused(tiny_tokenizer_file: Path, rows) -> None:
    with pytest.raises(ValueError):
        encode_prompts(load_tokenizer(tiny_tokenizer_file), rows, 1, 0)


def test_the_model_learns_to_read_the_prompt() -> None:
    """Identical images, two reports told apart only by the prompt: fitting them needs the prompt."""
    from training.model import ReportModel, tiny_config

    tok = train_tokenizer(REPORT_SAMPLES * 5 + ["? left effusion", "check line position"] * 5, vocab_size=300)
    torch.manual_seed(0)
    model = ReportModel(tiny_config(tok.get_vocab_size(), image_size=32))
    images = np.zeros((32, 3, 32, 32), dtype=np.float32)
    reports = [REPORT_SAMPLES[1]] * 16 + [REPORT_SAMPLES[2]] * 16
    prompts = [["? left effusion"]] * 16 + [["check line position"]] * 16
    targets = encode_targets(tok, reports, 64)
    encoded = encode_prompts(tok, prompts, 1, 0)
    history = train(
        model, images, targets, None, TrainConfig(epochs=12, batch_size=8, lr=3e-3, warmup_steps=5), prompts=encoded
    )
    assert history.losses[-1] < 0.5 * history.losses[0]
    for p, want in (("? left effusion", REPORT_SAMPLES[1]), ("check line position", REPORT_SAMPLES[2])):
        ids, mask = encode_prompts(tok, [[p]], 1, 0)
        out = model.generate(torch.zeros(1, 3, 32, 32), torch.from_numpy(ids[:, 0]), torch.from_numpy(mask[:, 0]), 64)
        assert tok.decode(out[0].tolist(), skip_special_tokens=True) == want


def test_prompt_shape_must_match_the_images(tiny_tokenizer_file: Path) -> None:
    from training.model import ReportModel, tiny_config

    tok = load_tokenizer(tiny_tokenizer_file)
    model = ReportModel(tiny_config(tok.get_vocab_size(), image_size=32))
    images = np.zeros((4, 3, 32, 32), dtype=np.float32)
    targets = encode_targets(tok, REPORT_SAMPLES[:1] * 4, 32)
    with pytest.raises(ValueError, match="prompts must be"):
        train(model, images, targets, None, TrainConfig(epochs=1), prompts=encode_prompts(tok, [["a"]] * 3, 1, 0))
