"""Where a decoder step's time goes: ONNX Runtime's per-operator profile of one bundle variant.

    python bench/decoder_ops.py build/bench-generation/bundle-seed0 --precision int8 [--past 32]

Runs the decoder graph of the bundle (after ONNX Runtime's own graph optimisation, as the runtime
does) on random inputs with a past of `--past` positions, and prints the milliseconds per step spent in
each operator type, the node count of the optimised graph, and the step time with profiling off.
This is how the decoder graph's reshapes were found to cost more than its attention (export/graphs.py).
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from runtime.bundle import ModelBundle
from runtime.gpu import image_tokens


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("bundle", type=Path)
    p.add_argument("--precision", default="int8")
    p.add_argument("--past", type=int, default=32)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--steps", type=int, default=30)
    args = p.parse_args(argv)

    bundle = ModelBundle.open(args.bundle)
    m = bundle.manifest
    model = bundle.graph_bytes(args.precision, "decoder")
    n_image = image_tokens(m)
    rng = np.random.default_rng(0)
    shape_past = (args.batch, m.decoder.num_heads, args.past, m.decoder.d_kv)
    shape_cross = (args.batch, m.decoder.num_heads, n_image + 4, m.decoder.d_kv)
    feeds = {
        "input_ids": np.zeros((args.batch, 1), np.int64),
        "encoder_attention_mask": np.ones((args.batch, n_image + 4), np.int64),
    }
    for i in range(m.decoder.num_layers):
        for kind in ("key", "value"):
            feeds[f"past_{kind}_{i}"] = rng.standard_normal(shape_past).astype(np.float32)
            feeds[f"cross_{kind}_{i}"] = rng.standard_normal(shape_cross).astype(np.float32)

    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.log_severity_level = 3
        options.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        plain = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        nodes = len(onnx.load(options.optimized_model_filepath, load_external_data=False).graph.node)
    for _ in range(5):
        plain.run(None, feeds)
    start = time.perf_counter()
    for _ in range(args.steps):
        plain.run(None, feeds)
    step_ms = (time.perf_counter() - start) / args.steps * 1e3

    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.log_severity_level = 3
    options.enable_profiling = True
    with tempfile.TemporaryDirectory() as tmp:
        options.profile_file_prefix = str(Path(tmp) / "decoder")
        profiled = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        for _ in range(args.steps):
            profiled.run(None, feeds)
        events = json.loads(Path(profiled.end_profiling()).read_text())
    total: collections.Counter[str] = collections.Counter()
    count: collections.Counter[str] = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            total[e["args"]["op_name"]] += e["dur"]
            count[e["args"]["op_name"]] += 1
    print(
        f"# {m.bundle_id} {args.precision} decoder, batch {args.batch}, past {args.past}: "
        f"{nodes} nodes after optimisation, {step_ms:.2f} ms/step (profiling off)"
    )
    print(f"{'operator':<32} {'ms/step':>8} {'nodes':>6}")
    for op, us in total.most_common():
        print(f"{op:<32} {us / args.steps / 1e3:>8.3f} {count[op] // args.steps:>6}")
    print(f"{'kernels in total':<32} {sum(total.values()) / args.steps / 1e3:>8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
