"""Build a deployable bundle of the full-size model (BiomedCLIP ViT-B/16 -> projection -> T5-base).

    python -m export.build --out models/cxr-full \\
        [--biomedclip DIR] [--t5 DIR] [--checkpoint DIR] [--int8/--no-int8] [--fp16]
    securemed export ...            (the same, from the appliance's command line)

Weights, in order of precedence: `--checkpoint DIR` (a trained ReportModel: model_config.json +
model.pt, as training.model.ReportModel.save writes), else BiomedCLIP's image tower from a local
open_clip directory (`--biomedclip`) and T5 from a local Hugging Face directory (`--t5`, whose
tokenizer.json the bundle then uses). Whatever is not given stays random: transformers' own
initialisation made image-dependent (training.model.image_dependent_init), which is what benchmarks
and the export tests use. Nothing is fetched from a hub.

The bundle's graphs are validated against PyTorch with the specs' tolerances before it is written;
INT8 goes through the quality guard (export.quality). TensorRT engines are not built here: they are
device-specific, so `securemed build-engines` builds them on the target (runtime.engines).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import torch

from export.bundle import Int8Guard, write_bundle
from export.onnx_export import validate_export
from training.model import (
    ReportModel,
    ReportModelConfig,
    full_config,
    image_dependent_init,
    load_biomedclip_vision,
    load_t5_weights,
)

log = logging.getLogger("securemed.export")

T5_VOCAB = 32128


def placeholder_tokenizer(path: Path, vocab_size: int = T5_VOCAB) -> Path:
    """A tokenizer covering every id of a random model: the project's BPE padded with <unused_N>.

    Only for bundles without real T5 weights, whose token ids mean nothing anyway.
    """
    import numpy as np
    from tokenizers import AddedToken

    from training.findings import sample_findings
    from training.reports import write_report
    from training.tokenizer import save_tokenizer, train_tokenizer

    rng = np.random.default_rng(0)
    reports = [write_report(sample_findings(rng), rng) for _ in range(400)]
    tok = train_tokenizer([r.text for r in reports], vocab_size=1000)
    missing = vocab_size - tok.get_vocab_size()
    tok.add_tokens([AddedToken(f"<unused_{i}>", special=True) for i in range(missing)])
    return save_tokenizer(tok, path)


def build_model(
    *, checkpoint: Path | None = None, biomedclip: Path | None = None, t5: Path | None = None, seed: int = 0
) -> ReportModel:
    if checkpoint is not None:
        return ReportModel.load(checkpoint)
    torch.manual_seed(seed)
    vocab = T5_VOCAB
    if t5 is not None:
        from transformers import T5Config

        vocab = T5Config.from_pretrained(t5, local_files_only=True).vocab_size
    cfg: ReportModelConfig = full_config(vocab)
    model = ReportModel(cfg).eval()
    if t5 is None:
        image_dependent_init(model)
    else:
        load_t5_weights(model, t5)
    if biomedclip is not None:
        load_biomedclip_vision(model, biomedclip)
    return model


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="securemed export", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="bundle directory (replaced if it exists)")
    p.add_argument("--name", default="cxr-full")
    p.add_argument("--checkpoint", type=Path, help="trained ReportModel directory (model_config.json, model.pt)")
    p.add_argument("--biomedclip", type=Path, help="local open_clip BiomedCLIP directory (open_clip_pytorch_model.bin)")
    p.add_argument("--t5", type=Path, help="local Hugging Face T5 directory (config.json, weights, tokenizer.json)")
    p.add_argument("--tokenizer", type=Path, help="tokenizer.json (default: the T5 directory's, else a placeholder)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    p.add_argument("--int8", action=argparse.BooleanOptionalAction, default=True, help="INT8 variant (guarded)")
    p.add_argument(
        "--int8-guard",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="judge INT8 against fp32 before shipping it",
    )
    p.add_argument("--fp16", action="store_true", help="fp16 variant for GPUs")
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--threads", type=int, default=0)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    for key in ("checkpoint", "biomedclip", "t5", "tokenizer"):
        path = getattr(args, key)
        if path is not None and not path.exists():
            print(f"securemed export: --{key} {path}: no such file or directory", file=sys.stderr)
            return 66
    started = time.perf_counter()
    model = build_model(checkpoint=args.checkpoint, biomedclip=args.biomedclip, t5=args.t5, seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = args.tokenizer
        if tokenizer is None and args.t5 is not None and (args.t5 / "tokenizer.json").is_file():
            tokenizer = args.t5 / "tokenizer.json"
        if tokenizer is None:
            tokenizer = placeholder_tokenizer(Path(tmp) / "tokenizer.json", model.t5.config.vocab_size)
        manifest = write_bundle(
            model,
            tokenizer,
            args.out,
            name=args.name,
            int8=args.int8,
            fp16=args.fp16,
            guard=Int8Guard(enabled=args.int8_guard),
            max_new_tokens=args.max_new_tokens,
            threads=args.threads,
        )
    checks = validate_export(model, args.out)
    worst = max(checks, key=lambda c: c.max_abs_error)
    print(
        f"bundle {manifest['bundle_id']} in {args.out}: variants {', '.join(manifest['variants'])}; "
        f"largest difference from PyTorch {worst.max_abs_error:.2e} ({worst.graph}.{worst.output}); "
        f"int8: {manifest['quantization'].get('int8')}; {time.perf_counter() - started:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
