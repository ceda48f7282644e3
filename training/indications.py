"""Phantom clinical indications: the short request line a referrer writes, per synthetic study.

Three kinds, so the report model learns to use an indication without being led by it:
- "consistent": names a finding the study has ("Shortness of breath. ? left effusion", "Post central
  line insertion, check position"), or, for a normal study, a reason that asserts no finding
  ("Pre-op assessment", "Cough, no fever");
- "inconsistent": names a finding the study does not have (the other side counts as not having it);
- "empty": no indication at all ("").

Contract: `indication(findings, kind, rng)` returns an `Indication` whose `label` is the FINDINGS name it
suggests (None for the empty kind and a normal study's consistent reason): present in
`findings.labels()` for "consistent", absent for "inconsistent". `study_indications(findings, seed)`
draws one of each kind, deterministic by seed. Realistic short forms with the abbreviations referrers
use (r/o, ?, SOB, f/u, s/p, PTX, ETT, PPM). Pure Python + numpy; no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.findings import FINDINGS, StudyFindings

KINDS: tuple[str, ...] = ("consistent", "inconsistent", "empty")

# Templates per label; "{side}" is filled with the label's side. Each one suggests exactly its label.
_SIDED: dict[str, tuple[str, ...]] = {
    "effusion": (
        "Shortness of breath. ? {side} effusion",
        "SOB, r/o {side} pleural effusion",
        "f/u {side} pleural effusion",
        "Reduced air entry {side} base, ? effusion",
        "Known {side} effusion, reassess",
        "Dull to percussion {side} base. ? fluid",
    ),
    "pneumothorax": (
        "Follow-up {side} pneumothorax",
        "Sudden pleuritic chest pain, ? {side} PTX",
        "r/o {side} pneumothorax",
        "s/p {side} chest drain removal, f/u PTX",
        "Acute SOB after fall, ? {side} pneumothorax",
    ),
    "consolidation": (
        "Fever and productive cough, ? {side} sided pneumonia",
        "Crackles {side} base, r/o consolidation",
        "f/u {side} consolidation",
        "Raised CRP, ? {side} lung infection",
    ),
}
_PLAIN: dict[str, tuple[str, ...]] = {
    "cardiomegaly": (
        "SOB and ankle oedema. ? heart failure, ? cardiomegaly",
        "Known cardiomegaly, f/u",
        "Dyspnoea on exertion, ? enlarged heart",
        "New murmur, ? cardiomegaly",
    ),
    "nodule": (
        "f/u lung nodule",
        "Weight loss and haemoptysis. ? lung mass",
        "Incidental nodule on CT, f/u",
        "Smoker with cough, r/o nodule",
    ),
    "atelectasis": (
        "Post-op, low sats. ? atelectasis",
        "r/o basal atelectasis",
        "Reduced breath sounds post surgery, ? collapse",
    ),
    "line": (
        "Post central line insertion, check position",
        "PICC placed, ? tip position",
        "s/p CVC insertion, confirm line position",
        "New central line, check tip",
    ),
    "tube": (
        "Intubated, check ETT position",
        "Post intubation, ETT position?",
        "s/p intubation in ED, tube position",
    ),
    "pacemaker": (
        "s/p pacemaker insertion, check leads",
        "Post PPM insertion, lead position",
        "Pacemaker check",
    ),
}
# Reasons that assert no finding: the consistent indication of a normal study.
_NEUTRAL: tuple[str, ...] = (
    "Pre-op assessment",
    "Pre-operative chest x-ray",
    "Cough, no fever",
    "Chest pain, no trauma",
    "Routine screening",
    "Mild SOB, baseline film",
    "Employment medical",
)


@dataclass(frozen=True)
class Indication:
    kind: str  # one of KINDS
    text: str  # "" for the empty kind
    label: str | None  # the FINDINGS name the text suggests; None when it suggests none


def _templates(label: str) -> tuple[str, ...]:
    base, _, side = label.partition("_")
    if side:
        return tuple(t.replace("{side}", side) for t in _SIDED[base])
    return _PLAIN[label]


def indication(findings: StudyFindings, kind: str, rng: np.random.Generator) -> Indication:
    """One indication of `kind` for a study with these findings (see the module contract)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if kind == "empty":
        return Indication(kind, "", None)
    present = findings.labels().astype(bool)
    names = [name for name, here in zip(FINDINGS, present) if here == (kind == "consistent")]
    if not names:  # a normal study's consistent reason (every study lacks some finding)
        return Indication(kind, _NEUTRAL[int(rng.integers(len(_NEUTRAL)))], None)
    label = names[int(rng.integers(len(names)))]
    options = _templates(label)
    return Indication(kind, options[int(rng.integers(len(options)))], label)


def study_indications(findings: StudyFindings, seed: int) -> dict[str, Indication]:
    """One indication of each kind for one study, deterministic by `seed` (e.g. the phantom's seed)."""
    rng = np.random.default_rng(np.random.SeedSequence([0x1D1CA7E, int(seed) & 0xFFFFFFFFFFFFFFFF]))
    return {kind: indication(findings, kind, rng) for kind in KINDS}


def all_texts() -> list[str]:
    """Every template text (sides filled in): what the tokenizer must cover besides the reports."""
    texts = [t for label in FINDINGS for t in _templates(label)]
    return texts + list(_NEUTRAL)
