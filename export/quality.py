"""Quality guard for quantised graphs: does the INT8 model still say what the fp32 model says?

Measured on inputs whose output depends on the image (a trained model, or a random one drawn with
training.model.image_dependent_init): a model that repeats one token for every input would agree
with anything. `Agreement.distinct_sequences` counts the distinct fp32 greedy sequences over the
inputs (not first tokens: a trained model starts every report with "FINDINGS:"), and the guard
refuses to judge when that is too few.

- token agreement: the candidate's greedy token at every position of the fp32 greedy sequence,
  teacher-forced (both decoders see the fp32 prefix), so one early divergence does not hide the
  agreement of everything after it; plus the share of whole sequences that are identical free-running.
- logit relative error: ||logits_candidate - logits_fp32|| / ||logits_fp32|| per step, teacher-forced.

`choose_int8` applies the policy of `export.bundle`: quantise every graph when that keeps agreement,
else keep the encoder in fp32 and quantise the decoder only (the part read once per token), else
ship no INT8 variant.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from runtime.session import cpu_session

MIN_TOKEN_AGREEMENT = 0.95  # teacher-forced; see docs/acceleration.md
MIN_DISTINCT_SEQUENCES = 0.25  # distinct fp32 greedy sequences, as a share of the inputs


class QualityError(Exception):
    """The reference model is not image-dependent enough to judge a quantised variant."""


@dataclass(frozen=True)
class Agreement:
    candidate: str
    inputs: int
    steps: int
    token_agreement: float
    identical_sequences: float
    logit_rel_error_median: float
    logit_rel_error_p95: float
    distinct_sequences: int

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class GraphPair:
    """An encoder and a decoder-step session run with plain numpy feeds (no IO binding needed here)."""

    def __init__(self, encoder: bytes | str, decoder: bytes | str, *, threads: int = 0) -> None:
        self.encoder = cpu_session(encoder, threads=threads)
        self.decoder = cpu_session(decoder, threads=threads)
        past = [i for i in self.decoder.get_inputs() if i.name.startswith("past_key_")]
        self.layers = len(past)
        self.heads, self.d_kv = past[0].shape[1], past[0].shape[3]

    def _start(self, pixels: np.ndarray, ids: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
        names = [o.name for o in self.encoder.get_outputs()]
        # By name: a graph with a finding head has one more output after the caches.
        out = dict(
            zip(names, self.encoder.run(names, {"pixel_values": pixels, "prompt_ids": ids, "prompt_mask": mask}))
        )
        feeds = {"encoder_attention_mask": out["encoder_attention_mask"]}
        empty = np.zeros((pixels.shape[0], self.heads, 0, self.d_kv), dtype=np.float32)
        for i in range(self.layers):
            feeds[f"cross_key_{i}"], feeds[f"cross_value_{i}"] = out[f"cross_key_{i}"], out[f"cross_value_{i}"]
            feeds[f"past_key_{i}"], feeds[f"past_value_{i}"] = empty, empty
        return feeds

    def _step(self, feeds: dict[str, np.ndarray], tokens: np.ndarray) -> np.ndarray:
        feeds["input_ids"] = tokens[:, None].astype(np.int64)
        logits, *present = self.decoder.run(None, feeds)
        for i in range(self.layers):
            feeds[f"past_key_{i}"], feeds[f"past_value_{i}"] = present[2 * i], present[2 * i + 1]
        return logits

    def greedy(
        self, pixels: np.ndarray, ids: np.ndarray, mask: np.ndarray, steps: int, start: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """(tokens [B, steps], logits [steps, B, V]) of greedy decoding without stopping at </s>."""
        feeds = self._start(pixels, ids, mask)
        tokens = np.full(pixels.shape[0], start, dtype=np.int64)
        out, all_logits = [], []
        for _ in range(steps):
            logits = self._step(feeds, tokens)
            tokens = logits.argmax(-1)
            out.append(tokens)
            all_logits.append(logits)
        return np.stack(out, 1), np.stack(all_logits)

    def forced(
        self, pixels: np.ndarray, ids: np.ndarray, mask: np.ndarray, prefix: np.ndarray, start: int
    ) -> np.ndarray:
        """Logits [steps, B, V] when the decoder is fed `prefix` (the reference's tokens)."""
        feeds = self._start(pixels, ids, mask)
        tokens = np.full(pixels.shape[0], start, dtype=np.int64)
        all_logits = []
        for t in range(prefix.shape[1]):
            all_logits.append(self._step(feeds, tokens))
            tokens = prefix[:, t]
        return np.stack(all_logits)


def agreement(
    reference: GraphPair,
    candidate: GraphPair,
    name: str,
    pixels: np.ndarray,
    ids: np.ndarray,
    mask: np.ndarray,
    *,
    steps: int,
    start: int,
    batch: int = 8,
) -> Agreement:
    """Compare `candidate` with `reference` on every input (rows of pixels/ids/mask)."""
    agree = total = identical = 0
    errors: list[np.ndarray] = []
    sequences: list[tuple[int, ...]] = []
    for lo in range(0, pixels.shape[0], batch):
        sl = slice(lo, lo + batch)
        ref_tokens, ref_logits = reference.greedy(pixels[sl], ids[sl], mask[sl], steps, start)
        cand_logits = candidate.forced(pixels[sl], ids[sl], mask[sl], ref_tokens, start)
        agree += int((ref_tokens == cand_logits.argmax(-1).T).sum())
        total += ref_tokens.size
        diff = np.linalg.norm(cand_logits - ref_logits, axis=-1)
        errors.append((diff / np.maximum(np.linalg.norm(ref_logits, axis=-1), 1e-12)).ravel())
        free, _ = candidate.greedy(pixels[sl], ids[sl], mask[sl], steps, start)
        identical += int((free == ref_tokens).all(axis=1).sum())
        sequences += [tuple(row) for row in ref_tokens.tolist()]
    rel = np.concatenate(errors)
    return Agreement(
        candidate=name,
        inputs=pixels.shape[0],
        steps=steps,
        token_agreement=agree / total,
        identical_sequences=identical / pixels.shape[0],
        logit_rel_error_median=float(np.median(rel)),
        logit_rel_error_p95=float(np.percentile(rel, 95)),
        distinct_sequences=len(set(sequences)),
    )


def probe_inputs(
    image_size: int, n: int, *, seed: int = 0, prompt_ids: Sequence[int] = (1,)
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random normalised images and one fixed prompt: only the image varies between inputs."""
    rng = np.random.default_rng(seed)
    pixels = rng.standard_normal((n, 3, image_size, image_size)).astype(np.float32)
    ids = np.tile(np.asarray(prompt_ids, dtype=np.int64), (n, 1))
    return pixels, ids, np.ones_like(ids)


def choose_int8(
    reference: GraphPair,
    candidates: Sequence[tuple[str, Callable[[], GraphPair]]],
    inputs: tuple[np.ndarray, np.ndarray, np.ndarray],
    *,
    steps: int,
    start: int,
    min_agreement: float = MIN_TOKEN_AGREEMENT,
) -> tuple[str | None, list[Agreement]]:
    """The first candidate whose token agreement holds (None if none does), and every measurement.

    Raises QualityError when the reference is not image-dependent: agreement would then prove nothing.
    """
    results: list[Agreement] = []
    for name, build in candidates:
        result = agreement(reference, build(), name, *inputs, steps=steps, start=start)
        results.append(result)
        if result.distinct_sequences < MIN_DISTINCT_SEQUENCES * result.inputs:
            raise QualityError(
                f"{result.inputs} inputs give only {result.distinct_sequences} distinct fp32 sequences: the "
                "reference model does not depend on the image, so agreement would prove nothing"
            )
        if result.token_agreement >= min_agreement:
            return name, results
    return None, results
