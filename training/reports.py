"""Ground-truth radiology reports for synthetic studies.

`write_report(f, rng)` writes a short FINDINGS/IMPRESSION report in the style of a chest
radiograph report: every positive finding with its side, lobe or zone and size, the usual
negatives ("No pneumothorax."), device positions, and an impression that summarises the
positives. Phrasing varies between several templates per finding; the text is fully determined
by the findings, the details and the random stream. `training.labeler.label_report` reads every
report written here back to exactly `f.labels()` (property-tested).

Pure Python; no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.findings import FindingDetails, StudyFindings, sample_details


@dataclass(frozen=True)
class Report:
    """A report as two sections; `text` is the single string the model learns to write."""

    findings: str
    impression: str

    @property
    def text(self) -> str:
        return f"FINDINGS: {self.findings} IMPRESSION: {self.impression}"


def _choice(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def _cap(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


_LINE_NAMES: dict[str, tuple[str, ...]] = {
    "right_ij_cvc": (
        "right internal jugular central venous catheter",
        "right IJ central line",
        "right internal jugular catheter",
    ),
    "left_ij_cvc": (
        "left internal jugular central venous catheter",
        "left IJ central line",
    ),
    "right_subclavian_cvc": (
        "right subclavian central venous catheter",
        "right subclavian central line",
    ),
    "right_picc": ("right upper extremity PICC", "right arm PICC line", "right-sided PICC"),
    "left_picc": ("left upper extremity PICC", "left arm PICC line", "left-sided PICC"),
}
_LINE_TIPS: dict[str, tuple[str, ...]] = {
    "svc": ("with tip in the SVC", "terminating in the SVC", "with tip in the superior vena cava"),
    "cavoatrial_junction": (
        "with tip at the cavoatrial junction",
        "terminating at the cavoatrial junction",
    ),
    "right_atrium": ("with tip in the right atrium", "terminating in the right atrium"),
}
_PACER_LEADS: dict[int, tuple[str, ...]] = {
    1: ("with a single lead in the right ventricle", "with a right ventricular lead"),
    2: (
        "with leads in the right atrium and right ventricle",
        "with atrial and ventricular leads",
    ),
    3: (
        "with leads in the right atrium, right ventricle and coronary sinus",
        "with three leads including a coronary sinus lead",
    ),
}
_LOBE = {"upper": "upper lobe", "middle": "middle lobe", "lower": "lower lobe"}
_ZONE = {"upper": "upper lung zone", "mid": "mid lung zone", "lower": "lower lung zone"}


def _line_sentence(d: FindingDetails, rng: np.random.Generator) -> str:
    assert d.line_kind is not None and d.line_tip is not None
    name = _choice(rng, _LINE_NAMES[d.line_kind])
    return _cap(f"{name} {_choice(rng, _LINE_TIPS[d.line_tip])}.")


def _tube_sentence(d: FindingDetails, rng: np.random.Generator) -> str:
    cm = d.tube_cm
    return _choice(
        rng,
        (
            f"Endotracheal tube {cm} cm above the carina.",
            f"Endotracheal tube tip is {cm} cm above the carina.",
            f"ET tube terminates {cm} cm above the carina.",
            f"The endotracheal tube is in standard position, {cm} cm above the carina.",
        ),
    )


def _pacemaker_sentence(d: FindingDetails, rng: np.random.Generator) -> str:
    assert d.pacemaker_side is not None and d.pacemaker_leads is not None
    side = d.pacemaker_side
    leads = _choice(rng, _PACER_LEADS[d.pacemaker_leads])
    form = _choice(
        rng,
        (
            f"{side} chest wall pacemaker {leads}.",
            f"{side}-sided pacemaker {leads}.",
            f"{side} chest wall cardiac pacemaker {leads}.",
        ),
    )
    return _cap(form)


def _consolidation_sentence(side: str, lobe: str, rng: np.random.Generator) -> str:
    where = f"{side} {_LOBE[lobe]}"
    return _choice(
        rng,
        (
            _cap(f"{where} consolidation."),
            f"Consolidation in the {where}.",
            f"Patchy airspace consolidation in the {where}.",
            f"There is {where} airspace consolidation.",
            f"Focal consolidation in the {where}.",
        ),
    )


def _size_text(size_mm: int, rng: np.random.Generator) -> str:
    return f"{size_mm} mm" if rng.random() < 0.4 else f"{size_mm / 10:.1f} cm"


def _nodule_sentence(nodule: tuple[str, str, int, str], rng: np.random.Generator) -> str:
    side, zone, size_mm, kind = nodule
    size = _size_text(size_mm, rng)
    where = f"{side} {_ZONE[zone]}"
    if kind == "mass":
        return _choice(
            rng,
            (
                f"A {size} mass in the {where}.",
                f"There is a {size} mass in the {where}.",
                f"Lobulated {size} mass projecting over the {where}.",
            ),
        )
    return _choice(
        rng,
        (
            f"A {size} nodule in the {where}.",
            f"There is a {size} pulmonary nodule in the {where}.",
            f"Rounded {size} nodule projecting over the {where}.",
        ),
    )


def _atelectasis_sentence(side: str, zone: str, rng: np.random.Generator) -> str:
    kind = _choice(rng, ("plate-like", "linear", "discoid"))
    if zone == "lower":
        return _choice(
            rng,
            (
                _cap(f"{kind} atelectasis at the {side} lung base."),
                _cap(f"{kind} atelectasis in the {side} lower lung zone."),
                _cap(f"{side} basilar {kind} atelectasis with mild volume loss."),
            ),
        )
    return _choice(
        rng,
        (
            _cap(f"{kind} atelectasis in the {side} {_ZONE[zone]}."),
            _cap(f"{side} {_ZONE[zone]} {kind} atelectasis."),
        ),
    )


def _effusion_sentence(side: str, size: str, rng: np.random.Generator) -> str:
    if side == "both":
        return _choice(
            rng,
            (
                _cap(f"{size} bilateral pleural effusions."),
                _cap(f"{size} pleural effusions bilaterally."),
                f"Bilateral {size} pleural effusions.",
            ),
        )
    return _choice(
        rng,
        (
            _cap(f"{size} {side} pleural effusion."),
            _cap(f"{size} {side}-sided pleural effusion."),
            f"There is a {size} {side} pleural effusion with blunting of the costophrenic angle.",
        ),
    )


def _pneumothorax_sentence(side: str, size: str, rng: np.random.Generator) -> str:
    return _choice(
        rng,
        (
            _cap(f"{size} {side} pneumothorax."),
            _cap(f"{size} {side} apical pneumothorax."),
            f"There is a {size} {side}-sided pneumothorax with a visible pleural line.",
            _cap(f"{size} {side} pneumothorax without mediastinal shift."),
        ),
    )


def _heart_sentence(f: StudyFindings, d: FindingDetails, rng: np.random.Generator) -> str:
    if not f.cardiomegaly:
        return _choice(
            rng,
            (
                "The heart size is normal.",
                "Heart size is normal.",
                "Normal heart size.",
                "The cardiomediastinal silhouette is within normal limits.",
                "The cardiac silhouette is normal in size.",
            ),
        )
    sev = "mild" if d.ctr < 0.62 else "moderate"
    return _choice(
        rng,
        (
            _cap(f"{sev} cardiomegaly."),
            f"The heart is {sev}ly enlarged.",
            f"The cardiac silhouette is {sev}ly enlarged.",
            _cap(f"{sev} enlargement of the cardiac silhouette."),
        ),
    )


def _findings_section(f: StudyFindings, d: FindingDetails, rng: np.random.Generator) -> str:
    devices: list[str] = []
    if "tube" in f.devices:
        devices.append(_tube_sentence(d, rng))
    if "line" in f.devices:
        devices.append(_line_sentence(d, rng))
    if "pacemaker" in f.devices:
        devices.append(_pacemaker_sentence(d, rng))

    lungs: list[str] = []
    if f.consolidation:
        lungs.append(_consolidation_sentence(*f.consolidation, rng))
    if f.nodule:
        lungs.append(_nodule_sentence(f.nodule, rng))
    if f.atelectasis:
        lungs.append(_atelectasis_sentence(*f.atelectasis, rng))
    if not lungs:
        lungs.append(
            _choice(
                rng,
                (
                    "The lungs are clear.",
                    "The lungs are clear without focal consolidation.",
                    "No focal consolidation.",
                    "Lungs are clear bilaterally.",
                ),
            )
        )
    elif not f.consolidation and rng.random() < 0.5:
        lungs.append("No focal consolidation.")

    pleura: list[str] = []
    if f.effusion is None and f.pneumothorax is None:
        pleura.append(
            _choice(
                rng,
                (
                    "No pleural effusion or pneumothorax.",
                    "There is no pleural effusion or pneumothorax.",
                    "No pneumothorax or pleural effusion.",
                    "No effusion or pneumothorax.",
                ),
            )
        )
    else:
        if f.effusion:
            assert d.effusion_size is not None
            pleura.append(_effusion_sentence(f.effusion, d.effusion_size, rng))
        else:
            pleura.append(_choice(rng, ("No pleural effusion.", "No effusion.")))
        if f.pneumothorax:
            assert d.pneumothorax_size is not None
            pleura.append(_pneumothorax_sentence(f.pneumothorax, d.pneumothorax_size, rng))
        else:
            pleura.append("No pneumothorax.")

    heart = [_heart_sentence(f, d, rng)]
    if rng.random() < 0.5:
        order = devices + heart + lungs + pleura
    else:
        order = devices + lungs + pleura + heart
    return " ".join(order)


def _impression_section(f: StudyFindings, d: FindingDetails, rng: np.random.Generator) -> str:
    parts: list[str] = []
    if f.pneumothorax:
        parts.append(_cap(f"{d.pneumothorax_size} {f.pneumothorax} pneumothorax."))
    if f.consolidation:
        side, lobe = f.consolidation
        where = f"{side} {_LOBE[lobe]}"
        parts.append(
            _choice(
                rng,
                (
                    _cap(f"{where} consolidation, concerning for pneumonia."),
                    _cap(f"{where} pneumonia."),
                    _cap(f"{where} consolidation."),
                ),
            )
        )
    if f.effusion:
        if f.effusion == "both":
            parts.append("Bilateral pleural effusions.")
        else:
            parts.append(_cap(f"{d.effusion_size} {f.effusion} pleural effusion."))
    if f.nodule:
        side, zone, _, kind = f.nodule
        where = f"{side} {_ZONE[zone]}"
        if kind == "mass":
            parts.append(_cap(f"{where} mass, suspicious for malignancy. Recommend chest CT."))
        else:
            parts.append(
                _choice(
                    rng,
                    (
                        _cap(f"{where} nodule. Recommend chest CT."),
                        _cap(f"{where} nodule, CT recommended."),
                    ),
                )
            )
    if f.atelectasis:
        side, zone = f.atelectasis
        parts.append(_cap(f"{side} {_ZONE[zone]} atelectasis."))
    if f.cardiomegaly:
        parts.append(_choice(rng, ("Cardiomegaly.", "Enlarged cardiac silhouette.")))
    if not parts:
        options: tuple[str, ...] = (
            "No acute cardiopulmonary abnormality.",
            "No acute cardiopulmonary process.",
            "No acute intrathoracic abnormality.",
        )
        if not f.devices:
            options += ("Normal chest radiograph.",)
        parts.append(_choice(rng, options))
    if f.devices:
        parts.append(_choice(rng, ("Support devices as described.", "Support devices in standard position.")))
    return " ".join(parts)


def write_report(f: StudyFindings, rng: np.random.Generator, *, details: FindingDetails | None = None) -> Report:
    """Write the ground-truth report of f.

    details: the attributes the image shows (sizes, device positions). When None they are drawn
    from rng first with sample_details, so write_report(f, rng) alone is self-consistent; the
    phantom builder passes the same details to the renderer.
    """
    if details is None:
        details = sample_details(f, rng)
    findings = _findings_section(f, details, rng)
    impression = _impression_section(f, details, rng)
    return Report(findings=findings, impression=impression)
