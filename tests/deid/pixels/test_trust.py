"""The site's trust in Burned In Annotation NO (PixelCleanSettings.trust_burned_in_no): a trusted NO
skips the text search entirely (no OCR: a missing tesseract does not matter) and says so; an untrusted
NO, a YES or another device's NO is searched; zones, overlays and unused bits are handled either way."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.dataset import Dataset

from deid.options import DeidOptions
from deid.pixels import PixelCleaner, PixelCleanSettings, boxes_mask, parse_banner_zones
from deid.pixels.settings import DeviceMatch
from deid.testing import SECRET
from deid.tool import DeidTool
from tests.deid.pixels.fixtures import Text, burn, chest, dataset, needs_tesseract

TRUST_ACME = [{"manufacturer": "acme", "model": "x5"}]


def _image(burned_in: str, model: str = "ProX5 Plus") -> tuple[Dataset, np.ndarray, np.ndarray]:
    image, mask = burn(chest(192, 256, 12, 9), [Text(6, 6, "DOE^JOHN 12345678")], 4095)
    ds = dataset(image, bits_stored=12, burned_in=burned_in)
    ds.ManufacturerModelName = model  # Manufacturer is "ACME Medical"
    return ds, image, mask


@pytest.mark.parametrize(
    ("trust", "attrs", "trusted"),
    [
        ("none", {"BurnedInAnnotation": "NO", "Manufacturer": "ACME"}, False),
        ("all", {"BurnedInAnnotation": "NO"}, True),
        ("all", {"BurnedInAnnotation": "YES"}, False),
        ("all", {}, False),
        (
            TRUST_ACME,
            {"BurnedInAnnotation": "NO", "Manufacturer": "Acme Medical", "ManufacturerModelName": "ProX5"},
            True,
        ),
        (
            TRUST_ACME,
            {"BurnedInAnnotation": "NO", "Manufacturer": "Acme Medical", "ManufacturerModelName": "Y7"},
            False,
        ),
        (TRUST_ACME, {"BurnedInAnnotation": "NO", "Manufacturer": "Other"}, False),
        ([{"model": "x5"}], {"BurnedInAnnotation": "NO", "ManufacturerModelName": "X5"}, True),
    ],
)
def test_trust_policy_matching(trust, attrs: dict, trusted: bool) -> None:
    ds = Dataset()
    for keyword, value in attrs.items():
        setattr(ds, keyword, value)
    settings = PixelCleanSettings.from_mapping({"trust_burned_in_no": trust})
    assert settings.trusts_burned_in_no(ds) is trusted


def test_default_trusts_nothing() -> None:
    assert PixelCleanSettings().trust_burned_in_no == "none"
    parsed = PixelCleanSettings.from_mapping({"trust_burned_in_no": TRUST_ACME}).trust_burned_in_no
    assert parsed == (DeviceMatch("acme", "x5"),)


def test_trusted_no_skips_ocr_but_not_zones_or_overlay_bits() -> None:
    zones = parse_banner_zones([{"x0": 0.0, "y0": 0.9, "x1": 1.0, "y1": 1.0}])
    # No tesseract at all: any OCR call would raise OcrError.
    cleaner = PixelCleaner(
        PixelCleanSettings(tesseract="/nonexistent/tesseract", trust_burned_in_no=TRUST_ACME, banner_zones=zones)
    )
    ds, image, _ = _image("NO")
    result = cleaner.clean(ds)
    assert result.text_searched is False
    assert [b.source for b in result.boxes] == ["zone"]
    assert any("trusted by the site policy" in a for a in result.actions)
    after = np.asarray(result.dataset.pixel_array, dtype=np.int64)
    inside = boxes_mask(result.boxes, 1, 192, 256)[0]
    assert np.array_equal(after[~inside], image[~inside]), "the text is left: the site trusts the header"
    assert result.dataset.BurnedInAnnotation == "NO"


@needs_tesseract
@pytest.mark.parametrize(("burned_in", "model"), [("NO", "Y7"), ("YES", "ProX5")])
def test_untrusted_or_yes_is_searched(burned_in: str, model: str) -> None:
    cleaner = PixelCleaner(PixelCleanSettings(trust_burned_in_no=TRUST_ACME))
    ds, _, mask = _image(burned_in, model)
    result = cleaner.clean(ds)
    assert result.text_searched is True
    assert boxes_mask(result.boxes, 1, 192, 256)[0][mask].all()
    assert not any("trusted" in a for a in result.actions)


@needs_tesseract  # the tool checks OCR at start-up
def test_a_trusted_no_is_not_claimed_as_clean_pixel_data_in_the_output() -> None:
    settings = PixelCleanSettings(trust_burned_in_no=TRUST_ACME)
    tool = DeidTool(DeidOptions(clean_pixel_data=True), SECRET, pixels=settings)
    ds, _, _ = _image("NO")
    out = tool.deidentify(ds).dataset
    codes = [str(item.CodeValue) for item in out.DeidentificationMethodCodeSequence]
    assert "113101" not in codes  # CID 7050 Clean Pixel Data Option: no search was made
    assert out.BurnedInAnnotation == "NO" and out.PatientIdentityRemoved == "YES"
