"""Report generation on ONNX Runtime: encoder once, then greedy decoding with a KV cache.

Execution providers are taken in the order TensorRT -> CUDA -> CPU, among those this onnxruntime
build offers. Sessions are created from the bundle's verified bytes (see runtime.bundle).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from runtime.bundle import ModelBundle
from runtime.errors import BundleError

PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")

_SECTIONS = re.compile(r"FINDINGS\s*:(?P<findings>.*?)(?:IMPRESSION\s*:(?P<impression>.*))?$", re.S | re.I)


@dataclass(frozen=True)
class GeneratedReport:
    findings: str
    impression: str
    token_ids: tuple[int, ...]

    @property
    def text(self) -> str:
        return f"FINDINGS: {self.findings}\nIMPRESSION: {self.impression}"


def split_sections(text: str) -> tuple[str, str]:
    """("findings", "impression") of a generated report; missing sections come back empty."""
    match = _SECTIONS.search(text.strip())
    if not match:
        return "", ""
    return match.group("findings").strip(), (match.group("impression") or "").strip()


def available_providers(preferred: Sequence[str] = PREFERRED_PROVIDERS) -> list[str]:
    present = set(ort.get_available_providers())
    return [p for p in preferred if p in present]


class ReportGenerator:
    """Generates reports from preprocessed images with one bundle precision ("fp32" or "int8")."""

    def __init__(
        self,
        bundle: ModelBundle,
        *,
        precision: str = "fp32",
        providers: Sequence[str] | None = None,
        intra_op_threads: int = 0,
    ) -> None:
        m = bundle.manifest
        self.bundle = bundle
        self.precision = precision
        self.providers = list(providers) if providers is not None else available_providers()
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.encoder = ort.InferenceSession(bundle.graph_bytes(precision, "encoder"), options, providers=self.providers)
        self.decoder = ort.InferenceSession(bundle.graph_bytes(precision, "decoder"), options, providers=self.providers)
        self.tokenizer = Tokenizer.from_str(bundle.blob(m.tokenizer.file).decode("utf-8"))
        self._layers, self._heads, self._d_kv = m.decoder.num_layers, m.decoder.num_heads, m.decoder.d_kv
        self._check_io()

    def _check_io(self) -> None:
        names = {i.name for i in self.decoder.get_inputs()}
        expected = {"input_ids", "encoder_attention_mask"} | {
            f"{p}_{kind}_{i}" for p in ("past", "cross") for kind in ("key", "value") for i in range(self._layers)
        }
        if names != expected:
            raise BundleError(f"decoder graph inputs {sorted(names)} do not match the manifest's decoder")

    # ---- prompts --------------------------------------------------------------------------------

    def encode_prompts(self, indications: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids and mask of the clinical-indication prompts (each ends with </s>), right-padded."""
        eos, pad = self.bundle.manifest.tokenizer.eos_token_id, self.bundle.manifest.tokenizer.pad_token_id
        rows = [self.tokenizer.encode(text).ids if text else [eos] for text in indications]
        width = max(len(r) for r in rows)
        ids = np.full((len(rows), width), pad, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
            mask[i, : len(r)] = 1
        return ids, mask

    # ---- generation -----------------------------------------------------------------------------

    def generate_ids(
        self, pixel_values: np.ndarray, prompt_ids: np.ndarray, prompt_mask: np.ndarray,
        max_new_tokens: int | None = None,
    ) -> list[list[int]]:
        """Greedy token ids per image (without the start token, up to and including </s>)."""
        tok = self.bundle.manifest.tokenizer
        limit = max_new_tokens or self.bundle.manifest.max_new_tokens
        batch = pixel_values.shape[0]
        enc_out = self.encoder.run(None, {
            "pixel_values": np.ascontiguousarray(pixel_values, dtype=np.float32),
            "prompt_ids": prompt_ids.astype(np.int64), "prompt_mask": prompt_mask.astype(np.int64),
        })
        mask, cross = enc_out[1], enc_out[2:]
        feeds: dict[str, np.ndarray] = {"encoder_attention_mask": mask}
        for i in range(self._layers):
            feeds[f"cross_key_{i}"], feeds[f"cross_value_{i}"] = cross[2 * i], cross[2 * i + 1]
            empty = np.zeros((batch, self._heads, 0, self._d_kv), dtype=np.float32)
            feeds[f"past_key_{i}"], feeds[f"past_value_{i}"] = empty, empty
        tokens = np.full((batch, 1), tok.decoder_start_token_id, dtype=np.int64)
        done = np.zeros(batch, dtype=bool)
        out: list[list[int]] = [[] for _ in range(batch)]
        for _ in range(limit):
            feeds["input_ids"] = tokens
            logits, *present = self.decoder.run(None, feeds)
            nxt = logits.argmax(axis=-1)
            nxt[done] = tok.pad_token_id
            for i in np.flatnonzero(~done):
                out[i].append(int(nxt[i]))
            done |= nxt == tok.eos_token_id
            if done.all():
                break
            tokens = nxt[:, None].astype(np.int64)
            for i in range(self._layers):
                feeds[f"past_key_{i}"], feeds[f"past_value_{i}"] = present[2 * i], present[2 * i + 1]
        return out

    def decode(self, ids: Sequence[int]) -> GeneratedReport:
        text = self.tokenizer.decode(list(ids), skip_special_tokens=True)
        findings, impression = split_sections(text)
        return GeneratedReport(findings=findings, impression=impression, token_ids=tuple(ids))

    def generate(self, images: Sequence[np.ndarray], indications: Sequence[str | None] | None = None,
                 max_new_tokens: int | None = None) -> list[GeneratedReport]:
        """Reports for preprocessed images ([3, S, S] each, from runtime.preprocess)."""
        if not images:
            return []
        prompts = list(indications) if indications is not None else [None] * len(images)
        ids, mask = self.encode_prompts(prompts)
        rows = self.generate_ids(np.stack(images), ids, mask, max_new_tokens)
        return [self.decode(r) for r in rows]
