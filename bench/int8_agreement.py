"""INT8 against fp32 on a bundle, judged on held-out chest X-ray phantoms (the quality guard's measure).

    python bench/int8_agreement.py models/demo-cxr [--phantoms 32] [--steps 48]

Draws phantoms from the held-out seed range of cli.demo_model, preprocesses them as the
appliance does, and prints export.quality's agreement for the bundle's quantised graphs (every graph
INT8, and the decoder alone): teacher-forced token agreement, identical sequences, logit relative
error, and how many distinct fp32 reports the inputs produced.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from cli.demo_model import TEST_SEED
from export.quality import GraphPair, agreement
from runtime.bundle import ModelBundle
from runtime.preprocess import preprocess
from training.phantoms import iter_phantoms


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("bundle", type=Path)
    p.add_argument("--phantoms", type=int, default=32)
    p.add_argument("--steps", type=int, default=48)
    args = p.parse_args(argv)

    bundle = ModelBundle.open(args.bundle)
    m = bundle.manifest
    if "int8" not in m.variants:
        print(f"{m.bundle_id} has no int8 variant: {m.quantization}")
        return 1
    pixels = np.stack([preprocess(ph.dataset, m.preprocessing) for ph in iter_phantoms(args.phantoms, seed=TEST_SEED)])
    ids = np.full((len(pixels), 1), m.tokenizer.eos_token_id, np.int64)
    fp32, int8 = m.variants["fp32"], m.variants["int8"]
    reference = GraphPair(bundle.graph_bytes("fp32", "encoder"), bundle.graph_bytes("fp32", "decoder"))
    candidates = {
        "int8 (bundle's variant)": (int8["encoder"], int8["decoder"]),
        "int8, decoder only": (fp32["encoder"], int8["decoder"]),
    }
    print(f"# {m.bundle_id}: {len(pixels)} held-out phantoms, {args.steps} steps, teacher-forced")
    print(
        f"{'candidate':<26} {'token agreement':>15} {'identical':>9} {'logit err med':>13} {'p95':>7} {'distinct':>8}"
    )
    for name, (encoder, decoder) in candidates.items():
        r = agreement(
            reference,
            GraphPair(bundle.blob(encoder), bundle.blob(decoder)),
            name,
            pixels,
            ids,
            np.ones_like(ids),
            steps=args.steps,
            start=m.tokenizer.decoder_start_token_id,
        )
        print(
            f"{name:<26} {r.token_agreement:>15.4f} {r.identical_sequences:>9.3f} {r.logit_rel_error_median:>13.4f} "
            f"{r.logit_rel_error_p95:>7.4f} {r.distinct_sequences:>8}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
