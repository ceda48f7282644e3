"""StudyFindings: label vector, validation, dict round trip, sampling prevalence and details."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.findings import (
    DEVICES,
    EFFUSION_SIDES,
    ENLARGED_CTR,
    FINDINGS,
    LOBES,
    MASS_THRESHOLD_MM,
    NORMAL_CTR,
    SIDES,
    ZONES,
    FindingDetails,
    InvalidFindingsError,
    StudyFindings,
    sample_details,
    sample_findings,
)


@st.composite
def study_findings(draw: st.DrawFn) -> StudyFindings:
    """Any valid StudyFindings, including combinations sample_findings avoids."""
    consolidation = draw(
        st.none() | st.sampled_from(SIDES).flatmap(lambda side: st.tuples(st.just(side), st.sampled_from(LOBES[side])))
    )
    nodule = draw(
        st.none()
        | st.tuples(st.sampled_from(SIDES), st.sampled_from(ZONES), st.integers(5, 100)).map(
            lambda t: (*t, "mass" if t[2] > MASS_THRESHOLD_MM else "nodule")
        )
    )
    return StudyFindings(
        cardiomegaly=draw(st.booleans()),
        effusion=draw(st.none() | st.sampled_from(EFFUSION_SIDES)),
        pneumothorax=draw(st.none() | st.sampled_from(SIDES)),
        consolidation=consolidation,
        nodule=nodule,
        atelectasis=draw(st.none() | st.tuples(st.sampled_from(SIDES), st.sampled_from(ZONES))),
        devices=frozenset(draw(st.sets(st.sampled_from(DEVICES)))),
    )


def test_label_order_is_the_contract() -> None:
    assert FINDINGS == (
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


@pytest.mark.parametrize(
    ("findings", "positives"),
    [
        (StudyFindings(), set()),
        (StudyFindings(cardiomegaly=True), {"cardiomegaly"}),
        (StudyFindings(effusion="left"), {"effusion_left"}),
        (StudyFindings(effusion="both"), {"effusion_left", "effusion_right"}),
        (StudyFindings(pneumothorax="right"), {"pneumothorax_right"}),
        (StudyFindings(consolidation=("right", "middle")), {"consolidation_right"}),
        (StudyFindings(consolidation=("left", "upper")), {"consolidation_left"}),
        (StudyFindings(nodule=("left", "mid", 45, "mass")), {"nodule"}),
        (StudyFindings(atelectasis=("right", "lower")), {"atelectasis"}),
        (StudyFindings(devices=frozenset({"line", "pacemaker"})), {"line", "pacemaker"}),
        (
            StudyFindings(effusion="right", pneumothorax="right", devices=frozenset({"tube"})),
            {"effusion_right", "pneumothorax_right", "tube"},
        ),
    ],
)
def test_labels(findings: StudyFindings, positives: set[str]) -> None:
    labels = findings.labels()
    assert labels.dtype == np.float32
    assert labels.shape == (len(FINDINGS),)
    assert {name for name, v in zip(FINDINGS, labels) if v == 1.0} == positives
    assert set(np.unique(labels)) <= {0.0, 1.0}
    assert findings.is_normal == (not positives)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"effusion": "top"},
        {"pneumothorax": "both"},
        {"consolidation": ("left", "middle")},
        {"consolidation": ("centre", "upper")},
        {"consolidation": ("left",)},
        {"nodule": ("left", "upper", 20, "mass")},
        {"nodule": ("left", "upper", 40, "nodule")},
        {"nodule": ("left", "basal", 20, "nodule")},
        {"nodule": ("left", "upper", 2, "nodule")},
        {"nodule": ("left", "upper", 20.5, "nodule")},
        {"atelectasis": ("right", "middle")},
        {"devices": frozenset({"chest tube"})},
        {"devices": {"line"}},
        {"cardiomegaly": 1},
    ],
)
def test_invalid_findings_are_rejected(kwargs: dict) -> None:
    with pytest.raises(InvalidFindingsError):
        StudyFindings(**kwargs)


@given(study_findings())
def test_dict_round_trip_is_json_safe(f: StudyFindings) -> None:
    data = json.loads(json.dumps(f.to_dict()))
    assert StudyFindings.from_dict(data) == f
    assert np.array_equal(StudyFindings.from_dict(data).labels(), f.labels())


@pytest.mark.parametrize(
    "data",
    [
        [],
        {"cardiomegaly": False, "colour": "red"},
        {"consolidation": "left lower"},
        {"devices": "line"},
        {"nodule": ["left", "upper", 20, "mass"]},
    ],
)
def test_from_dict_rejects_malformed_input(data: object) -> None:
    with pytest.raises(InvalidFindingsError):
        StudyFindings.from_dict(data)  # type: ignore[arg-type]


def test_sampling_is_deterministic() -> None:
    a = [sample_findings(np.random.default_rng(42)) for _ in range(3)]
    assert a[0] == a[1] == a[2]
    rng1, rng2 = np.random.default_rng(7), np.random.default_rng(7)
    assert [sample_findings(rng1) for _ in range(50)] == [sample_findings(rng2) for _ in range(50)]


def test_sampled_prevalence() -> None:
    rng = np.random.default_rng(2024)
    studies = [sample_findings(rng) for _ in range(4000)]
    labels = np.stack([f.labels() for f in studies])
    normal = float(np.mean([f.is_normal for f in studies]))
    assert 0.22 <= normal <= 0.34
    prevalence = labels.mean(axis=0)
    for name, p in zip(FINDINGS, prevalence):
        assert 0.08 <= p <= 0.30, (name, p)
    # Findings co-occur.
    assert (labels.sum(axis=1) >= 3).mean() > 0.05
    # Effusion side both, lobes, zones and nodule kinds all occur.
    assert {f.effusion for f in studies} == {None, *EFFUSION_SIDES}
    assert {f.consolidation for f in studies if f.consolidation} == {(s, lobe) for s in SIDES for lobe in LOBES[s]}
    assert {f.nodule[3] for f in studies if f.nodule} == {"nodule", "mass"}


def _zones_of_consolidation(c: tuple[str, str]) -> set[tuple[str, str]]:
    side, lobe = c
    zone = {"upper": "upper", "middle": "mid", "lower": "lower"}[lobe]
    cells = {(side, zone)}
    if lobe == "middle":
        cells.add((side, "lower"))
    if (side, lobe) == ("left", "upper"):
        cells.add((side, "mid"))
    return cells


def test_sampled_findings_do_not_hide_each_other() -> None:
    rng = np.random.default_rng(5)
    for _ in range(3000):
        f = sample_findings(rng)
        busy: set[tuple[str, str]] = set()
        if f.effusion:
            sides = SIDES if f.effusion == "both" else (f.effusion,)
            busy |= {(s, "lower") for s in sides}
        if f.consolidation:
            assert not (_zones_of_consolidation(f.consolidation) & busy), f
            busy |= _zones_of_consolidation(f.consolidation)
        if f.nodule:
            assert (f.nodule[0], f.nodule[1]) not in busy, f
            busy.add((f.nodule[0], f.nodule[1]))
        if f.atelectasis:
            assert f.atelectasis not in busy, f


@given(study_findings(), st.integers(0, 2**32 - 1))
@settings(max_examples=200)
def test_details_match_findings(f: StudyFindings, seed: int) -> None:
    d = sample_details(f, np.random.default_rng(seed))
    assert d.matches(f)
    lo, hi = ENLARGED_CTR if f.cardiomegaly else NORMAL_CTR
    assert lo <= d.ctr <= hi
    assert FindingDetails.from_dict(json.loads(json.dumps(d.to_dict()))) == d


def test_ctr_ranges_separate_normal_from_enlarged() -> None:
    # Normal hearts stay under half the thoracic width; enlarged ones are clearly over 0.55.
    assert NORMAL_CTR[1] < 0.5
    assert ENLARGED_CTR[0] > 0.55


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ctr": 0.1},
        {"ctr": 0.45, "effusion_size": "huge"},
        {"ctr": 0.45, "line_kind": "right_picc"},
        {"ctr": 0.45, "line_kind": "femoral", "line_tip": "svc"},
        {"ctr": 0.45, "tube_cm": 12},
        {"ctr": 0.45, "pacemaker_side": "left", "pacemaker_leads": 4},
    ],
)
def test_invalid_details_are_rejected(kwargs: dict) -> None:
    with pytest.raises(InvalidFindingsError):
        FindingDetails(**kwargs)
