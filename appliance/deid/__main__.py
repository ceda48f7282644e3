"""Stand-alone de-identification tool: `python -m appliance.deid`.

    python -m appliance.deid --secret-file site.secret [--config deid.toml] \\
        [--store mapping.sqlite --store-key mapping.key] -o OUTDIR FILE...

Writes each de-identified instance as OUTDIR/<new SOP Instance UID>.dcm (never a name derived
from the input, which may carry patient data) and prints one JSON line per input with the output
path, the pending work and the action counts: no patient data. The re-identification records go
only into the encrypted store, when one is given. An instance whose header engine result still
has pending pixel work is not written unless --allow-pending is given (the pixel stage must run
first). Options come from the [deid] table of the TOML file (or its top level), see
DeidOptions.from_mapping.

Exit codes (sysexits): 0 all written, 65 some input could not be de-identified safely, 66 an
input is missing or not DICOM, 78 configuration error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from pydicom import dcmread
from pydicom.errors import InvalidDicomError

from appliance.deid.errors import DeidConfigError, DeidError, MappingStoreError
from appliance.deid.header import Deidentifier
from appliance.deid.keys import load_secret
from appliance.deid.mapping import MappingStore
from appliance.deid.options import DeidOptions

EX_OK, EX_DATAERR, EX_NOINPUT, EX_CONFIG = 0, 65, 66, 78


def _options(path: Path | None) -> DeidOptions:
    if path is None:
        return DeidOptions()
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DeidConfigError("config", f"{path}: {exc}") from None
    return DeidOptions.from_mapping(raw.get("deid", raw))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m appliance.deid", description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="+", type=Path, help="DICOM Part 10 files to de-identify")
    p.add_argument("-o", "--out", type=Path, required=True, help="output directory")
    p.add_argument("--secret-file", type=Path, required=True, help="site secret (mode 600)")
    p.add_argument("--config", type=Path, help="TOML file with the options ([deid] table)")
    p.add_argument("--store", type=Path, help="encrypted re-identification store (SQLite)")
    p.add_argument("--store-key", type=Path, help="key file of --store (32 bytes, mode 600)")
    p.add_argument("--allow-pending", action="store_true", help="write instances with pending pixel work")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        engine = Deidentifier(_options(args.config), load_secret(args.secret_file))
        if (args.store is None) != (args.store_key is None):
            raise DeidConfigError("store_key", "--store and --store-key go together")
        store = MappingStore.open(args.store, args.store_key) if args.store else None
        args.out.mkdir(parents=True, exist_ok=True)
    except (DeidConfigError, MappingStoreError) as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return EX_CONFIG
    status = EX_OK
    try:
        for index, path in enumerate(args.files):
            try:
                ds = dcmread(path)
            except (OSError, InvalidDicomError) as exc:
                print(f"input #{index}: cannot be read as DICOM ({type(exc).__name__})", file=sys.stderr)
                status = max(status, EX_NOINPUT)
                continue
            try:
                result = engine.deidentify(ds)
            except DeidError as exc:
                print(f"input #{index}: {type(exc).__name__}: {exc}", file=sys.stderr)
                status = max(status, EX_DATAERR)
                continue
            summary = result.summary()
            line = {"input": index, "pending": summary["pending"], "action_counts": summary["action_counts"]}
            if result.pending and not args.allow_pending:
                print(json.dumps(line | {"written": None}))
                status = max(status, EX_DATAERR)
                continue
            target = args.out / f"{result.record.new_sop_instance_uid}.dcm"
            result.dataset.save_as(target, enforce_file_format=True)
            if store is not None:
                store.put(result.record)
            print(json.dumps(line | {"written": str(target)}))
    finally:
        if store is not None:
            store.close()
    return status


if __name__ == "__main__":
    raise SystemExit(main())
