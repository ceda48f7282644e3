"""What one synthetic chest X-ray study shows: findings, their label vector, and their details.

`StudyFindings` is the ground truth of a study: which findings are present and where. Its
`labels()` vector (order: `FINDINGS`) is what the report model is scored on. `FindingDetails`
holds the attributes a report mentions and the phantom must draw identically (effusion size,
catheter route and tip, tube depth, ...), so that image and text of a phantom agree.

Pure numpy; no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ids.report.labels import FINDINGS

SIDES: tuple[str, ...] = ("left", "right")
EFFUSION_SIDES: tuple[str, ...] = ("left", "right", "both")
LOBES: dict[str, tuple[str, ...]] = {
    "right": ("upper", "middle", "lower"),
    "left": ("upper", "lower"),
}
ZONES: tuple[str, ...] = ("upper", "mid", "lower")
DEVICES: tuple[str, ...] = ("line", "tube", "pacemaker")
NODULE_KINDS: tuple[str, ...] = ("nodule", "mass")
# A lesion larger than 3 cm is called a mass (Fleischner glossary).
MASS_THRESHOLD_MM = 30
# Sampled nodules are at least 18 mm: about 5 % of the image width, so that they stay visible
# at the model's 128-224 pixel input.
MIN_SAMPLED_NODULE_MM = 18

EFFUSION_SIZES: tuple[str, ...] = ("small", "moderate")
PNEUMOTHORAX_SIZES: tuple[str, ...] = ("small", "moderate", "large")
LINE_KINDS: tuple[str, ...] = (
    "right_ij_cvc",
    "left_ij_cvc",
    "right_subclavian_cvc",
    "right_picc",
    "left_picc",
)
LINE_TIPS: tuple[str, ...] = ("svc", "cavoatrial_junction", "right_atrium")
# Cardiothoracic ratios drawn into the image. Normal hearts stay below 0.5, enlarged ones
# clearly above 0.55 so that the label is decidable from the pixels.
NORMAL_CTR = (0.41, 0.48)
ENLARGED_CTR = (0.58, 0.68)


class InvalidFindingsError(ValueError):
    """A StudyFindings or FindingDetails value, or its dict form, is not valid."""


Consolidation = tuple[str, str]  # (side, lobe)
Nodule = tuple[str, str, int, str]  # (side, zone, size_mm, kind)
Atelectasis = tuple[str, str]  # (side, zone)


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise InvalidFindingsError(message)


@dataclass(frozen=True)
class StudyFindings:
    """Ground truth of one chest radiograph.

    Sides are the patient's (the patient's right is drawn on the image's left).
    consolidation is (side, lobe) with lobes upper/middle/lower on the right and upper/lower on
    the left; nodule is (side, zone, size_mm, kind) with kind "mass" exactly when size_mm > 30;
    atelectasis is (side, zone); zones are upper/mid/lower. Invalid values raise
    InvalidFindingsError.
    """

    cardiomegaly: bool = False
    effusion: str | None = None
    pneumothorax: str | None = None
    consolidation: Consolidation | None = None
    nodule: Nodule | None = None
    atelectasis: Atelectasis | None = None
    devices: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        _require(isinstance(self.cardiomegaly, bool), "cardiomegaly must be a bool")
        _require(
            self.effusion is None or self.effusion in EFFUSION_SIDES,
            f"effusion must be None or one of {EFFUSION_SIDES}",
        )
        _require(
            self.pneumothorax is None or self.pneumothorax in SIDES,
            f"pneumothorax must be None or one of {SIDES}",
        )
        if self.consolidation is not None:
            _require(
                isinstance(self.consolidation, tuple) and len(self.consolidation) == 2,
                "consolidation must be a (side, lobe) tuple",
            )
            side, lobe = self.consolidation
            _require(side in SIDES, f"consolidation side must be one of {SIDES}")
            _require(lobe in LOBES[side], f"the {side} lung has lobes {LOBES[side]}")
        if self.nodule is not None:
            _require(
                isinstance(self.nodule, tuple) and len(self.nodule) == 4,
                "nodule must be a (side, zone, size_mm, kind) tuple",
            )
            side, zone, size_mm, kind = self.nodule
            _require(side in SIDES, f"nodule side must be one of {SIDES}")
            _require(zone in ZONES, f"nodule zone must be one of {ZONES}")
            _require(
                isinstance(size_mm, int) and not isinstance(size_mm, bool) and 5 <= size_mm <= 100,
                "nodule size_mm must be an int in 5..100",
            )
            _require(kind in NODULE_KINDS, f"nodule kind must be one of {NODULE_KINDS}")
            _require(
                (kind == "mass") == (size_mm > MASS_THRESHOLD_MM),
                f"a lesion is a mass exactly when it is larger than {MASS_THRESHOLD_MM} mm",
            )
        if self.atelectasis is not None:
            _require(
                isinstance(self.atelectasis, tuple) and len(self.atelectasis) == 2,
                "atelectasis must be a (side, zone) tuple",
            )
            side, zone = self.atelectasis
            _require(side in SIDES, f"atelectasis side must be one of {SIDES}")
            _require(zone in ZONES, f"atelectasis zone must be one of {ZONES}")
        _require(isinstance(self.devices, frozenset), "devices must be a frozenset")
        _require(self.devices <= frozenset(DEVICES), f"devices must be a subset of {DEVICES}")

    def labels(self) -> np.ndarray:
        """Binary float32 vector aligned with FINDINGS."""
        eff = self.effusion
        cons_side = self.consolidation[0] if self.consolidation else None
        present = {
            "cardiomegaly": self.cardiomegaly,
            "effusion_left": eff in ("left", "both"),
            "effusion_right": eff in ("right", "both"),
            "pneumothorax_left": self.pneumothorax == "left",
            "pneumothorax_right": self.pneumothorax == "right",
            "consolidation_left": cons_side == "left",
            "consolidation_right": cons_side == "right",
            "nodule": self.nodule is not None,
            "atelectasis": self.atelectasis is not None,
            "line": "line" in self.devices,
            "tube": "tube" in self.devices,
            "pacemaker": "pacemaker" in self.devices,
        }
        return np.array([present[name] for name in FINDINGS], dtype=np.float32)

    @property
    def is_normal(self) -> bool:
        """True when nothing at all is present, support devices included."""
        return not self.labels().any()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict; from_dict(to_dict()) == self."""
        return {
            "cardiomegaly": self.cardiomegaly,
            "effusion": self.effusion,
            "pneumothorax": self.pneumothorax,
            "consolidation": list(self.consolidation) if self.consolidation else None,
            "nodule": list(self.nodule) if self.nodule else None,
            "atelectasis": list(self.atelectasis) if self.atelectasis else None,
            "devices": sorted(self.devices),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StudyFindings:
        """Inverse of to_dict; raises InvalidFindingsError on malformed input."""
        _require(isinstance(data, dict), "findings must be a dict")
        unknown = set(data) - {
            "cardiomegaly",
            "effusion",
            "pneumothorax",
            "consolidation",
            "nodule",
            "atelectasis",
            "devices",
        }
        _require(not unknown, f"unknown findings keys: {sorted(unknown)}")

        def as_tuple(value: Any, name: str) -> tuple[Any, ...] | None:
            if value is None:
                return None
            _require(isinstance(value, (list, tuple)), f"{name} must be a list or null")
            return tuple(value)

        devices = data.get("devices", [])
        _require(isinstance(devices, (list, tuple)), "devices must be a list")
        return cls(
            cardiomegaly=data.get("cardiomegaly", False),
            effusion=data.get("effusion"),
            pneumothorax=data.get("pneumothorax"),
            consolidation=as_tuple(data.get("consolidation"), "consolidation"),
            nodule=as_tuple(data.get("nodule"), "nodule"),
            atelectasis=as_tuple(data.get("atelectasis"), "atelectasis"),
            devices=frozenset(devices),
        )


@dataclass(frozen=True)
class FindingDetails:
    """Attributes a report states and the phantom draws; None where the finding is absent.

    ctr: cardiothoracic ratio of the drawn heart. effusion_size: small|moderate.
    pneumothorax_size: small|moderate|large. line_kind/line_tip: catheter route and tip
    position (LINE_KINDS, LINE_TIPS). tube_cm: endotracheal tube tip height above the carina.
    pacemaker_side: chest wall side of the generator; pacemaker_leads: 1..3.
    """

    ctr: float
    effusion_size: str | None = None
    pneumothorax_size: str | None = None
    line_kind: str | None = None
    line_tip: str | None = None
    tube_cm: int | None = None
    pacemaker_side: str | None = None
    pacemaker_leads: int | None = None

    def __post_init__(self) -> None:
        _require(0.3 <= float(self.ctr) <= 0.8, "ctr must be in 0.3..0.8")
        _require(
            self.effusion_size is None or self.effusion_size in EFFUSION_SIZES,
            f"effusion_size must be None or one of {EFFUSION_SIZES}",
        )
        _require(
            self.pneumothorax_size is None or self.pneumothorax_size in PNEUMOTHORAX_SIZES,
            f"pneumothorax_size must be None or one of {PNEUMOTHORAX_SIZES}",
        )
        _require((self.line_kind is None) == (self.line_tip is None), "line kind and tip go together")
        _require(self.line_kind is None or self.line_kind in LINE_KINDS, "unknown line kind")
        _require(self.line_tip is None or self.line_tip in LINE_TIPS, "unknown line tip")
        _require(self.tube_cm is None or self.tube_cm in range(2, 8), "tube_cm must be 2..7")
        _require(
            (self.pacemaker_side is None) == (self.pacemaker_leads is None),
            "pacemaker side and leads go together",
        )
        _require(self.pacemaker_side is None or self.pacemaker_side in SIDES, "bad pacemaker side")
        _require(
            self.pacemaker_leads is None or self.pacemaker_leads in (1, 2, 3),
            "pacemaker_leads must be 1..3",
        )

    def matches(self, f: StudyFindings) -> bool:
        """True when every detail is present exactly for the findings that need it."""
        lo, hi = ENLARGED_CTR if f.cardiomegaly else NORMAL_CTR
        return (
            lo <= self.ctr <= hi
            and (self.effusion_size is None) == (f.effusion is None)
            and (self.pneumothorax_size is None) == (f.pneumothorax is None)
            and (self.line_kind is None) == ("line" not in f.devices)
            and (self.tube_cm is None) == ("tube" not in f.devices)
            and (self.pacemaker_side is None) == ("pacemaker" not in f.devices)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "ctr": self.ctr,
            "effusion_size": self.effusion_size,
            "pneumothorax_size": self.pneumothorax_size,
            "line_kind": self.line_kind,
            "line_tip": self.line_tip,
            "tube_cm": self.tube_cm,
            "pacemaker_side": self.pacemaker_side,
            "pacemaker_leads": self.pacemaker_leads,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FindingDetails:
        _require(isinstance(data, dict) and "ctr" in data, "details must be a dict with ctr")
        try:
            return cls(**data)
        except TypeError as exc:
            raise InvalidFindingsError(str(exc)) from exc


# Per-study probabilities for abnormal studies. With NORMAL_FRACTION normal studies up front,
# each label ends up at roughly 10-25 % prevalence (see tests/training/test_findings.py).
NORMAL_FRACTION = 0.27
_P = {
    "cardiomegaly": 0.24,
    "effusion": 0.30,
    "pneumothorax": 0.25,
    "consolidation": 0.30,
    "nodule": 0.20,
    "atelectasis": 0.20,
    "line": 0.22,
    "tube": 0.16,
    "pacemaker": 0.16,
}


def _pick(rng: np.random.Generator, options: tuple[str, ...] | list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _lobe_cells(side: str, lobe: str) -> set[tuple[str, str]]:
    """(side, zone) cells a lobe's opacity covers on a PA view: the right middle lobe reaches
    the lower zone and the left upper lobe (with the lingula) the mid zone."""
    cells = {(side, {"upper": "upper", "middle": "mid", "lower": "lower"}[lobe])}
    if lobe == "middle":
        cells.add((side, "lower"))
    if (side, lobe) == ("left", "upper"):
        cells.add((side, "mid"))
    return cells


def sample_findings(rng: np.random.Generator) -> StudyFindings:
    """Draw one study. About NORMAL_FRACTION of studies are normal; findings co-occur.

    Combinations that would hide one finding under another in the image are avoided
    (a nodule or plate atelectasis inside a consolidated lobe or under an effusion, a lower
    lobe consolidation under an effusion) so that every label stays visible.
    """
    if rng.random() < NORMAL_FRACTION:
        return StudyFindings()
    while True:
        draws = {name: bool(rng.random() < p) for name, p in _P.items()}
        if any(draws.values()):
            break

    effusion = _pick(rng, EFFUSION_SIDES) if draws["effusion"] else None
    eff_sides = {"left", "right"} if effusion == "both" else ({effusion} if effusion else set())
    pneumothorax = _pick(rng, SIDES) if draws["pneumothorax"] else None

    # Occupied (side, zone) cells, so that drawn findings do not sit on top of each other.
    occupied: set[tuple[str, str]] = {(s, "lower") for s in eff_sides}

    consolidation: Consolidation | None = None
    if draws["consolidation"]:
        side = _pick(rng, SIDES)
        lobes = [lobe for lobe in LOBES[side] if not _lobe_cells(side, lobe) & occupied]
        lobe = _pick(rng, lobes)
        consolidation = (side, lobe)
        occupied |= _lobe_cells(side, lobe)

    def free_cell() -> tuple[str, str]:
        cells = [(s, z) for s in SIDES for z in ZONES if (s, z) not in occupied]
        return cells[int(rng.integers(len(cells)))]

    nodule: Nodule | None = None
    if draws["nodule"]:
        side, zone = free_cell()
        if rng.random() < 0.35:
            size, kind = int(rng.integers(35, 61)), "mass"
        else:
            size, kind = int(rng.integers(MIN_SAMPLED_NODULE_MM, MASS_THRESHOLD_MM + 1)), "nodule"
        nodule = (side, zone, size, kind)
        occupied.add((side, zone))

    atelectasis: Atelectasis | None = None
    if draws["atelectasis"]:
        atelectasis = free_cell()

    devices = frozenset(d for d in DEVICES if draws[d])
    return StudyFindings(
        cardiomegaly=draws["cardiomegaly"],
        effusion=effusion,
        pneumothorax=pneumothorax,
        consolidation=consolidation,
        nodule=nodule,
        atelectasis=atelectasis,
        devices=devices,
    )


def sample_details(f: StudyFindings, rng: np.random.Generator) -> FindingDetails:
    """Draw the report-visible attributes of f's findings; the result matches(f)."""
    lo, hi = ENLARGED_CTR if f.cardiomegaly else NORMAL_CTR
    # Always draw the same number of values so that one study's details do not shift the
    # random stream of anything drawn after them.
    u = rng.random(9)
    ctr = round(lo + (hi - lo) * float(u[0]), 3)
    effusion_size = EFFUSION_SIZES[int(u[1] * len(EFFUSION_SIZES))] if f.effusion else None
    ptx_size = PNEUMOTHORAX_SIZES[int(u[2] * len(PNEUMOTHORAX_SIZES))] if f.pneumothorax else None
    line_kind = line_tip = None
    if "line" in f.devices:
        # Weighted towards the common routes: right IJ and PICCs.
        kinds = (
            ("right_ij_cvc",) * 3
            + ("left_ij_cvc", "right_subclavian_cvc")
            + (
                "right_picc",
                "right_picc",
                "left_picc",
            )
        )
        line_kind = kinds[int(u[3] * len(kinds))]
        tips = ("svc",) * 3 + ("cavoatrial_junction",) * 2 + ("right_atrium",)
        line_tip = tips[int(u[4] * len(tips))]
    tube_cm = int(3 + u[5] * 4) if "tube" in f.devices else None
    pm_side = pm_leads = None
    if "pacemaker" in f.devices:
        pm_side = "left" if u[6] < 0.85 else "right"
        pm_leads = (1, 2, 2, 2, 3)[int(u[7] * 5)]
    return FindingDetails(
        ctr=ctr,
        effusion_size=effusion_size,
        pneumothorax_size=ptx_size,
        line_kind=line_kind,
        line_tip=line_tip,
        tube_cm=tube_cm,
        pacemaker_side=pm_side,
        pacemaker_leads=pm_leads,
    )
