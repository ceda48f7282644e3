from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from appliance.classify import (
    ABDOMEN_CT,
    BREAST_MRI,
    CHEST_CT,
    CHEST_XRAY,
    HAND_XRAY,
    HEAD_CT,
    classify,
)


def ds(**kw) -> Dataset:
    d = Dataset()
    for k, v in kw.items():
        setattr(d, k, v)
    return d


@pytest.mark.parametrize(
    "header, expected",
    [
        (dict(Modality="CT", BodyPartExamined="HEAD"), HEAD_CT),
        (dict(Modality="CT", BodyPartExamined="BRAIN"), HEAD_CT),
        (dict(Modality="CT", StudyDescription="CT HEAD W/O CONTRAST"), HEAD_CT),
        (dict(Modality="MR", BodyPartExamined="BREAST"), BREAST_MRI),
        (dict(Modality="MR", StudyDescription="MRI Breast bilateral"), BREAST_MRI),
        (dict(Modality="CT", BodyPartExamined="ABDOMEN"), ABDOMEN_CT),
        (dict(Modality="CT", StudyDescription="CT ABD/PELVIS"), ABDOMEN_CT),
        (dict(Modality="CT", BodyPartExamined="CHEST"), CHEST_CT),
        (dict(Modality="CR", BodyPartExamined="CHEST"), CHEST_XRAY),
        (dict(Modality="DX", BodyPartExamined="", StudyDescription="XR CHEST PA AND LATERAL"), CHEST_XRAY),
        (dict(Modality="DX", StudyDescription="PA"), CHEST_XRAY),
        (dict(Modality="DX", BodyPartExamined="HAND"), HAND_XRAY),
        (dict(Modality="CR", StudyDescription="XR WRIST 3 VIEWS"), HAND_XRAY),
        (dict(Modality="CR", BodyPartExamined="KNEE"), None),
        (dict(Modality="MR", BodyPartExamined="HEAD"), None),
        (dict(Modality="US", BodyPartExamined="CHEST"), None),
        (dict(Modality="CR"), None),
        (dict(), None),
    ],
)
def test_privacy_class_table(header, expected) -> None:
    assert classify(ds(**header)) == expected


def test_budgets_match_the_design() -> None:
    assert {
        c.name: (c.level, c.epsilon) for c in (HEAD_CT, BREAST_MRI, ABDOMEN_CT, CHEST_CT, CHEST_XRAY, HAND_XRAY)
    } == {
        "Head CT": ("high", 0.5),
        "Breast MRI": ("high", 0.5),
        "Abdomen CT": ("medium", 1.0),
        "Chest CT": ("medium", 1.0),
        "Chest X-ray": ("low", 2.0),
        "Hand X-ray": ("low", 2.0),
    }
