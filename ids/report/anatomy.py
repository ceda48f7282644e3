"""Medical constraints: what the draft describes must fit the study's modality and body part.

Codes:
- "anatomy-mismatch": the report names anatomy (negated or not) that the study cannot show:
  FOREIGN_ANATOMY[body part] lists, per region, the terms foreign to a radiograph of that body part
  (on a chest film: hand and wrist, head and brain, abdominal and pelvic organs, lower limb);
  FOREIGN_TO_MODALITY[modality] lists terms of other modalities (CT density, MR signal, ultrasound
  echogenicity, cross-sectional planes) foreign to projection radiography. Chest-adjacent anatomy
  seen on a chest film is allowed: upper abdomen, free air under the diaphragm, gastric bubble,
  shoulders, humeral heads, clavicles, ribs, scapulae, thoracic spine, neck soft tissues.
- "device-inconsistent": a device whose stated position cannot be seen or cannot be where the
  report puts it on this study (DEVICE_PLACEMENTS, chest only): an airway tube, enteric tube, venous
  catheter or pacemaker lead placed in a structure it cannot reach (an endotracheal tube in the
  superior vena cava, a PICC tip in the trachea, pacing leads in the stomach), a shunt's tip in the
  ventricle or peritoneum (outside a chest film), devices of other regions (IUD, hip or knee
  prosthesis, cochlear implant, urinary catheter), or an endotracheal tube more than
  MAX_ETT_ABOVE_CARINA_CM above the carina (beyond the length of the trachea). Malpositions that
  happen and are reported (ETT in the right main bronchus or the esophagus, an enteric tube in a
  bronchus, a catheter tip in the right atrium) are findings, not inconsistencies.

Body parts and modalities without a table are not checked. Terms are matched on lower-cased text on
word boundaries; reasons name the region or device kind, never the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ids.report.base import Draft, ValidationContext, Violation, report_text

BODY_PART_ALIASES: dict[str, str] = {"CHEST": "CHEST", "THORAX": "CHEST", "LUNG": "CHEST", "PORT CHEST": "CHEST"}
PROJECTION_MODALITIES: frozenset[str] = frozenset({"CR", "DX", "DR", "RG"})


def _words(*terms: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(terms) + r")\b")


FOREIGN_ANATOMY: dict[str, tuple[tuple[str, re.Pattern[str]], ...]] = {
    "CHEST": (
        (
            "hand or wrist",
            _words(
                r"(?<!other )hands?",
                r"metacarpals?",
                r"phalan(?:x|ges|geal)",
                r"wrists?",
                r"carpal(?: bones?)?",
                r"scaphoid",
                r"fingers?",
                r"thumbs?",
                r"distal radius",
                r"ulnar? (?:styloid|shaft|fracture)",
                r"forearm",
                r"elbows?",
            ),
        ),
        (
            "head or brain",
            _words(
                r"brain",
                r"intracranial",
                r"cerebral",
                r"cerebell\w+",
                r"(?:lateral|third|fourth|cerebral) ventricles?",
                r"ventriculomegaly",
                r"hydrocephalus",
                r"calvari\w+",
                r"skull",
                r"sella(?: turcica)?",
                r"orbits?",
                r"paranasal sinus\w*",
                r"mastoids?",
                r"subdural",
                r"subarachnoid",
                r"midline shift",
            ),
        ),
        (
            "abdomen or pelvis",
            _words(
                r"liver",
                r"hepatic (?:lesion|mass|cyst|parenchyma|steatosis)",
                r"kidneys?",
                r"renal (?:calculus|calculi|stones?|pelvis|cysts?|mass)",
                r"bowel",
                r"appendi(?:x|citis|ceal)",
                r"colon(?:ic)?",
                r"cecum",
                r"sigmoid",
                r"rectum",
                r"(?:urinary )?bladder",
                r"gallbladder",
                r"pancrea\w+",
                r"uterus",
                r"uterine",
                r"ovar(?:y|ies|ian)",
                r"prostate",
                r"pelvis",
                r"pelvic",
            ),
        ),
        (
            "lower limb",
            _words(
                r"knees?",
                r"femur",
                r"femoral (?:head|neck|shaft)",
                r"tibia\w*",
                r"fibula\w*",
                r"patella\w*",
                r"ankles?",
                r"foot",
                r"feet",
                r"calcane\w+",
                r"hips?",
                r"acetabul\w+",
            ),
        ),
    ),
}

FOREIGN_TO_MODALITY: dict[str, tuple[tuple[str, re.Pattern[str]], ...]] = {
    modality: (
        ("CT", _words(r"hounsfield(?: units?)?", r"\d+ hu", r"attenuation values?", r"window(?:ing)? level")),
        (
            "MR",
            _words(
                r"signal intensity", r"hyperintens\w*", r"hypointens\w*", r"t[12]-weighted", r"diffusion restriction"
            ),
        ),
        ("ultrasound", _words(r"echogenic\w*", r"hypoechoic", r"hyperechoic", r"anechoic", r"doppler")),
        (
            "cross-sectional",
            _words(r"(?:axial|sagittal|coronal) (?:images?|slices?|sections?|reformats?)", r"post-?contrast"),
        ),
    )
    for modality in PROJECTION_MODALITIES
}


def _body_part(draft: Draft) -> str:
    return BODY_PART_ALIASES.get(draft.body_part.strip().upper(), draft.body_part.strip().upper())


@dataclass(frozen=True)
class AnatomyMismatch:
    """Anatomy or modality terms foreign to the study (see the module docstring)."""

    code: str = "anatomy-mismatch"

    def check(self, draft: Draft, context: ValidationContext) -> list[Violation]:
        text = report_text(draft).lower()
        modality = draft.modality.strip().upper()
        study = f"{modality} {_body_part(draft)}"
        out = [
            Violation(self.code, f"report describes {region} anatomy on a {study} study")
            for region, pattern in FOREIGN_ANATOMY.get(_body_part(draft), ())
            if pattern.search(text)
        ]
        out += [
            Violation(self.code, f"report uses {kind} terms on a {modality} study")
            for kind, pattern in FOREIGN_TO_MODALITY.get(modality, ())
            if pattern.search(text)
        ]
        return out


_VESSELS_AND_HEART = r"(?:right |left )?atri(?:um|al)|(?:right |left )?ventric(?:le|ular)|svc|superior vena cava|ivc|inferior vena cava|aort\w+|pulmonary arter\w+"
_AIRWAY_AND_GUT = r"trachea|(?:right |left )?(?:main ?stem |mainstem )?bronch\w*|esophag\w*|stomach|bowel|duoden\w+"
_OUT_OF_FIELD = r"brain|intracranial|(?:lateral|third|fourth) ventricles?|peritone\w+|abdomen|pelvis|bladder"

# (device kind, device terms, places it cannot be on a chest film). Checked within one clause, the
# place after the device.
DEVICE_PLACEMENTS: tuple[tuple[str, re.Pattern[str], re.Pattern[str]], ...] = (
    (
        "airway tube",
        _words(r"endotracheal(?: tube)?", r"et tube", r"etts?", r"tracheostomy(?: tube)?", r"trach tube"),
        _words(_VESSELS_AND_HEART, r"stomach", _OUT_OF_FIELD),
    ),
    (
        "enteric tube",
        _words(
            r"nasogastric(?: tube)?",
            r"orogastric(?: tube)?",
            r"ng tube",
            r"og tube",
            r"enteric tube",
            r"feeding tube",
            r"dobhoff",
        ),
        _words(_VESSELS_AND_HEART, r"brain", r"intracranial", r"bladder", r"pelvis"),
    ),
    (
        "venous catheter",
        _words(
            r"central venous catheters?",
            r"central (?:venous )?lines?",
            r"cvcs?",
            r"piccs?(?: line)?",
            r"port-?a-?caths?",
            r"port catheters?",
            r"(?:internal jugular|ij|subclavian) (?:\w+ ){0,2}?(?:catheters?|lines?)",
        ),
        _words(_AIRWAY_AND_GUT, _OUT_OF_FIELD),
    ),
    (
        "pacemaker lead",
        _words(r"pacemakers?", r"pacers?", r"a?icds?", r"defibrillators?", r"pacing (?:leads?|wires?)", r"leads?"),
        _words(_AIRWAY_AND_GUT, _OUT_OF_FIELD),
    ),
    (
        "shunt",
        _words(r"(?:ventriculoperitoneal|vp|ventriculoatrial|va) shunt", r"shunt (?:catheter|tubing|tip)"),
        _words(
            r"(?:lateral|third|fourth) ventricles?", r"intracranial", r"brain", r"peritone\w+", r"abdomen", r"pelvis"
        ),
    ),
)
# Devices of other body regions: never on a chest film.
FOREIGN_DEVICES = _words(
    r"intrauterine (?:contraceptive )?device",
    r"iud",
    r"(?:hip|knee|ankle|elbow|wrist) (?:arthroplasty|prosthesis|replacement)",
    r"cochlear implants?",
    r"(?:foley|urinary|suprapubic) catheter",
    r"external ventricular drain",
    r"evd",
)
MAX_ETT_ABOVE_CARINA_CM = 15.0
_ETT_DEPTH = re.compile(r"\b(?:endotracheal|et tube|etts?)\b[^.;]*?\b(\d+(?:\.\d+)?) ?(cm|mm) above the carina\b")
_CLAUSE = re.compile(r"[,;.:()]|\band\b|\bwhile\b|\bwhereas\b")


@dataclass(frozen=True)
class DeviceInconsistent:
    """A device where it cannot be on this study (see the module docstring); chest studies only."""

    code: str = "device-inconsistent"

    def check(self, draft: Draft, context: ValidationContext) -> list[Violation]:
        if _body_part(draft) != "CHEST":
            return []
        text = report_text(draft).lower()
        kinds: list[str] = []
        for clause in _CLAUSE.split(text):
            for kind, device, places in DEVICE_PLACEMENTS:
                found = device.search(clause)
                if found and places.search(clause, found.end()) and kind not in kinds:
                    kinds.append(kind)
        out = [Violation(self.code, f"{kind} placed where it cannot be on a chest study") for kind in kinds]
        if FOREIGN_DEVICES.search(text):
            out.append(Violation(self.code, "a device of another body region on a chest study"))
        for m in _ETT_DEPTH.finditer(text):
            cm = float(m.group(1)) / (10.0 if m.group(2) == "mm" else 1.0)
            if cm > MAX_ETT_ABOVE_CARINA_CM:
                out.append(Violation(self.code, f"endotracheal tube depth above {MAX_ETT_ABOVE_CARINA_CM:g} cm"))
                break
        return out
