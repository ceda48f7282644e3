"""The project's own injection classifier, run on ONNX Runtime (no torch).

A classifier directory holds `model.onnx` and `manifest.json`:

    {"format": "securemed-ids-injection/1",
     "files": {"model.onnx": {"sha256": "<hex>"}},
     "feature_dim": <int, equal to ids.features.FEATURE_DIM>,
     "threshold": <float in [0, 1]>,
     "training": {...how it was trained: corpus, seeds, figures...}}

Contract: `InjectionClassifier.load(directory)` reads the manifest, checks the format, the feature
dimension and the threshold, reads the graph's bytes once and compares their sha256 with the
manifest before ONNX Runtime sees them, then checks the graph's signature (input "features" float32
[batch, feature_dim], output "probability" float32 [batch]). Any failure raises
`ids.errors.IdsModelError` (exit 65). `scores(texts)` featurises the texts (`ids.features`) and
returns the probability of injection for each, float32 [n].
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ids.errors import IdsModelError
from ids.features import FEATURE_DIM, featurize
from runtime.session import cpu_session

__all__ = ["FORMAT", "MANIFEST", "MODEL", "InjectionClassifier"]

FORMAT = "securemed-ids-injection/1"
MANIFEST = "manifest.json"
MODEL = "model.onnx"
INPUT = "features"
OUTPUT = "probability"
_MAX_MANIFEST_BYTES = 1 << 20
_MAX_MODEL_BYTES = 256 << 20


def _manifest(directory: Path) -> Mapping[str, Any]:
    path = directory / MANIFEST
    try:
        raw = path.read_bytes()[: _MAX_MANIFEST_BYTES + 1]
    except OSError as exc:
        raise IdsModelError(f"{path}: cannot read the manifest ({type(exc).__name__})") from None
    if len(raw) > _MAX_MANIFEST_BYTES:
        raise IdsModelError(f"{path}: manifest over {_MAX_MANIFEST_BYTES} bytes")
    try:
        manifest = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IdsModelError(f"{path}: not JSON ({type(exc).__name__})") from None
    if not isinstance(manifest, dict):
        raise IdsModelError(f"{path}: the manifest is not an object")
    if manifest.get("format") != FORMAT:
        raise IdsModelError(f"{path}: format is not {FORMAT!r}")
    return manifest


def _expected_sha256(manifest: Mapping[str, Any], path: Path) -> str:
    entry = manifest.get("files", {}).get(MODEL) if isinstance(manifest.get("files"), dict) else None
    digest = entry.get("sha256") if isinstance(entry, dict) else None
    if not isinstance(digest, str) or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest.lower()):
        raise IdsModelError(f"{path}: files.{MODEL}.sha256 is missing or not a sha256")
    return digest.lower()


class InjectionClassifier:
    """A loaded classifier: `threshold`, `feature_dim`, `training` (the manifest's record) and `scores`."""

    def __init__(self, session: Any, *, threshold: float, feature_dim: int, training: Mapping[str, Any]) -> None:
        self._session = session
        self.threshold = threshold
        self.feature_dim = feature_dim
        self.training = dict(training)

    @classmethod
    def load(cls, directory: Path) -> InjectionClassifier:
        """The classifier in `directory`, verified (module docstring); raises IdsModelError."""
        directory = Path(directory)
        manifest = _manifest(directory)
        where = directory / MANIFEST
        feature_dim = manifest.get("feature_dim")
        if not isinstance(feature_dim, int) or isinstance(feature_dim, bool) or feature_dim != FEATURE_DIM:
            raise IdsModelError(f"{where}: feature_dim {feature_dim!r} differs from ids.features ({FEATURE_DIM})")
        threshold = manifest.get("threshold")
        if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not 0.0 <= threshold <= 1.0:
            raise IdsModelError(f"{where}: threshold must be a number in [0, 1]")
        training = manifest.get("training", {})
        if not isinstance(training, dict):
            raise IdsModelError(f"{where}: training must be an object")
        expected = _expected_sha256(manifest, where)
        model_path = directory / MODEL
        try:
            with model_path.open("rb") as fh:
                model_bytes = fh.read(_MAX_MODEL_BYTES + 1)
        except OSError as exc:
            raise IdsModelError(f"{model_path}: cannot read ({type(exc).__name__})") from None
        if len(model_bytes) > _MAX_MODEL_BYTES:
            raise IdsModelError(f"{model_path}: over {_MAX_MODEL_BYTES} bytes")
        actual = hashlib.sha256(model_bytes).hexdigest()
        if actual != expected:
            # checked before ONNX Runtime parses a byte: a tampered graph is never loaded
            raise IdsModelError(f"{model_path}: sha256 {actual[:16]}... differs from the manifest's {expected[:16]}...")
        try:
            session = cpu_session(model_bytes, threads=1)
        except Exception as exc:
            raise IdsModelError(f"{model_path}: ONNX Runtime refused the graph ({type(exc).__name__})") from None
        cls._check_signature(session, feature_dim, model_path)
        return cls(session, threshold=float(threshold), feature_dim=feature_dim, training=training)

    @staticmethod
    def _check_signature(session: Any, feature_dim: int, where: Path) -> None:
        inputs = {i.name: i for i in session.get_inputs()}
        outputs = {o.name: o for o in session.get_outputs()}
        if set(inputs) != {INPUT} or OUTPUT not in outputs:
            raise IdsModelError(f"{where}: the graph must take {INPUT!r} and give {OUTPUT!r}")
        shape = inputs[INPUT].shape
        if inputs[INPUT].type != "tensor(float)" or len(shape) != 2 or shape[1] != feature_dim:
            raise IdsModelError(f"{where}: {INPUT!r} must be float32 [batch, {feature_dim}]")
        if outputs[OUTPUT].type != "tensor(float)" or len(outputs[OUTPUT].shape) != 1:
            raise IdsModelError(f"{where}: {OUTPUT!r} must be float32 [batch]")

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """The probability of injection of each text, float32 [len(texts)]."""
        if not len(texts):
            return np.zeros((0,), dtype=np.float32)
        features = np.ascontiguousarray(featurize(list(texts)), dtype=np.float32)
        (probability,) = self._session.run([OUTPUT], {INPUT: features})
        out = np.asarray(probability, dtype=np.float32).reshape(len(texts))
        # a NaN would compare False against the threshold and pass: treat it as certain injection
        return np.where(np.isfinite(out), out, np.float32(1.0)).astype(np.float32)

    def __repr__(self) -> str:
        return f"InjectionClassifier(threshold={self.threshold}, feature_dim={self.feature_dim})"
