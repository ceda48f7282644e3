"""Modality and body part -> privacy class and its differential-privacy budget ε.

| class        | level  | ε   |
|--------------|--------|-----|
| Head CT      | high   | 0.5 |
| Breast MRI   | high   | 0.5 |
| Abdomen CT   | medium | 1.0 |
| Chest CT     | medium | 1.0 |
| Chest X-ray  | low    | 2.0 |
| Hand X-ray   | low    | 2.0 |

Body part comes from BodyPartExamined (PS3.16 CID 4031 defined terms), falling back to words in
StudyDescription / SeriesDescription / ProtocolName, since many modalities leave BodyPartExamined
empty. Each rule is a small object; the first rule that matches wins. No rule -> None (the stage
withholds the study as "unsupported class").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from appliance.pipeline import PrivacyClass

HEAD_CT = PrivacyClass("Head CT", "high", 0.5)
BREAST_MRI = PrivacyClass("Breast MRI", "high", 0.5)
ABDOMEN_CT = PrivacyClass("Abdomen CT", "medium", 1.0)
CHEST_CT = PrivacyClass("Chest CT", "medium", 1.0)
CHEST_XRAY = PrivacyClass("Chest X-ray", "low", 2.0)
HAND_XRAY = PrivacyClass("Hand X-ray", "low", 2.0)

RADIOGRAPHY = frozenset({"CR", "DX", "RG", "DR"})

_BODY_PART_WORDS: dict[str, tuple[str, ...]] = {
    "HEAD": ("HEAD", "BRAIN", "SKULL", "CRANIUM", "NEURO"),
    "BREAST": ("BREAST", "MAMMA"),
    "ABDOMEN": ("ABDOMEN", "ABD", "ABDOMINAL", "PELVIS", "LIVER", "ABDOMENPELVIS"),
    "CHEST": ("CHEST", "THORAX", "THORACIC", "LUNG", "LUNGS", "CXR", "PA", "AP"),
    "HAND": ("HAND", "WRIST", "FINGER", "FINGERS"),
}
# Defined terms of BodyPartExamined that name each region directly.
_BODY_PART_TERMS: dict[str, frozenset[str]] = {
    "HEAD": frozenset({"HEAD", "BRAIN", "SKULL", "HEADNECK"}),
    "BREAST": frozenset({"BREAST"}),
    "ABDOMEN": frozenset({"ABDOMEN", "ABDOMENPELVIS", "PELVIS", "LIVER"}),
    "CHEST": frozenset({"CHEST", "THORAX", "LUNG", "CHESTABDOMEN"}),
    "HAND": frozenset({"HAND", "WRIST", "FINGER"}),
}


def body_region(ds: Any) -> str | None:
    """HEAD, BREAST, ABDOMEN, CHEST, HAND or None, from the header of one instance."""
    part = str(getattr(ds, "BodyPartExamined", "") or "").upper().replace(" ", "")
    for region, terms in _BODY_PART_TERMS.items():
        if part in terms:
            return region
    text = " ".join(str(getattr(ds, k, "") or "") for k in ("StudyDescription", "SeriesDescription", "ProtocolName"))
    words = set(re.findall(r"[A-Z]+", text.upper()))
    for region, vocab in _BODY_PART_WORDS.items():
        # "PA"/"AP" alone only count for chest when no other region is named
        strong = [w for w in vocab if w not in ("PA", "AP")]
        if words & set(strong):
            return region
    if words & {"PA", "AP"}:
        return "CHEST"
    return None


@dataclass(frozen=True)
class ClassRule:
    modalities: frozenset[str]
    region: str
    privacy: PrivacyClass

    def matches(self, modality: str, region: str | None) -> bool:
        return modality in self.modalities and region == self.region


RULES: tuple[ClassRule, ...] = (
    ClassRule(frozenset({"CT"}), "HEAD", HEAD_CT),
    ClassRule(frozenset({"MR"}), "BREAST", BREAST_MRI),
    ClassRule(frozenset({"CT"}), "ABDOMEN", ABDOMEN_CT),
    ClassRule(frozenset({"CT"}), "CHEST", CHEST_CT),
    ClassRule(RADIOGRAPHY, "CHEST", CHEST_XRAY),
    ClassRule(RADIOGRAPHY, "HAND", HAND_XRAY),
)


def classify(ds: Any, rules: Sequence[ClassRule] = RULES) -> PrivacyClass | None:
    modality = str(getattr(ds, "Modality", "") or "").upper()
    region = body_region(ds)
    return next((r.privacy for r in rules if r.matches(modality, region)), None)
