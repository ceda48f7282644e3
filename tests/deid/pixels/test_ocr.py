"""The OCR wrapper (deid.pixels.ocr): tesseract's TSV is parsed into words with outward-rounded boxes,
the image goes to tesseract on stdin with a single-thread limit, and every failure is an OcrError. A fake
tesseract (a shell script) stands in where the test is about the wrapper, not about recognition."""

from __future__ import annotations

import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from deid.pixels import OcrError, PixelCleaner, PixelCleanSettings
from deid.pixels.ocr import OCR_GATE, Tesseract, Word, tsv_words, upscale
from tests.deid.pixels.fixtures import Text, burn, chest, dataset

HEADER = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext"


def _row(level: str, left: str, top: str, width: str, height: str, conf: str, text: str, line: str = "1") -> str:
    return "\t".join([level, "1", "2", "3", line, "1", left, top, width, height, conf, text])


@pytest.mark.parametrize(
    ("row", "scale", "expected"),
    [
        (_row("5", "3", "5", "4", "7", "91.5", "DOE"), 1, [Word("DOE", 91.5, (5, 3, 12, 7), ("2", "3", "1"))]),
        # divided by the upscale factor and rounded outwards: ceil(12 / 2), ceil(7 / 2)
        (_row("5", "3", "5", "4", "7", "91.5", "DOE"), 2, [Word("DOE", 91.5, (2, 1, 6, 4), ("2", "3", "1"))]),
        (_row("5", "9", "9", "3", "3", "50", " A B "), 3, [Word("A B", 50.0, (3, 3, 4, 4), ("2", "3", "1"))]),
        (_row("4", "3", "5", "4", "7", "-1", ""), 1, []),  # a line row, not a word
        (_row("5", "3", "5", "4", "7", "-1", "DOE"), 1, []),  # no confidence
        (_row("5", "3", "5", "4", "7", "90", "  "), 1, []),  # no text
        (_row("5", "x", "5", "4", "7", "90", "DOE"), 1, []),  # malformed number
        ("5\t1\t1\t1\t1\t1\t3\t5\t4\t7\t90", 1, []),  # missing text column
    ],
)
def test_tsv_words(row: str, scale: int, expected: list[Word]) -> None:
    assert tsv_words(f"{HEADER}\n{row}\n", scale) == expected


def test_tsv_header_row_and_tabs_in_text() -> None:
    assert tsv_words(HEADER, 1) == []
    row = _row("5", "0", "0", "2", "2", "70", "A1\tB")
    (word,) = tsv_words(f"{HEADER}\n{row}", 1)
    assert word.text == "A1\tB" and word.alnum == 3 and word.height == 2


def test_upscale() -> None:
    image = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert upscale(image, 1) is image
    assert upscale(image, 3).shape == (9, 12)


def _fake_tesseract(tmp_path: Path, body: str) -> str:
    script = tmp_path / "tesseract"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_image_goes_on_stdin_and_tsv_comes_from_stdout(tmp_path: Path) -> None:
    # Echoes its arguments, the thread limit and the first bytes of stdin as the text of one word.
    exe = _fake_tesseract(
        tmp_path,
        "magic=$(head -c 2)\ncat > /dev/null\n"
        f'printf "%s\\n" "{HEADER}"\n'
        'printf "5\\t1\\t1\\t1\\t1\\t1\\t0\\t0\\t1\\t1\\t99\\t%s|%s|%s\\n" "$*" "$OMP_THREAD_LIMIT" "$magic"\n',
    )
    ocr = Tesseract(PixelCleanSettings(tesseract=exe, language="deu"))
    (word,) = tsv_words(ocr.run(np.full((8, 8), 255, dtype=np.uint8), 6), 1)
    args, threads, magic = word.text.split("|")
    assert args == "stdin stdout -l deu --oem 1 --psm 6 tsv"
    assert threads == "1", "tesseract must run single-threaded"
    assert magic == "P5", "a binary PGM on stdin"


@pytest.mark.parametrize(
    ("body", "timeout_s", "message"),
    [
        ("cat > /dev/null\nexit 3\n", 60.0, "exited with status 3"),
        ("cat > /dev/null\nexec sleep 5\n", 0.2, "timed out"),
    ],
)
def test_failing_tesseract_raises_ocr_error(tmp_path: Path, body: str, timeout_s: float, message: str) -> None:
    ocr = Tesseract(PixelCleanSettings(tesseract=_fake_tesseract(tmp_path, body), timeout_s=timeout_s))
    with pytest.raises(OcrError, match=message):
        ocr.run(np.zeros((8, 8), dtype=np.uint8), 11)


def test_missing_tesseract_raises_ocr_error() -> None:
    # OCR runs only on text candidates: an image without any needs no tesseract (callers run
    # check_ocr at start-up to fail early); one with text raises OcrError.
    cleaner = PixelCleaner(PixelCleanSettings(tesseract="/nonexistent/tesseract"))
    assert cleaner.clean(dataset(chest(32, 32, 12, 0), bits_stored=12)).boxes == ()
    image, _ = burn(chest(128, 256, 12, 1), [Text(6, 6, "DOE^JOHN 12345678")], 4095)
    with pytest.raises(OcrError):
        cleaner.clean(dataset(image, bits_stored=12))
    with pytest.raises(OcrError):
        cleaner.check_ocr()


def test_tesseract_processes_are_bounded_process_wide(tmp_path: Path) -> None:
    # Each fake tesseract registers itself in a folder while it runs and records how many it saw;
    # 8 threads with two Tesseract objects (two cleaners) share the bound of 3.
    live = tmp_path / "live"
    live.mkdir()
    seen = tmp_path / "seen"
    exe = _fake_tesseract(
        tmp_path,
        f'cat > /dev/null\ntouch "{live}/$$"\nsleep 0.3\nls "{live}" | wc -l >> "{seen}"\nrm "{live}/$$"\n',
    )
    engines = [Tesseract(PixelCleanSettings(tesseract=exe, ocr_workers=3)) for _ in range(2)]
    OCR_GATE.reset_peak()
    image = np.zeros((8, 8), dtype=np.uint8)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda k: engines[k % 2].run(image, 6), range(8)))
    counts = [int(line) for line in seen.read_text().split()]
    assert len(counts) == 8
    assert max(counts) <= 3, "never more than ocr_workers tesseract processes at once"
    assert OCR_GATE.peak == 3 and OCR_GATE.active == 0


def test_default_ocr_workers_is_the_cpu_count() -> None:
    assert PixelCleanSettings().ocr_workers == (os.cpu_count() or 1)


def test_the_fast_path_applies_only_to_the_default_binary_on_auto() -> None:
    assert not Tesseract(PixelCleanSettings(ocr_engine="subprocess")).fast()
    assert not Tesseract(PixelCleanSettings(tesseract="/usr/bin/tesseract")).fast()


def test_the_fast_path_reads_what_the_binary_reads() -> None:
    pytest.importorskip("tesserocr")
    image, _ = burn(chest(64, 320, 8, 2), [Text(6, 6, "DOE^JOHN 12345678", 24)], 0)
    ink = np.where(image == 0, 0, 255).astype(np.uint8)
    fast = Tesseract(PixelCleanSettings())
    assert fast.fast()
    slow = Tesseract(PixelCleanSettings(ocr_engine="subprocess"))
    words = [{w.text for w in tsv_words(engine.run(ink, 6), 1)} for engine in (fast, slow)]
    # The wheel bundles its own libtesseract, so reads may differ in detail, not in substance.
    for read in words:
        assert "12345678" in read and any("JOHN" in w for w in read)
