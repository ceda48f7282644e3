"""Throughput and exactness of Clean Pixel Data: the cleaner alone, today's detector
(``detector = "candidates"``) against the former whole-frame OCR passes (``"ocr_passes"``), in the
same run, on the burned-in corpus (training.burned_in) at 512x512 and 2048x2048.

    python -m bench.deid_throughput                        # pixels: 8 text + 8 clean per size, 3 rounds
    python -m bench.deid_throughput --n-text 4 --n-clean 4 --rounds 1 --sizes 512
    python -m bench.deid_throughput --n 40                 # the former whole-tool comparison (--mode tools)

Pixel mode: the baseline runs as it did (a tesseract process per call); the candidates detector
uses libtesseract in process where tesserocr is installed (deid.pixels.fastocr), else processes
too (the first line says which). Every image is cleaned by both detectors in each round, in alternating order (drift,
other load on the machine, hits both alike); the time is `PixelCleaner.clean` alone (the
dataset is in memory; tesseract's one-off check excluded). Per size it prints the median seconds
per image (all images, text images, clean images) of each detector and the speed ratio, and, from
the first round's outputs: tokens still readable by an independent reader (training.burned_in.
read_tokens, tesseract on four windows of the whole image; tokens readable before cleaning in
brackets), the largest fraction of any one text's glyph pixels left, stored pixels changed outside
the reported boxes, and the false-positive rate (clean images with at least one box).

Tools mode (the former benchmark): header + pixels, header only and dicom-anonymizer on 512x512
CR phantoms, images/s and the ratio to dicom-anonymizer.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from pydicom import dcmread

from deid.options import DeidOptions
from deid.pixels import PixelCleaner, PixelCleanSettings, boxes_mask
from deid.pixels.ocr import Tesseract
from deid.testing import SECRET
from deid.tool import DeidTool
from tools.compare_deid import dicom_anonymizer, dicom_anonymizer_version, to_bytes
from training.burned_in import BurnedInCase, burned_in_case, clean_case, read_tokens, readable, score
from training.phantoms import make_phantom

DETECTORS = ("ocr_passes", "candidates")


@dataclass
class Tally:
    """One detector at one size."""

    text_s: list[float] = field(default_factory=list)
    clean_s: list[float] = field(default_factory=list)
    readable: int = 0
    max_left: float = 0.0
    changed_outside: int = 0
    false_positives: int = 0


def _settings(detector: str) -> PixelCleanSettings:
    """The baseline is today's algorithm as it ran: whole-frame passes, a tesseract process per
    rendering. The candidates detector runs with the defaults (libtesseract in process where
    tesserocr is installed)."""
    if detector == "ocr_passes":
        return PixelCleanSettings(detector=detector, ocr_engine="subprocess")
    return PixelCleanSettings(detector=detector)


def _clean_once(cleaner: PixelCleaner, case: BurnedInCase) -> tuple[float, np.ndarray, np.ndarray]:
    started = time.perf_counter()
    result = cleaner.clean(case.dataset)
    spent = time.perf_counter() - started
    rows, cols = case.values.shape
    after = np.asarray(result.dataset.pixel_array, dtype=np.int64).reshape(rows, cols)
    return spent, after, boxes_mask(result.boxes, 1, rows, cols)[0]


def measure_pixels(size: int, n_text: int, n_clean: int, rounds: int, read: bool) -> dict[str, Tally]:
    """Both detectors on the corpus at `size`; see the module docstring."""
    cases = [burned_in_case(i, size) for i in range(n_text)] + [clean_case(i, size) for i in range(n_clean)]
    cleaners = {name: PixelCleaner(_settings(name)) for name in DETECTORS}
    tallies = {name: Tally() for name in DETECTORS}
    per_image: dict[str, list[list[float]]] = {name: [[] for _ in cases] for name in DETECTORS}
    for r in range(rounds):
        for k, case in enumerate(cases):
            order = DETECTORS if (k + r) % 2 == 0 else DETECTORS[::-1]
            for name in order:
                spent, after, inside = _clean_once(cleaners[name], case)
                per_image[name][k].append(spent)
                if r:
                    continue
                tally = tallies[name]
                if case.texts:
                    s = score(case, after, inside, read=read)
                    tally.readable += len(s.readable)
                    tally.max_left = max(tally.max_left, s.max_text_left)
                    tally.changed_outside += s.changed_outside
                else:
                    tally.changed_outside += int(np.count_nonzero((after != case.values) & ~inside))
                    tally.false_positives += bool(inside.any())
    for name in DETECTORS:
        for k, case in enumerate(cases):
            (tallies[name].text_s if case.texts else tallies[name].clean_s).append(
                statistics.median(per_image[name][k])
            )
    return tallies


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def run_pixels(args: argparse.Namespace) -> int:
    print(f"Clean Pixel Data, cleaner alone: {args.n_text} burned-in + {args.n_clean} clean images per size,")
    engine = (
        "libtesseract in process (tesserocr)" if Tesseract(_settings("candidates")).fast() else "tesseract processes"
    )
    print(f"{args.rounds} round(s), detectors alternating; quality from round 1; candidates OCR: {engine}")
    print(
        "| size | detector | median s/image | text images | clean images | speed-up | readable tokens left "
        "| max text pixels left | changed outside boxes | false positives |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    summary = []
    for size in args.sizes:
        tallies = measure_pixels(size, args.n_text, args.n_clean, args.rounds, not args.no_read)
        before = ""
        if not args.no_read:
            cases = [burned_in_case(i, size) for i in range(args.n_text)]
            total = sum(len(readable(c.tokens, read_tokens(c.values))) for c in cases)
            before = f" (of {total})"
        base = _median(tallies["ocr_passes"].text_s + tallies["ocr_passes"].clean_s)
        for name in DETECTORS:
            t = tallies[name]
            median = _median(t.text_s + t.clean_s)
            read = "n/a" if args.no_read else f"{t.readable}{before}"
            print(
                f"| {size} | {name} | {median:.3f} | {_median(t.text_s):.3f} | {_median(t.clean_s):.3f} "
                f"| {base / median:.1f}x | {read} | {t.max_left:.3f} | {t.changed_outside} "
                f"| {t.false_positives}/{args.n_clean} |"
            )
        summary.append((size, base / _median(tallies["candidates"].text_s + tallies["candidates"].clean_s)))
    for size, ratio in summary:
        print(f"speedup_{size}={ratio:.1f}")
    return 0


# ------------------------------------------------------------------------------- tools mode


def phantoms(n: int) -> list[bytes]:
    return [to_bytes(make_phantom(1000 + i, modality="CR", rows=512, cols=512).dataset) for i in range(n)]


def _ours(options: DeidOptions) -> Callable[[bytes], bytes]:
    tool = DeidTool(options, SECRET)

    def run(raw: bytes) -> bytes:
        return to_bytes(tool.deidentify(dcmread(io.BytesIO(raw))).dataset)

    return run


def measure(images: Sequence[bytes], tools: dict[str, Callable[[bytes], bytes]]) -> dict[str, float]:
    """tool -> images/s; per image the tools run in a rotated order, so drift (other load on the
    machine) hits every tool alike."""
    spent = dict.fromkeys(tools, 0.0)
    names = list(tools)
    for i, raw in enumerate(images):
        order = names[i % len(names) :] + names[: i % len(names)]
        for name in order:
            started = time.perf_counter()
            tools[name](raw)
            spent[name] += time.perf_counter() - started
    return {name: len(images) / s for name, s in spent.items()}


def run_tools(args: argparse.Namespace) -> int:
    images = phantoms(args.n)
    tools = {
        "ours (header + pixels)": _ours(DeidOptions(clean_pixel_data=True)),
        "ours (header only)": _ours(DeidOptions()),
        f"dicom-anonymizer {dicom_anonymizer_version()}": dicom_anonymizer,
    }
    rates = measure(images, tools)
    base = rates[list(tools)[-1]]
    print(f"{args.n} CR images 512x512, bytes in -> bytes out")
    print("| tool | images/s | ratio to dicom-anonymizer |\n|---|---:|---:|")
    for name, rate in rates.items():
        print(f"| {name} | {rate:.2f} | {rate / base:.3f} |")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.deid_throughput", description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("pixels", "tools"), help="default pixels; tools when --n is given")
    parser.add_argument("--sizes", type=lambda v: [int(x) for x in v.split(",")], default=[512, 2048])
    parser.add_argument("--n-text", type=int, default=8, help="burned-in images per size (default 8)")
    parser.add_argument("--n-clean", type=int, default=8, help="clean phantoms per size (default 8)")
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds (default 3)")
    parser.add_argument("--no-read", action="store_true", help="skip the independent OCR reader")
    parser.add_argument("--n", type=int, help="tools mode: number of 512x512 CR images (default 40)")
    args = parser.parse_args(argv)
    mode = args.mode or ("tools" if args.n is not None else "pixels")
    if args.n is None:
        args.n = 40
    return run_pixels(args) if mode == "pixels" else run_tools(args)


if __name__ == "__main__":
    sys.exit(main())
