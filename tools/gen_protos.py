#!/usr/bin/env python3
"""Generate the Python gRPC code for proto/securemed/v1/*.proto into appliance/delivery/pb/.

Usage (from anywhere, with the dev venv):

    python tools/gen_protos.py            # regenerate the committed code
    python tools/gen_protos.py --check    # exit 1 if the committed code is stale
    python tools/gen_protos.py --out DIR  # write somewhere else (tests)

protoc writes ``securemed/v1/<name>_pb2*.py`` and the gRPC module imports its
messages as ``from securemed.v1 import ...``. There is deliberately no
top-level ``securemed`` (or ``proto``) Python package: the files are flattened
into ``appliance/delivery/pb/`` and that import is rewritten to a relative one.
The descriptors keep their canonical names (``securemed/v1/reports.proto``).

`--check` ignores the protoc/grpcio-tools version stamps embedded in the
output, so it reports a stale .proto, not a newer compiler.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
PROTO_DIR = PROTO_ROOT / "securemed" / "v1"
DEFAULT_OUT = ROOT / "appliance" / "delivery" / "pb"
PACKAGE_DIR = "securemed/v1"

_VERSION_STAMPS = (
    re.compile(r"^# Protobuf Python Version: .*$", re.M),
    re.compile(r"_runtime_version\.ValidateProtobufRuntimeVersion\([^)]*\)", re.S),
    re.compile(r"^GRPC_GENERATED_VERSION = .*$", re.M),
)


def _protos() -> list[Path]:
    protos = sorted(PROTO_DIR.glob("*.proto"))
    if not protos:
        raise SystemExit(f"no .proto files under {PROTO_DIR}")
    return protos


def generate(out_dir: Path) -> list[Path]:
    """Run protoc for every proto and write the flattened Python files into `out_dir`."""
    import importlib.resources

    from grpc_tools import protoc

    well_known = str(importlib.resources.files("grpc_tools") / "_proto")
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"-I{well_known}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            f"--grpc_python_out={tmp}",
            *[str(p.relative_to(PROTO_ROOT)) for p in _protos()],
        ]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        for produced in sorted((Path(tmp) / PACKAGE_DIR).iterdir()):
            text = produced.read_text()
            # `from securemed.v1 import x_pb2 as ...` -> `from . import x_pb2 as ...`
            text = re.sub(r"^from securemed\.v1 import ", "from . import ", text, flags=re.M)
            if "securemed.v1 import" in text or re.search(r"^import securemed", text, re.M):
                raise SystemExit(f"unexpected absolute import left in {produced.name}")
            target = out_dir / produced.name
            target.write_text(text)
            written.append(target)
    return written


def _normalised(text: str) -> str:
    for pattern in _VERSION_STAMPS:
        text = pattern.sub("", text)
    return text


def stale_files(committed_dir: Path) -> list[str]:
    """Names of generated files that differ from (or are missing in) `committed_dir`."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
        stale = []
        for path in fresh:
            committed = committed_dir / path.name
            if not committed.exists() or _normalised(committed.read_text()) != _normalised(path.read_text()):
                stale.append(path.name)
        return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--check", action="store_true", help="fail if the code in --out is stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files(args.out)
        if stale:
            print(f"stale generated code in {args.out}: {', '.join(stale)}; run tools/gen_protos.py", file=sys.stderr)
            return 1
        return 0
    for path in generate(args.out):
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
