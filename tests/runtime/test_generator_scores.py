"""What the generator reports besides the text: token log-probabilities and the finding head's
probabilities, checked against PyTorch computing the same quantities independently."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from runtime.bundle import ModelBundle
from runtime.generator import GeneratedReport, ReportGenerator, _chosen_logprobs, _sigmoid
from tests.runtime.conftest import HEAD_LABELS

torch = pytest.importorskip("torch")


def _images(n: int, size: int = 64, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((3, size, size)).astype(np.float32) for _ in range(n)]


def _reference_logprobs(model, image: np.ndarray, prompt: tuple[np.ndarray, np.ndarray], ids: tuple[int, ...]):
    """Teacher-forced log-softmax of the emitted tokens through transformers' own T5 forward."""
    with torch.no_grad():
        hidden, mask = model.encode(
            torch.from_numpy(image[None]), torch.from_numpy(prompt[0]), torch.from_numpy(prompt[1])
        )
        inputs = torch.tensor([[model.decoder_start_token_id, *ids[:-1]]])
        logits = model.t5(encoder_outputs=(hidden,), attention_mask=mask, decoder_input_ids=inputs).logits[0]
        return torch.log_softmax(logits.double(), dim=-1)[torch.arange(len(ids)), torch.tensor(ids)].numpy()


@pytest.mark.parametrize("indication", [None, "Shortness of breath. ? left effusion"])
@pytest.mark.parametrize("fixture", ["tiny_bundle", "tiny_head_bundle"])
def test_token_logprobs_are_the_models_log_softmax(request, fixture: str, indication: str | None) -> None:
    bundle_dir: Path = request.getfixturevalue(fixture)
    model = request.getfixturevalue("tiny_model" if fixture == "tiny_bundle" else "tiny_head_model")
    generator = ReportGenerator(ModelBundle.open(bundle_dir))
    images = _images(3)
    reports = generator.generate(images, [indication] * 3)
    for image, report in zip(images, reports):
        assert len(report.token_logprobs) == len(report.token_ids) > 0
        assert all(lp <= 0.0 for lp in report.token_logprobs)
        prompt = generator.encode_prompts([indication])
        want = _reference_logprobs(model, image, prompt, report.token_ids)
        np.testing.assert_allclose(report.token_logprobs, want, atol=1e-3)


def test_logprobs_with_a_forced_length_are_the_unsuppressed_ones(tiny_model, tiny_bundle: Path) -> None:
    generator = ReportGenerator(ModelBundle.open(tiny_bundle))
    image = _images(1, seed=3)
    report = generator.generate(image, max_new_tokens=20, min_new_tokens=20)[0]
    assert len(report.token_ids) == len(report.token_logprobs) == 20
    want = _reference_logprobs(tiny_model, image[0], generator.encode_prompts([None]), report.token_ids)
    np.testing.assert_allclose(report.token_logprobs, want, atol=1e-3)


def test_finding_probs_are_the_sigmoid_of_the_image_head(tiny_head_model, tiny_head_bundle: Path) -> None:
    bundle = ModelBundle.open(tiny_head_bundle)
    assert bundle.manifest.finding_labels == HEAD_LABELS
    generator = ReportGenerator(bundle)
    assert generator.has_finding_head
    images = _images(4, seed=1)
    reports = generator.generate(images, ["Post central line insertion, check position", None, None, "Cough"])
    head = tiny_head_model.finding_head
    with torch.no_grad():
        want = torch.sigmoid(head(tiny_head_model.vision(torch.from_numpy(np.stack(images))))).numpy()
    got = np.array([r.finding_probs for r in reports])
    assert got.shape == (4, len(HEAD_LABELS))
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert len({tuple(np.round(row, 4)) for row in got}) == 4  # image-dependent, not a constant
    # the prompt does not reach the head: same image, different indication, same probabilities
    again = generator.generate(images[:1], ["? right pneumothorax"])[0].finding_probs
    assert again is not None
    np.testing.assert_allclose(again, got[0], atol=1e-6)


def test_a_bundle_without_head_reports_no_finding_probs(tiny_bundle: Path) -> None:
    bundle = ModelBundle.open(tiny_bundle)
    assert bundle.manifest.finding_labels == () and bundle.manifest.validation is None
    generator = ReportGenerator(bundle)
    assert not generator.has_finding_head
    assert all(r.finding_probs is None for r in generator.generate(_images(2)))


def test_int8_head_bundle_reports_close_probabilities(tiny_head_model, tiny_tokenizer_file, tmp_path: Path) -> None:
    from tests.runtime.conftest import write_head_bundle

    bundle = ModelBundle.open(write_head_bundle(tiny_head_model, tiny_tokenizer_file, tmp_path / "b", int8=True))
    if "int8" not in bundle.precisions:
        pytest.skip("the INT8 guard kept no int8 variant of this random model")
    images = _images(3, seed=2)
    fp32 = [r.finding_probs for r in ReportGenerator(bundle, precision="fp32").generate(images)]
    int8 = [r.finding_probs for r in ReportGenerator(bundle, precision="int8").generate(images)]
    np.testing.assert_allclose(np.array(int8), np.array(fp32), atol=0.05)


def test_generated_report_defaults_keep_older_constructors_working() -> None:
    r = GeneratedReport("No effusion.", "Normal.", (5, 1))
    assert r.token_logprobs == () and r.finding_probs is None


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float32, (3, 17), elements=st.floats(-50, 50, width=32)),
    st.floats(-1e4, 1e4),
    st.integers(0, 16),
)
def test_chosen_logprobs_are_shift_invariant_and_stable(scores: np.ndarray, shift: float, token: int) -> None:
    chosen = np.full(3, token)
    base = _chosen_logprobs(scores.astype(np.float64), chosen)
    shifted = _chosen_logprobs((scores.astype(np.float64) + shift), chosen)
    exact = scores[:, token] - np.log(np.exp(scores.astype(np.float64)).sum(axis=1))
    assert np.all(np.isfinite(shifted)) and np.all(base <= 1e-9)
    np.testing.assert_allclose(base, exact, atol=1e-6)
    np.testing.assert_allclose(shifted, exact, atol=1e-6 * (1 + abs(shift)))


@pytest.mark.parametrize(
    ("x", "want"),
    [(0.0, 0.5), (800.0, 1.0), (-800.0, 0.0), (2.0, 1 / (1 + np.exp(-2.0))), (-2.0, 1 / (1 + np.exp(2.0)))],
)
def test_sigmoid_does_not_overflow(x: float, want: float) -> None:
    with np.errstate(over="raise"):
        assert _sigmoid(np.array([x]))[0] == pytest.approx(want, abs=1e-12)
