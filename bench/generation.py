"""Report generation at full size (ViT-B/16 -> T5-base), side by side in one run.

    python bench/generation.py                    # batch 1 and 8, 64 new tokens, 3 rounds
    python bench/generation.py --batches 1,8,32 --providers CUDAExecutionProvider   # on a GPU

Contenders, on the same inputs and machine, alternating within each round (the order rotates):
  torch-eager      the PyTorch model: ViT + T5 encoder, then transformers' generate (greedy, KV cache)
  optimum-fp32     optimum's ORTModelForSeq2SeqLM (its T5 decoder with past) fed our encoder's output
                   through generate(encoder_outputs=...): what a user would pick off the shelf
  runtime-fp32     this project's runtime (runtime.generator, no torch), fp32 graphs
  runtime-int8     ... every graph dynamic INT8 (per-channel weights)
  runtime-int8dec  ... encoder fp32, decoder INT8: what the quality guard picks when full INT8 loses
                   token agreement (it does on this random model; see the manifest's quantization)

Every contender writes exactly `--tokens` new tokens (</s> is suppressed until then). The model has
transformers' own T5 initialisation made image-dependent (training.model.image_dependent_init); the
speed of a graph does not depend on its weight values. Exported graphs are cached under
build/bench-generation/ and reused by later runs.

Prints per contender and batch: median seconds per report batch, ratio against torch eager, the
encoder's share, decode time per token, and the decode memory floor: weight bytes a decode step must
read (the embedding table counts one row per sequence) divided by the memory bandwidth measured here
by copying 1 GiB (bytes copied per second, the memcpy convention). Ends with the line
`speedup_vs_torch_eager=<x>` for runtime-int8 at batch 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnx
import torch

from export.build import build_model, placeholder_tokenizer
from export.bundle import TOKENIZER_FILE, Int8Guard, export_graphs, write_manifest
from runtime.bundle import ModelBundle
from runtime.generator import ReportGenerator
from runtime.session import SessionSettings, available_providers
from training.model import ReportModel

CACHE = Path(__file__).resolve().parents[1] / "build" / "bench-generation"
PROMPT = (5, 6, 7, 1)  # a fixed four-token indication ending in </s>


# ---- artefacts --------------------------------------------------------------------------------------


def bench_bundle(model: ReportModel, seed: int, out: Path) -> Path:
    """fp32, full INT8 and decoder-only INT8 of `model`, exported once per seed and reused."""
    directory = out / f"bundle-seed{seed}"
    if (directory / "manifest.json").is_file():
        return directory
    tmp = directory.with_suffix(".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    placeholder_tokenizer(tmp / TOKENIZER_FILE, model.t5.config.vocab_size)
    variants, _ = export_graphs(model, tmp, int8=True, guard=Int8Guard(enabled=False))
    variants["int8dec"] = {"encoder": variants["fp32"]["encoder"], "decoder": variants["int8"]["decoder"]}
    write_manifest(
        model,
        tmp,
        name=f"bench-seed{seed}",
        variants=variants,
        max_new_tokens=512,
        quantization={"guard": "disabled: a speed benchmark; see export.build for the guarded bundle"},
    )
    tmp.rename(directory)
    return directory


def optimum_model(model: ReportModel, seed: int, out: Path, threads: int):
    import onnxruntime as ort
    from optimum.onnxruntime import ORTModelForSeq2SeqLM

    directory = out / f"optimum-seed{seed}"
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    if not (directory / "config.json").is_file():
        hf = out / f"t5-seed{seed}"
        model.t5.save_pretrained(hf)
        exported = ORTModelForSeq2SeqLM.from_pretrained(hf, export=True)
        exported.save_pretrained(directory)
        del exported
        shutil.rmtree(hf)
    return ORTModelForSeq2SeqLM.from_pretrained(directory, session_options=options, use_cache=True)


# ---- memory floor ------------------------------------------------------------------------------------


def copy_bandwidth(threads: int, nbytes: int = 1 << 30) -> float:
    """Bytes copied per second for a 1 GiB copy, best of 3, using up to `threads` threads."""
    src = np.ones(nbytes // 8)
    dst = np.empty_like(src)
    parts = np.array_split(np.arange(src.size), max(threads, 1))
    bounds = [(int(p[0]), int(p[-1]) + 1) for p in parts]
    best = 0.0
    with ThreadPoolExecutor(max(threads, 1)) as pool:
        for _ in range(3):
            start = time.perf_counter()
            list(pool.map(lambda b: np.copyto(dst[b[0] : b[1]], src[b[0] : b[1]]), bounds))
            best = max(best, nbytes / (time.perf_counter() - start))
    return best


def decode_weight_bytes(path: Path, batch: int) -> int:
    """Bytes of initializers one decoder step reads; a table only gathered from counts one row per sequence."""
    model = onnx.load(str(path), load_external_data=True)
    sizes = {i.name: onnx.numpy_helper.to_array(i).nbytes for i in model.graph.initializer}
    shapes = {i.name: tuple(i.dims) for i in model.graph.initializer}
    gathered_only = {}
    for name in sizes:
        users = [n for n in model.graph.node if name in n.input]
        if users and all(n.op_type == "Gather" and n.input[0] == name for n in users):
            gathered_only[name] = sizes[name] // shapes[name][0] * batch
    return sum(gathered_only.get(name, size) for name, size in sizes.items())


# ---- contenders --------------------------------------------------------------------------------------


class Contender:
    def __init__(self, name: str, run: Callable[[int], float]) -> None:
        self.name = name
        self.run = run  # run(batch) -> encoder seconds; the caller times the whole call


def contenders(
    model: ReportModel,
    bundle: ModelBundle,
    optimum,
    threads: int,
    providers: list[str] | None,
    inputs: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]],
    tokens: int,
    include: set[str],
) -> list[Contender]:
    from transformers.modeling_outputs import BaseModelOutput

    settings = SessionSettings(
        intra_op_threads=threads, allow_spinning=True, providers=tuple(providers) if providers else ()
    )
    out: list[Contender] = []

    if "torch-eager" in include:

        def run_torch(batch: int) -> float:
            px, ids, mask = (torch.from_numpy(a) for a in inputs[batch])
            with torch.inference_mode():
                t0 = time.perf_counter()
                hidden, enc_mask = model.encode(px, ids, mask)
                t_enc = time.perf_counter() - t0
                # transformers annotates last_hidden_state as FloatTensor; any float Tensor is what it takes.
                model.t5.generate(
                    encoder_outputs=BaseModelOutput(last_hidden_state=hidden),  # type: ignore[arg-type]
                    attention_mask=enc_mask,
                    max_new_tokens=tokens,
                    min_new_tokens=tokens,
                    do_sample=False,
                    num_beams=1,
                    use_cache=True,
                )
            return t_enc

        out.append(Contender("torch-eager", run_torch))

    generators = {
        p: ReportGenerator(bundle, precision=p, settings=settings)
        for p in ("fp32", "int8", "int8dec")
        if f"runtime-{p}" in include
    }
    if optimum is not None and "fp32" not in generators:
        generators["fp32"] = ReportGenerator(bundle, precision="fp32", settings=settings)

    if optimum is not None:
        encoder = generators["fp32"].encoder

        def run_optimum(batch: int) -> float:
            px, ids, mask = inputs[batch]
            t0 = time.perf_counter()
            hidden, enc_mask = encoder.run(
                ["encoder_hidden_states", "encoder_attention_mask"],
                {"pixel_values": px, "prompt_ids": ids, "prompt_mask": mask},
            )
            t_enc = time.perf_counter() - t0
            with torch.inference_mode():
                optimum.generate(
                    encoder_outputs=BaseModelOutput(last_hidden_state=torch.from_numpy(hidden)),  # type: ignore[arg-type]  # as above
                    attention_mask=torch.from_numpy(enc_mask),
                    max_new_tokens=tokens,
                    min_new_tokens=tokens,
                    do_sample=False,
                    num_beams=1,
                    use_cache=True,
                )
            return t_enc

        out.append(Contender("optimum-fp32", run_optimum))

    for precision, generator in generators.items():
        if f"runtime-{precision}" not in include:
            continue

        def run_runtime(batch: int, g: ReportGenerator = generator) -> float:
            px, ids, mask = inputs[batch]
            t0 = time.perf_counter()
            g.encoder.run(["encoder_attention_mask"], {"pixel_values": px, "prompt_ids": ids, "prompt_mask": mask})
            t_enc = time.perf_counter() - t0  # a separate encoder run: its time, not its output, is used
            rows = g.generate_ids(px, ids, mask, max_new_tokens=tokens, min_new_tokens=tokens)
            assert all(len(r) == tokens for r in rows)
            return t_enc

        out.append(Contender(f"runtime-{precision}", run_runtime))
    return out


# ---- main ------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batches", default="1,8", help="comma-separated batch sizes")
    p.add_argument("--tokens", type=int, default=64)
    p.add_argument("--rounds", type=int, default=3, help="timed rounds after one warm-up round")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--providers", default="", help="runtime providers, e.g. CUDAExecutionProvider (default: auto)")
    p.add_argument("--only", default="torch-eager,optimum-fp32,runtime-fp32,runtime-int8,runtime-int8dec")
    p.add_argument("--cache", type=Path, default=CACHE)
    p.add_argument("--json", type=Path, help="also write the results here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    torch.set_num_threads(args.threads)
    batches = [int(b) for b in args.batches.split(",")]
    include = set(args.only.split(","))
    args.cache.mkdir(parents=True, exist_ok=True)

    model = build_model(seed=args.seed).eval()
    bundle_dir = bench_bundle(model, args.seed, args.cache)
    bundle = ModelBundle.open(bundle_dir)
    optimum = optimum_model(model, args.seed, args.cache, args.threads) if "optimum-fp32" in include else None
    prepared = time.perf_counter() - started

    rng = np.random.default_rng(args.seed)
    size = model.cfg.vision.image_size
    inputs = {}
    for b in batches:
        ids = np.tile(np.asarray(PROMPT, dtype=np.int64), (b, 1))
        inputs[b] = (rng.standard_normal((b, 3, size, size)).astype(np.float32), ids, np.ones_like(ids))
    providers = [p for p in args.providers.split(",") if p]
    runners = contenders(model, bundle, optimum, args.threads, providers or None, inputs, args.tokens, include)

    times: dict[tuple[str, int], list[float]] = {}
    encoders: dict[tuple[str, int], list[float]] = {}
    for b in batches:
        for round_ in range(args.rounds + 1):
            order = runners[round_ % len(runners) :] + runners[: round_ % len(runners)]
            for c in order:
                t0 = time.perf_counter()
                t_enc = c.run(b)
                total = time.perf_counter() - t0
                if c.name.startswith("runtime-"):
                    total -= t_enc  # the extra encoder run that measured t_enc is not part of the report
                if round_ > 0:  # round 0 warms caches and allocators
                    times.setdefault((c.name, b), []).append(total)
                    encoders.setdefault((c.name, b), []).append(t_enc)

    bandwidth = copy_bandwidth(args.threads)
    floors = {}
    for precision in ("fp32", "int8"):
        path = bundle_dir / bundle.manifest.variants[precision]["decoder"]
        floors[precision] = {b: decode_weight_bytes(path, b) for b in batches}
    floor_of = {
        "torch-eager": "fp32",
        "optimum-fp32": "fp32",
        "runtime-fp32": "fp32",
        "runtime-int8": "int8",
        "runtime-int8dec": "int8",
    }

    import onnxruntime

    print(
        f"# generation benchmark: ViT-B/16 (224 px, 197 tokens) -> T5-base, {args.tokens} new tokens, "
        f"prompt {len(PROMPT)} tokens, {args.rounds} rounds, {args.threads} threads"
    )
    print(
        f"# torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, "
        f"runtime providers {','.join(providers or available_providers())}; "
        f"copy bandwidth {bandwidth / 1e9:.1f} GB/s; set-up {prepared:.0f} s"
    )
    header = (
        f"{'contender':<16} {'batch':>5} {'median s':>9} {'vs torch':>9} {'encoder s':>9} "
        f"{'ms/token':>9} {'floor ms':>9} {'x floor':>8} {'reports/s':>9}"
    )
    print(header)
    print("-" * len(header))
    results = []
    for b in batches:
        base = statistics.median(times[("torch-eager", b)]) if ("torch-eager", b) in times else None
        for c in runners:
            key = (c.name, b)
            med = statistics.median(times[key])
            enc = statistics.median(encoders[key])
            per_token = (med - enc) / args.tokens
            floor = floors[floor_of[c.name]][b] / bandwidth
            row = {
                "contender": c.name,
                "batch": b,
                "median_s": med,
                "encoder_s": enc,
                "decode_ms_per_token": per_token * 1e3,
                "floor_ms_per_token": floor * 1e3,
                "x_floor": per_token / floor,
                "reports_per_s": b / med,
                "speedup_vs_torch_eager": (base / med) if base else None,
                "samples": times[key],
            }
            results.append(row)
            ratio = f"{base / med:8.2f}x" if base else f"{'-':>9}"
            print(
                f"{c.name:<16} {b:>5} {med:>9.3f} {ratio} {enc:>9.3f} {per_token * 1e3:>9.2f} "
                f"{floor * 1e3:>9.2f} {per_token / floor:>7.2f}x {b / med:>9.2f}"
            )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "date": time.strftime("%Y-%m-%d"),
                    "threads": args.threads,
                    "tokens": args.tokens,
                    "copy_bandwidth_bytes_per_s": bandwidth,
                    "results": results,
                },
                indent=2,
            )
            + "\n"
        )
    if head_row := next((r for r in results if r["contender"] == "runtime-int8" and r["batch"] == batches[0]), None):
        # A copy moves every byte twice (read + write); counted that way (STREAM's convention) the
        # bandwidth doubles and every floor halves.
        print(
            f"# floor counting the copy's reads and writes ({2 * bandwidth / 1e9:.1f} GB/s): runtime-int8 "
            f"batch {batches[0]} decode is {2 * head_row['x_floor']:.2f}x its floor"
        )
    print(f"# total {time.perf_counter() - started:.0f} s")
    head = next((r for r in results if r["contender"] == "runtime-int8" and r["batch"] == 1), None)
    if head is not None and head["speedup_vs_torch_eager"] is not None:
        print(f"speedup_vs_torch_eager={head['speedup_vs_torch_eager']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
