"""The `securemed` command. Typed errors become exit codes here and nowhere else.

Every typed error of the project carries its exit code (`common.errors.SecureMedError.exit_code`,
an `ExitCode`): sysexits(3), 0 ok, 64 usage, 65 bad input data (or a rejected report envelope),
66 missing input, 69 service unavailable / not authorised, 70 internal error, 78 configuration
error (also a bundle that fails verification), so that systemd's RestartPreventExitStatus=78 stops a
restart loop on a broken deployment. `run` prints one line per problem and returns the code.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from common.errors import ConfigError, ExitCode, SecureMedError

log = logging.getLogger("securemed")

Command = Callable[[argparse.Namespace], int]


def cmd_generate(args: argparse.Namespace) -> int:
    from runtime.bundle import ModelBundle
    from runtime.generator import ReportGenerator
    from runtime.preprocess import preprocess
    from runtime.session import SessionSettings

    missing = next((path for path in args.files if not path.exists()), None)
    if missing is not None:  # 66, not "unreadable" (65)
        raise FileNotFoundError(2, "not found", str(missing))
    bundle = ModelBundle.open(args.bundle)
    generator = ReportGenerator(
        bundle, precision=args.precision, settings=SessionSettings(intra_op_threads=args.threads)
    )
    images = [preprocess(path, bundle.manifest.preprocessing) for path in args.files]
    reports = generator.generate(images, [args.indication] * len(images) if args.indication else None)
    for path, report in zip(args.files, reports):
        if args.json:
            print(
                json.dumps(
                    {
                        "file": str(path),
                        "bundle_id": bundle.bundle_id,
                        "findings": report.findings,
                        "impression": report.impression,
                    }
                )
            )
        else:
            if len(args.files) > 1:
                print(f"== {path}")
            print(report.text)
    return ExitCode.OK


def cmd_export(args: argparse.Namespace) -> int:
    try:
        from export.build import main as export_main
    except ImportError as exc:
        print(f"securemed export needs the export extra (pip install 'securemed-edge[export]'): {exc}", file=sys.stderr)
        return ExitCode.UNAVAILABLE
    return export_main(list(args.export_args))


def cmd_build_engines(args: argparse.Namespace) -> int:
    """Install-time step on the target: build (or confirm) the TensorRT engines of a bundle."""
    from runtime.bundle import ModelBundle
    from runtime.engines import build_engines
    from runtime.session import SessionSettings

    if args.config is not None:
        from appliance.config import load_config

        cfg = load_config(args.config)
        bundle = ModelBundle.open(cfg.model.bundle)
        precision = cfg.model.precision
        settings = cfg.model.session_settings(max_new_tokens=bundle.manifest.max_new_tokens)
    else:
        if args.bundle is None or args.cache is None:
            print("securemed build-engines: give --config, or --bundle and --cache", file=sys.stderr)
            return ExitCode.USAGE
        bundle = ModelBundle.open(args.bundle)
        precision = args.precision
        settings = SessionSettings(
            engine_cache_dir=args.cache,
            max_batch=args.max_batch,
            max_new_tokens=bundle.manifest.max_new_tokens,
            device_id=args.device_id,
        )
    # TensorRTUnavailable exits 69; EngineBuildError (an INT8 variant, no cache directory, TensorRT not
    # taking the graphs) exits 78: both carry their code.
    report = build_engines(bundle, settings, precision)
    print(
        f"bundle {bundle.bundle_id} ({precision}): {len(report.engines_built)} engine file(s) built, "
        f"{'reused' if report.reused else 'new'}, {report.seconds:.1f} s"
    )
    return ExitCode.OK


def cmd_phantoms(args: argparse.Namespace) -> int:
    from training.phantoms import write_phantom_set

    write_phantom_set(args.out, args.count, seed=args.seed)
    print(f"wrote {args.count} phantoms and manifest.jsonl to {args.out}")
    return ExitCode.OK


def cmd_init(args: argparse.Namespace) -> int:
    from appliance.devsetup import DEFAULT_BUNDLE, init_dev

    if not args.dev:
        print("securemed init: only --dev is supported; production installs follow docs/install.md", file=sys.stderr)
        return ExitCode.USAGE
    path = init_dev(
        args.directory,
        dicom_port=args.dicom_port,
        grpc_port=args.grpc_port,
        bundle=args.bundle or DEFAULT_BUNDLE,
        force=args.force,
    )
    print(f"wrote {path}, dev PKI, keys and client configs for dr-a and dr-b in {args.directory}")
    return ExitCode.OK


def cmd_check_config(args: argparse.Namespace) -> int:
    from appliance.config import load_config

    config = load_config(args.config)
    from runtime.bundle import ModelBundle

    bundle = ModelBundle.open(config.model.bundle)
    if config.ids.injection_model is not None:  # its hash is checked as the service would (IdsModelError: 65)
        from ids.injection import InjectionClassifier

        InjectionClassifier.load(config.ids.injection_model)
    print(f"{args.config}: OK (bundle {bundle.bundle_id}, {len(config.clinicians)} clinicians)")
    return ExitCode.OK


def cmd_serve(args: argparse.Namespace) -> int:
    import signal

    from appliance.config import load_config
    from appliance.service import Appliance

    config = load_config(args.config)
    logging.getLogger().setLevel(config.log_level)
    appliance = Appliance(config)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: appliance.request_stop())
    try:
        appliance.start()
        appliance.wait()
    finally:
        appliance.stop()
    return ExitCode.OK


def cmd_doctor(args: argparse.Namespace) -> int:
    """Read-only consistency check of the state directory: 0 consistent (warnings allowed), 65 not."""
    from appliance.config import load_config
    from appliance.doctor import check

    report = check(load_config(args.config, check_files=False))
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.summary())
    return report.exit_code


def _client(args: argparse.Namespace):
    from appliance.client_config import load_client_config
    from appliance.delivery.client import ReportClient
    from appliance.envelope import load_ecies_private_key, load_verify_key

    cfg, _ = load_client_config(args.config)
    trusted = {kid: load_verify_key(path) for kid, path in cfg.trusted_key_files().items()}
    return ReportClient(
        args.target or cfg.target,
        cfg.ca_file,
        cfg.cert_file,
        cfg.key_file,
        load_ecies_private_key(cfg.ecies_private_key_file),
        trusted,
        cfg.clinician_id,
        server_name=cfg.server_name,
        timeout=cfg.timeout_s,
    )


def _print_report(payload, as_json: bool) -> None:
    from dataclasses import asdict

    from appliance.delivery.client import render

    if as_json:
        print(json.dumps(asdict(payload)), flush=True)
        return
    print("\n".join(render(payload)), flush=True)


def cmd_client(args: argparse.Namespace) -> int:
    with _client(args) as client:
        if args.action == "list":
            summaries = client.list(include_acked=args.all, decrypt=True)
            if args.json:
                from dataclasses import asdict

                print(json.dumps([asdict(s) for s in summaries]))
            else:
                for s in summaries:
                    status = f"  {s.status}" if s.status else ""
                    acked = "acked" if s.acked else "new"
                    print(f"{s.report_id}  {s.created_at}  study {s.study_pseudonym}  {acked}{status}")
        elif args.action == "get":
            _print_report(client.get(args.report_id), args.json)
        elif args.action == "ack":
            print(f"{args.report_id} acknowledged at {client.ack(args.report_id)}")
        elif args.action == "watch":
            stream = client.watch()
            seen = 0
            try:
                for payload in stream:
                    _print_report(payload, args.json)
                    seen += 1
                    if args.count and seen >= args.count:
                        break
            finally:
                stream.cancel()
    return ExitCode.OK


def cmd_demo(args: argparse.Namespace) -> int:
    from cli.demo import run_demo

    return run_demo(args.workdir, bundle=args.bundle)


def cmd_deid(args: argparse.Namespace) -> int:
    """`securemed deid`: options from the [deid] table of --config (or its top level), checked like
    the appliance config; re-identification records into an encrypted store with --store."""
    from common.config import read_toml
    from deid import DeidConfigError, DeidOptions, MappingStore
    from deid.keys import load_secret
    from deid.pixels.settings import PixelCleanSettings
    from deid.tool import DeidTool

    raw: dict[str, Any] = read_toml(args.config) if args.config else {}
    prefix = "deid." if "deid" in raw else ""
    table = dict(raw.get("deid", raw))
    secret_file = args.secret_file or table.pop("secret_file", None)
    table.pop("mapping_key_file", None)
    pixel_table = table.pop("pixels", {})
    # Options stand in [deid.options] as in the appliance config, or directly in the table.
    option_prefix, option_table = (prefix + "options.", table.pop("options")) if "options" in table else (prefix, table)
    problems = [f"{prefix}{unknown}: unknown key" for unknown in sorted(table) if option_table is not table]
    options, pixels = DeidOptions(), PixelCleanSettings()
    try:
        options = DeidOptions.from_mapping(option_table)
    except DeidConfigError as exc:
        problems += [option_prefix + problem for problem in exc.problems]
    try:
        pixels = PixelCleanSettings.from_mapping(pixel_table)
    except DeidConfigError as exc:
        problems += [f"{prefix}pixels.{problem}" for problem in exc.problems]
    if not secret_file:
        problems.append("secret_file: a site secret is required (--secret-file or [deid].secret_file)")
    if problems:
        raise ConfigError(problems, args.config)
    if (args.store is None) != (args.store_key is None):
        raise ConfigError(["--store and --store-key go together"])
    base = args.config.resolve().parent if args.config and not args.secret_file else Path.cwd()
    mapping = MappingStore.open(args.store, args.store_key) if args.store else None
    try:
        tool = DeidTool(options, load_secret(base / secret_file), pixels=pixels, mapping=mapping)
        if not args.input.exists():
            raise FileNotFoundError(2, "not found", str(args.input))
        summary = tool.run(args.input, args.output, rename=args.rename)
    finally:
        if mapping is not None:
            mapping.close()
    print(json.dumps(summary.to_dict(), indent=2))
    return ExitCode.OK if not summary.refused else ExitCode.DATAERR


def cmd_deid_text(args: argparse.Namespace) -> int:
    from deid.text.redactor import TextRedactor, redact_jsonl

    redactor = TextRedactor()
    for line in redact_jsonl(sys.stdin, redactor):
        print(line, flush=True)
    return ExitCode.OK


def _verdict(raw: bytes, detector: Any, validator: Any, context: Any) -> dict[str, Any]:
    """The verdict on one input line; an error verdict names what was wrong, never the line's text."""
    from ids.report import Draft

    try:
        item = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        item = None
    if not isinstance(item, dict):
        return {"verdict": "error", "reasons": ["bad-input: not a JSON object"]}
    kind, modality, body_part = item.get("kind"), item.get("modality", "CR"), item.get("body_part", "CHEST")
    if kind == "input" and isinstance(item.get("text"), str):
        screening = detector.screen(item["text"])
        return {"verdict": screening.verdict, "reasons": list(screening.reasons)}
    if kind == "report" and all(isinstance(x, str) for x in (item.get("report"), modality, body_part)):
        violations = validator.check(Draft.from_text(item["report"], modality, body_part), context)
        codes = list(dict.fromkeys(v.code for v in violations))
        return {"verdict": "withhold" if codes else "pass", "reasons": codes}
    return {"verdict": "error", "reasons": ["bad-input: expected kind input with text, or report with report"]}


