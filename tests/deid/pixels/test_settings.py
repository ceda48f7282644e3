"""Settings of Clean Pixel Data (deid.pixels.settings): every bad value names its key, and banner
zones match and cover what they say."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset

from deid.errors import DeidConfigError
from deid.pixels import BannerZone, PixelCleanSettings


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"banner_zones": [{"x0": 0, "y0": 0, "x1": 1}]}, "banner_zones[0].y1"),
        ({"banner_zones": [{"x0": 0, "y0": 0, "x1": 1, "y1": 1.5}]}, "banner_zones[0].y1"),
        ({"banner_zones": [{"x0": 0.5, "y0": 0, "x1": 0.5, "y1": 1}]}, "banner_zones[0].x1"),
        ({"banner_zones": [{}, {"x0": 0, "y0": 0, "x1": 1, "y1": 1, "vendor": "X"}]}, "banner_zones[0].x0"),
        ({"banner_zones": [{"x0": 0, "y0": 0, "x1": 1, "y1": 1, "vendor": "X"}]}, "banner_zones[0].vendor"),
        ({"banner_zones": [{"x0": True, "y0": 0, "x1": 1, "y1": 1}]}, "banner_zones[0].x0"),
        (
            {"banner_zones": [{"x0": 0, "y0": 0, "x1": 1, "y1": 1, "modality": ""}]},
            "banner_zones[0].modality",
        ),
        ({"banner_zones": {"x0": 0}}, "banner_zones"),
        ({"display_min_confidence": 101}, "display_min_confidence"),
        ({"layer_min_confidence": "5"}, "layer_min_confidence"),
        ({"max_rounds": 0}, "max_rounds"),
        ({"max_frames": 2.5}, "max_frames"),
        ({"ocr_workers": True}, "ocr_workers"),
        ({"extreme_tolerance": 0.5}, "extreme_tolerance"),
        ({"allow_transcode": "yes"}, "allow_transcode"),
        ({"laterality_markers": "L"}, "laterality_markers"),
        ({"tesseract": ""}, "tesseract"),
        ({"ocr_languages": "eng"}, "ocr_languages"),
        ({"detector": "tesseract"}, "detector"),
        ({"min_contrast": 0}, "min_contrast"),
        ({"candidate_side": 8}, "candidate_side"),
        ({"candidate_min_confidence": -1}, "candidate_min_confidence"),
        ({"trust_burned_in_no": "some"}, "trust_burned_in_no"),
        ({"trust_burned_in_no": {"manufacturer": "ACME"}}, "trust_burned_in_no"),
        ({"trust_burned_in_no": ["ACME"]}, "trust_burned_in_no[0]"),
        ({"trust_burned_in_no": [{"manufacturer": "A"}, {"vendor": "B"}]}, "trust_burned_in_no[1].vendor"),
        ({"trust_burned_in_no": [{}]}, "trust_burned_in_no[0].manufacturer"),
        ({"trust_burned_in_no": [{"model": ""}]}, "trust_burned_in_no[0].model"),
    ],
)
def test_settings_errors_name_the_offending_key(data: dict, key: str) -> None:
    with pytest.raises(DeidConfigError) as err:
        PixelCleanSettings.from_mapping(data)
    assert err.value.key == key


def test_settings_from_mapping() -> None:
    settings_ = PixelCleanSettings.from_mapping(
        {
            "banner_zones": [{"modality": "US", "x0": 0, "y0": 0, "x1": 1, "y1": 0.08}],
            "laterality_markers": ["l", "r", "Left"],
            "max_frames": 8,
        }
    )
    assert settings_.banner_zones == (BannerZone(0.0, 0.0, 1.0, 0.08, modality="US"),)
    assert settings_.laterality_markers == frozenset({"L", "R", "LEFT"})
    assert settings_.max_frames == 8
    assert PixelCleanSettings.from_mapping({}) == PixelCleanSettings()


@pytest.mark.parametrize(
    ("zone", "attrs", "applies"),
    [
        (BannerZone(0, 0, 1, 1), {}, True),
        (BannerZone(0, 0, 1, 1, modality="us"), {"Modality": "US"}, True),
        (BannerZone(0, 0, 1, 1, modality="US"), {"Modality": "USX"}, False),
        (BannerZone(0, 0, 1, 1, manufacturer="acme"), {"Manufacturer": "Acme Medical GmbH"}, True),
        (BannerZone(0, 0, 1, 1, manufacturer="acme"), {}, False),
        (
            BannerZone(0, 0, 1, 1, model="X5", modality="CR"),
            {"Modality": "CR", "ManufacturerModelName": "ProX5"},
            True,
        ),
        (
            BannerZone(0, 0, 1, 1, model="X5", modality="CR"),
            {"Modality": "DX", "ManufacturerModelName": "ProX5"},
            False,
        ),
    ],
)
def test_banner_zone_matching(zone: BannerZone, attrs: dict, applies: bool) -> None:
    ds = Dataset()
    for keyword, value in attrs.items():
        setattr(ds, keyword, value)
    assert zone.applies_to(ds) is applies


_fraction = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(_fraction, _fraction, _fraction, _fraction, st.integers(1, 4000), st.integers(1, 4000))
def test_banner_zone_pixel_box_covers_the_fraction_and_stays_inside(a, b, c, d, rows, columns) -> None:
    x0, x1 = sorted((a, b))
    y0, y1 = sorted((c, d))
    if x0 == x1 or y0 == y1:
        return
    top, left, bottom, right = BannerZone(x0, y0, x1, y1).pixel_box(rows, columns)
    assert 0 <= top < bottom <= rows and 0 <= left < right <= columns
    assert top <= y0 * rows and bottom >= y1 * rows - 1e-9
    assert left <= x0 * columns and right >= x1 * columns - 1e-9
