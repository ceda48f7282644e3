"""The shared cleaner of the pixel tests (stateless, so one per module is enough)."""

from __future__ import annotations

import pytest

from deid.pixels import PixelCleaner


@pytest.fixture(scope="module")
def cleaner() -> PixelCleaner:
    return PixelCleaner()
