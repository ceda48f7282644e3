"""Throughput of de-identification on 512x512 CR phantoms: ours with Clean Pixel Data (header +
OCR pixel cleaning), ours header-only, and dicom-anonymizer (header only, its default rules),
measured in the same run with the order of the three rotated per round.

    python -m bench.deid_throughput            # N=40 images
    python -m bench.deid_throughput --n 8

Each tool gets every image in memory (decode and encode included: bytes in, bytes out); the
one-off start-up (Presidio is not loaded: descriptors are not cleaned here; tesseract check) is
excluded. Prints images/s per tool and the ratios to dicom-anonymizer.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Callable, Sequence

from pydicom import dcmread

from deid.options import DeidOptions
from deid.testing import SECRET
from deid.tool import DeidTool
from tools.compare_deid import dicom_anonymizer, dicom_anonymizer_version, to_bytes
from training.phantoms import make_phantom


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.deid_throughput", description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40, help="number of 512x512 CR images (default 40)")
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
