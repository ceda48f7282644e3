"""Report generation on ONNX Runtime: encoder once, then greedy decoding with a KV cache.

Execution providers are taken in the order TensorRT -> CUDA -> CPU, among those this onnxruntime
build offers (runtime.session). Sessions are created from the bundle's verified bytes (runtime.bundle).

Decoding runs through IO binding: the encoder's cross-attention keys/values and the decoder's
self-attention cache stay where the provider put them (GPU memory on CUDA/TensorRT) and are fed back
as OrtValues, so only the logits of the new token cross to the host each step. Studies that arrive
together are decoded as one batch (runtime.batching groups them); finished rows keep emitting padding
until every row is done.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from runtime.bundle import ModelBundle
from runtime.errors import BundleError
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
    "ReportGenerator",
    "available_providers",
    "split_sections",
]

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
        past = next(i for i in self.decoder.get_inputs() if i.name == "past_key_0")
        self._cache_dtype = np.float16 if past.type == "tensor(float16)" else np.float32

    def _check_io(self) -> None:
        names = {i.name for i in self.decoder.get_inputs()}
        expected = {"input_ids", "encoder_attention_mask"} | {
            f"{p}_{kind}_{i}" for p in ("past", "cross") for kind in ("key", "value") for i in range(self._layers)
        }
        if names != expected:
            raise BundleError(f"decoder graph inputs {sorted(names)} do not match the manifest's decoder")

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
        tok = self.bundle.manifest.tokenizer
        limit = max_new_tokens or self.bundle.manifest.max_new_tokens
        batch = pixel_values.shape[0]
        device = self.device

        enc = self.encoder.io_binding()
        enc.bind_cpu_input("pixel_values", np.ascontiguousarray(pixel_values, dtype=np.float32))
        enc.bind_cpu_input("prompt_ids", np.ascontiguousarray(prompt_ids, dtype=np.int64))
        enc.bind_cpu_input("prompt_mask", np.ascontiguousarray(prompt_mask, dtype=np.int64))
        for output in self.encoder.get_outputs():
            enc.bind_output(output.name, device, self.settings.device_id)
        self.encoder.run_with_iobinding(enc)
        _, mask, *cross = enc.get_outputs()

        dec = self.decoder.io_binding()
        dec.bind_ortvalue_input("encoder_attention_mask", mask)
        empty = ort.OrtValue.ortvalue_from_numpy(
            np.zeros((batch, self._heads, 0, self._d_kv), dtype=self._cache_dtype), device, self.settings.device_id
        )
        for i in range(self._layers):
            dec.bind_ortvalue_input(f"cross_key_{i}", cross[2 * i])
            dec.bind_ortvalue_input(f"cross_value_{i}", cross[2 * i + 1])
            dec.bind_ortvalue_input(f"past_key_{i}", empty)
            dec.bind_ortvalue_input(f"past_value_{i}", empty)
        outputs = [o.name for o in self.decoder.get_outputs()]

        tokens = np.full((batch, 1), tok.decoder_start_token_id, dtype=np.int64)
        done = np.zeros(batch, dtype=bool)
        out: list[list[int]] = [[] for _ in range(batch)]
        for step in range(limit):
            dec.bind_cpu_input("input_ids", tokens)
            dec.bind_output(outputs[0], "cpu")  # only the logits come to the host
            for name in outputs[1:]:
                dec.bind_output(name, device, self.settings.device_id)
            self.decoder.run_with_iobinding(dec)
            logits, *present = dec.get_outputs()
            scores = logits.numpy()
            if step < min_new_tokens:
                scores[:, tok.eos_token_id] = -np.inf
            nxt = scores.argmax(axis=-1)
            nxt[done] = tok.pad_token_id
            for row in np.flatnonzero(~done):
                out[row].append(int(nxt[row]))
            done |= nxt == tok.eos_token_id
            if done.all():
                break
            tokens = nxt[:, None].astype(np.int64)
            for i in range(self._layers):
                dec.bind_ortvalue_input(f"past_key_{i}", present[2 * i])
                dec.bind_ortvalue_input(f"past_value_{i}", present[2 * i + 1])
        return out

    def decode(self, ids: Sequence[int]) -> GeneratedReport:
        text = self.tokenizer.decode(list(ids), skip_special_tokens=True)
        findings, impression = split_sections(text)
        return GeneratedReport(findings=findings, impression=impression, token_ids=tuple(ids))

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
        rows = self.generate_ids(np.stack(images), ids, mask, max_new_tokens, min_new_tokens)
        return [self.decode(r) for r in rows]
