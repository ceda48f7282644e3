"""Report generation on ONNX Runtime: encoder once, then greedy decoding with a KV cache.

Execution providers are taken in the order TensorRT -> CUDA -> CPU, among those this onnxruntime
build offers (runtime.session). Sessions are created from the bundle's verified bytes (runtime.bundle).

Decoding runs through IO binding: the encoder's cross-attention keys/values and the decoder's
self-attention cache stay where the provider put them (GPU memory on CUDA/TensorRT) and are fed back
as OrtValues, so only the logits of the new token cross to the host each step. Studies that arrive
together are decoded as one batch (runtime.batching groups them); finished rows keep emitting padding
until every row is done.

Each report carries what the validator's anomaly checks need (ids.report): `token_logprobs`, the
log-softmax of every emitted token (</s> included) computed from the logits that already come to the
host, and `finding_probs`, the sigmoid of the encoder's "finding_logits" output (the image tower's
finding head, columns in `manifest.finding_labels` order), None for a bundle without that output.
Encoder outputs are read by name, never by position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from runtime.bundle import ModelBundle
from runtime.errors import BundleError
from runtime.sections import split_sections
from runtime.session import (
    PREFERRED_PROVIDERS,
    SessionSettings,
    available_providers,
    create_session,
    device_of,
    resolve_providers,
)

__all__ = [
    "PREFERRED_PROVIDERS",
    "GeneratedReport",
    "GeneratedRows",
    "ReportGenerator",
    "available_providers",
    "split_sections",
]


@dataclass(frozen=True)
class GeneratedRows:
    """Raw output of one batch: token ids and their log-probabilities per row, finding probabilities."""

    ids: list[list[int]]
    logprobs: list[list[float]]
    finding_probs: np.ndarray | None  # [batch, n_labels] float32, or None without a finding head


def _chosen_logprobs(scores: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """log softmax(scores)[row, chosen[row]] per row, stable (max subtracted before exp)."""
    top = scores.max(axis=-1, keepdims=True)
    lse = np.log(np.exp(scores - top).sum(axis=-1)) + top[:, 0]
    return np.take_along_axis(scores, chosen[:, None], axis=-1)[:, 0] - lse


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function without overflow for large |x| (exp only of non-positive values)."""
    x = x.astype(np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


@dataclass(frozen=True)
class GeneratedReport:
    findings: str
    impression: str
    token_ids: tuple[int, ...]
    token_logprobs: tuple[float, ...] = ()  # log-softmax of each emitted token, </s> included
    finding_probs: tuple[float, ...] | None = None  # sigmoid of the finding head; None without one

    @property
    def text(self) -> str:
        return f"FINDINGS: {self.findings}\nIMPRESSION: {self.impression}"


class ReportGenerator:
    """Generates reports from preprocessed images with one bundle precision ("fp32", "int8", "fp16").

    `providers` (plain provider names) overrides `settings.providers`; kept for callers that only
    want to pin CPU.
    """

    def __init__(
        self,
        bundle: ModelBundle,
        *,
        precision: str = "fp32",
        settings: SessionSettings | None = None,
        providers: Sequence[str] | None = None,
    ) -> None:
        m = bundle.manifest
        self.bundle = bundle
        self.precision = precision
        settings = settings or SessionSettings()
        if providers is not None:
            settings = replace(settings, providers=tuple(providers))
        self.settings = settings
        self.encoder = create_session(
            bundle.graph_bytes(precision, "encoder"), settings, resolve_providers(settings, "encoder", m)
        )
        self.decoder = create_session(
            bundle.graph_bytes(precision, "decoder"), settings, resolve_providers(settings, "decoder", m)
        )
        self.providers = self.decoder.get_providers()
        self.device = device_of(self.decoder)
        self.tokenizer = Tokenizer.from_str(bundle.blob(m.tokenizer.file).decode("utf-8"))
        self._layers, self._heads, self._d_kv = m.decoder.num_layers, m.decoder.num_heads, m.decoder.d_kv
        self._check_io()
        self._encoder_outputs = [o.name for o in self.encoder.get_outputs()]
        self.has_finding_head = "finding_logits" in self._encoder_outputs
        past = next(i for i in self.decoder.get_inputs() if i.name == "past_key_0")
        self._cache_dtype = np.float16 if past.type == "tensor(float16)" else np.float32

    def _check_io(self) -> None:
        names = {i.name for i in self.decoder.get_inputs()}
        expected = {"input_ids", "encoder_attention_mask"} | {
            f"{p}_{kind}_{i}" for p in ("past", "cross") for kind in ("key", "value") for i in range(self._layers)
        }
        if names != expected:
            raise BundleError(f"decoder graph inputs {sorted(names)} do not match the manifest's decoder")
        outputs = {o.name for o in self.encoder.get_outputs()}
        needed = {"encoder_attention_mask"} | {
            f"cross_{kind}_{i}" for kind in ("key", "value") for i in range(self._layers)
        }
        if not needed <= outputs:
            raise BundleError(f"encoder graph lacks outputs {sorted(needed - outputs)}")

    # ---- prompts --------------------------------------------------------------------------------

    def encode_prompts(self, indications: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids and mask of the clinical-indication prompts (each ends with </s>), right-padded.

        A prompt longer than `settings.max_prompt_tokens` keeps its beginning and its </s>: the
        TensorRT profiles are built for that length, and an indication is a line, not a document.
        """
        eos, pad = self.bundle.manifest.tokenizer.eos_token_id, self.bundle.manifest.tokenizer.pad_token_id
        limit = max(self.settings.max_prompt_tokens, 1)
        rows = [self.tokenizer.encode(text).ids if text else [eos] for text in indications]
        rows = [r if len(r) <= limit else r[: limit - 1] + [eos] for r in rows]
        width = max(len(r) for r in rows)
        ids = np.full((len(rows), width), pad, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
            mask[i, : len(r)] = 1
        return ids, mask

    # ---- generation -----------------------------------------------------------------------------

    def generate_ids(
        self,
        pixel_values: np.ndarray,
        prompt_ids: np.ndarray,
        prompt_mask: np.ndarray,
        max_new_tokens: int | None = None,
        min_new_tokens: int = 0,
    ) -> list[list[int]]:
        """Greedy token ids per image (without the start token, up to and including </s>).

        `min_new_tokens` suppresses </s> for the first steps (benchmarks use it to force a fixed length).
        """
        return self.generate_rows(pixel_values, prompt_ids, prompt_mask, max_new_tokens, min_new_tokens).ids

    def generate_rows(
        self,
        pixel_values: np.ndarray,
        prompt_ids: np.ndarray,
        prompt_mask: np.ndarray,
        max_new_tokens: int | None = None,
        min_new_tokens: int = 0,
    ) -> GeneratedRows:
        """`generate_ids` with each token's log-probability and the finding head's probabilities.

        The log-probability is the model's own (log-softmax of the raw logits), before the </s>
        suppression of `min_new_tokens`.
        """
        tok = self.bundle.manifest.tokenizer
        limit = max_new_tokens or self.bundle.manifest.max_new_tokens
        batch = pixel_values.shape[0]
        device = self.device

        enc = self.encoder.io_binding()
        enc.bind_cpu_input("pixel_values", np.ascontiguousarray(pixel_values, dtype=np.float32))
        enc.bind_cpu_input("prompt_ids", np.ascontiguousarray(prompt_ids, dtype=np.int64))
        enc.bind_cpu_input("prompt_mask", np.ascontiguousarray(prompt_mask, dtype=np.int64))
        for name in self._encoder_outputs:
            if name == "finding_logits":
                enc.bind_output(name, "cpu")  # [batch, n_labels]: read on the host
            else:
                enc.bind_output(name, device, self.settings.device_id)
        self.encoder.run_with_iobinding(enc)
        encoded = dict(zip(self._encoder_outputs, enc.get_outputs()))
        probs = _sigmoid(encoded["finding_logits"].numpy()).astype(np.float32) if self.has_finding_head else None

        dec = self.decoder.io_binding()
        dec.bind_ortvalue_input("encoder_attention_mask", encoded["encoder_attention_mask"])
        empty = ort.OrtValue.ortvalue_from_numpy(
            np.zeros((batch, self._heads, 0, self._d_kv), dtype=self._cache_dtype), device, self.settings.device_id
        )
        for i in range(self._layers):
            dec.bind_ortvalue_input(f"cross_key_{i}", encoded[f"cross_key_{i}"])
            dec.bind_ortvalue_input(f"cross_value_{i}", encoded[f"cross_value_{i}"])
            dec.bind_ortvalue_input(f"past_key_{i}", empty)
            dec.bind_ortvalue_input(f"past_value_{i}", empty)
        outputs = [o.name for o in self.decoder.get_outputs()]

        tokens = np.full((batch, 1), tok.decoder_start_token_id, dtype=np.int64)
        done = np.zeros(batch, dtype=bool)
        out: list[list[int]] = [[] for _ in range(batch)]
        logprobs: list[list[float]] = [[] for _ in range(batch)]
        for step in range(limit):
            dec.bind_cpu_input("input_ids", tokens)
            dec.bind_output(outputs[0], "cpu")  # only the logits come to the host
            for name in outputs[1:]:
                dec.bind_output(name, device, self.settings.device_id)
            self.decoder.run_with_iobinding(dec)
            logits, *present = dec.get_outputs()
            scores = logits.numpy()
            raw = scores.copy() if step < min_new_tokens else scores
            if step < min_new_tokens:
                scores[:, tok.eos_token_id] = -np.inf
            nxt = scores.argmax(axis=-1)
            nxt[done] = tok.pad_token_id
            chosen = _chosen_logprobs(raw, nxt)
            for row in np.flatnonzero(~done):
                out[row].append(int(nxt[row]))
                logprobs[row].append(float(chosen[row]))
            done |= nxt == tok.eos_token_id
            if done.all():
                break
            tokens = nxt[:, None].astype(np.int64)
            for i in range(self._layers):
                dec.bind_ortvalue_input(f"past_key_{i}", present[2 * i])
                dec.bind_ortvalue_input(f"past_value_{i}", present[2 * i + 1])
        return GeneratedRows(out, logprobs, probs)

    def decode(
        self,
        ids: Sequence[int],
        logprobs: Sequence[float] = (),
        finding_probs: Sequence[float] | None = None,
    ) -> GeneratedReport:
        text = self.tokenizer.decode(list(ids), skip_special_tokens=True)
        findings, impression = split_sections(text)
        return GeneratedReport(
            findings=findings,
            impression=impression,
            token_ids=tuple(ids),
            token_logprobs=tuple(float(x) for x in logprobs),
            finding_probs=None if finding_probs is None else tuple(float(x) for x in finding_probs),
        )

    def generate(
        self,
        images: Sequence[np.ndarray],
        indications: Sequence[str | None] | None = None,
        max_new_tokens: int | None = None,
        min_new_tokens: int = 0,
    ) -> list[GeneratedReport]:
        """Reports for preprocessed images ([3, S, S] each, from runtime.preprocess)."""
        if not images:
            return []
        prompts = list(indications) if indications is not None else [None] * len(images)
        ids, mask = self.encode_prompts(prompts)
        rows = self.generate_rows(np.stack(images), ids, mask, max_new_tokens, min_new_tokens)
        probs = rows.finding_probs
        return [
            self.decode(r, lp, None if probs is None else probs[i])
            for i, (r, lp) in enumerate(zip(rows.ids, rows.logprobs))
        ]