def cmd_validate(args: argparse.Namespace) -> int:
    """`securemed validate`: one JSON verdict line per JSON line of stdin, in order, flushed per line."""
    from ids.injection import InjectionClassifier, InjectionDetector
    from ids.report import ReportValidator, ValidationContext
    from runtime.bundle import ModelBundle

    calibration = ModelBundle.open(args.bundle).manifest.validation if args.bundle else None
    classifier = InjectionClassifier.load(args.injection_model) if args.injection_model else None
    detector, validator = InjectionDetector(classifier=classifier), ReportValidator()
    context = ValidationContext(calibration=calibration)
    try:
        for raw in sys.stdin.buffer:
            try:
                out = _verdict(raw, detector, validator, context)
            except Exception as exc:  # one bad line must not end a filter; the type only (no text)
                out = {"verdict": "error", "reasons": [f"bad-input: {type(exc).__name__}"]}
            print(json.dumps(out), flush=True)
    except OSError as exc:
        print(f"securemed validate: stdin cannot be read: {type(exc).__name__}", file=sys.stderr)
        return ExitCode.NOINPUT
    return ExitCode.OK


class UsageParser(argparse.ArgumentParser):
    """argparse, with usage errors answered by exit 64 (EX_USAGE) instead of argparse's 2."""

    def error(self, message: str) -> Any:  # argparse's signature is NoReturn
        self.print_usage(sys.stderr)
        self.exit(ExitCode.USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = UsageParser(prog="securemed", description="SecureMed Edge appliance")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("generate", help="print a draft report for DICOM chest X-ray files")
    p.add_argument("--bundle", type=Path, required=True, help="model bundle directory")
    p.add_argument("--precision", default="fp32", help="bundle variant: fp32 or int8")
    p.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0 = all cores)")
    p.add_argument("--indication", help="clinical indication prompt")
    p.add_argument("--json", action="store_true", help="one JSON object per file")
    p.add_argument("files", type=Path, nargs="+")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser(
        "export",
        add_help=False,
        help="build a model bundle from local weights (needs the export extra; --help for options)",
    )
    p.add_argument("export_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("build-engines", help="build the TensorRT engines of a bundle on this device (install step)")
    p.add_argument("--config", type=Path, help="appliance config: bundle, precision and engine cache from [model]")
    p.add_argument("--bundle", type=Path, help="model bundle directory (without --config)")
    p.add_argument("--cache", type=Path, help="engine cache directory (without --config)")
    p.add_argument("--precision", default="fp32", help="bundle variant: fp32 or fp16")
    p.add_argument("--max-batch", type=int, default=8, help="largest batch the engines must take")
    p.add_argument("--device-id", type=int, default=0)
    p.set_defaults(func=cmd_build_engines)

    p = sub.add_parser("init", help="create a development installation (config, PKI, keys)")
    p.add_argument("--dev", metavar="DIR", dest="directory", type=Path, help="directory to write")
    p.add_argument("--dicom-port", type=int, default=11112)
    p.add_argument("--grpc-port", type=int, default=50051)
    p.add_argument("--bundle", type=Path, help="model bundle (default: the repository's demo bundle)")
    p.add_argument("--force", action="store_true", help="overwrite an existing dev installation")
    p.set_defaults(func=cmd_init, dev=True)

    p = sub.add_parser("check-config", help="validate a config; exits 78 naming the bad key")
    p.add_argument("--config", type=Path, required=True)
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser("serve", help="run the appliance in the foreground (SIGTERM stops it gracefully)")
    p.add_argument("--config", type=Path, required=True)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("doctor", help="check that spool, job queue and envelope store agree (read-only); 65 if not")
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--json", action="store_true", help="every check as JSON")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("client", help="clinician client: list, get, watch and acknowledge reports")
    p.add_argument("--config", type=Path, required=True, help="client config (e.g. dr-a.toml)")
    p.add_argument("--target", help="override the config's host:port")
    csub = p.add_subparsers(dest="action", required=True)
    c = csub.add_parser("list", help="reports addressed to you")
    c.add_argument("--json", action="store_true")
    c.add_argument("--all", action="store_true", help="include acknowledged reports")
    c = csub.add_parser("get", help="fetch, verify and decrypt one report")
    c.add_argument("report_id")
    c.add_argument("--json", action="store_true")
    c = csub.add_parser("watch", help="print reports as they arrive")
    c.add_argument("--count", type=int, default=0, help="stop after this many reports")
    c.add_argument("--json", action="store_true")
    c = csub.add_parser("ack", help="acknowledge a report")
    c.add_argument("report_id")
    p.set_defaults(func=cmd_client)

    p = sub.add_parser("demo", help="end to end: dev install, serve, storescu a phantom, receive the report")
    p.add_argument("--workdir", type=Path, default=Path("work/demo"))
    p.add_argument("--bundle", type=Path)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("deid", help="de-identify DICOM files (PS3.15 Annex E, pixels, free text)")
    p.add_argument("input", type=Path, help="a DICOM file or a directory tree")
    p.add_argument("output", type=Path, help="output directory (same relative layout)")
    p.add_argument("--config", type=Path, help="TOML with a [deid] table (options, secret_file)")
    p.add_argument("--secret-file", type=Path, help="site secret keying UIDs, pseudonyms and date shifts")
    p.add_argument("--rename", action="store_true", help="name outputs by their new SOP Instance UID")
    p.add_argument("--store", type=Path, help="encrypted re-identification store (SQLite) to add the records to")
    p.add_argument("--store-key", type=Path, help="key file of --store (32 bytes, mode 600)")
    p.set_defaults(func=cmd_deid)

    p = sub.add_parser("validate", help="IDS verdicts on JSON lines from stdin (indications and draft reports)")
    p.add_argument("--bundle", type=Path, help="model bundle whose calibration the report checks use")
    p.add_argument("--injection-model", type=Path, help="injection classifier directory (default: rules only)")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("deid-text", help='redact PHI in JSON lines {"text": ...} from stdin')
    p.set_defaults(func=cmd_deid_text)

    p = sub.add_parser("phantoms", help="write synthetic chest X-ray phantoms (DICOM) with their reports")
    p.add_argument("out", type=Path)
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--seed", type=int, default=1)
    p.set_defaults(func=cmd_phantoms)
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    """Parse `argv`, run the command, and turn what it raises into its exit code."""
    from appliance import delivery  # noqa: F401  (sets gRPC's TLS policy before grpc is imported)

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["export"]:  # its own parser (export.build) owns every option, --help included
        return cmd_export(argparse.Namespace(export_args=argv[1:]))
    parser = build_parser()
    args = parser.parse_args(argv)  # a usage error exits 64 (UsageParser)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args))
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"securemed: {exc.source or 'config'}: {problem}", file=sys.stderr)
        return exc.exit_code
    except SecureMedError as exc:
        print(f"securemed: {_LABELS.get(exc.exit_code, 'error')}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return exc.exit_code
    except FileNotFoundError as exc:
        print(f"securemed: {exc.filename}: not found", file=sys.stderr)
        return ExitCode.NOINPUT
    except Exception as exc:
        log.debug("traceback", exc_info=True)
        print(f"securemed: internal error: {type(exc).__name__} (run with -v for the traceback)", file=sys.stderr)
        return ExitCode.SOFTWARE


_LABELS = {
    ExitCode.DATAERR: "input refused",
    ExitCode.NOINPUT: "not found",
    ExitCode.UNAVAILABLE: "unavailable",
    ExitCode.CONFIG: "configuration error",
    ExitCode.SOFTWARE: "internal error",
}


def main() -> None:
    sys.exit(run())
