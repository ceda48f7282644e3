"""The finding labels of the project, in the order every label vector uses.

`FINDINGS` is shared by the labeler (`ids.report.labeler`), the training side (`training.findings`
re-exports it) and the bundle's finding head (`runtime.bundle.ValidationCalibration.labels`).
`FAMILY_OF` maps each label to its finding family (sided families have a left and a right label).

Standard library only.
"""

from __future__ import annotations

FINDINGS: tuple[str, ...] = (
    "cardiomegaly",
    "effusion_left",
    "effusion_right",
    "pneumothorax_left",
    "pneumothorax_right",
    "consolidation_left",
    "consolidation_right",
    "nodule",
    "atelectasis",
    "line",
    "tube",
    "pacemaker",
)

# A finding family is the label name without its side suffix.
FAMILY_OF: dict[str, str] = {name: name.removesuffix("_left").removesuffix("_right") for name in FINDINGS}
FAMILIES: tuple[str, ...] = tuple(dict.fromkeys(FAMILY_OF.values()))
SIDED_FAMILIES: tuple[str, ...] = tuple(f for f in FAMILIES if f"{f}_left" in FINDINGS)
DEVICE_FAMILIES: tuple[str, ...] = ("line", "tube", "pacemaker")
