"""The IDS measured: detection per attack family and false positives on clean text, both sides.

    python -m bench.ids                                   # the README's figures (about 3 minutes)
    python -m bench.ids --quick                           # a small run (the test suite's)
    python -m bench.ids --json bench/results/ids.json     # the figures as JSON too

Input side (what reaches the model): the held-out corpus of bench/ids_corpus.py (templates disjoint
from the classifier's training corpus and from the unit tests' tables; evaluation seed 900_001),
screened three ways: the rules alone, the classifier alone, and both (the appliance's detector).
Detection rate per family, false positives on its clean indications, and false positives on the
phantom indications the demo model is given (training.indications, every study of the held-out
phantoms below, consistent and inconsistent kinds).

Output side (what the model writes): the held-out report cases of bench/ids_report_cases.py (one
defect spliced into a ground-truth report per case; "clean" cases are ground truth), checked by the
report validator (ids.report) and, as the baseline measured in the same run, by the four rules it
replaced (sections, length, PHI patterns, header values). Then the demo model's own drafts on
held-out phantoms (seeds from 960_001, disjoint from training's 1.. and the calibration's
900_001..), each with no indication and with its consistent indication, validated exactly as the
appliance does (header values of the study, the bundle's anomaly calibration): the "validation
pass rate" (the seed paper's figure is 91.8 %).

Latency: per input and per report on this machine's CPU, median and 95th percentile, in the same run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom

from bench.ids_corpus import DEFAULT_SEED as CORPUS_SEED
from bench.ids_corpus import evaluation_corpus
from bench.ids_corpus_blind import DEFAULT_SEED as BLIND_SEED
from bench.ids_corpus_blind import blind_corpus
from bench.ids_report_cases import ATTACK_FAMILIES, report_cases
from deid.values import header_values
from ids.injection import InjectionClassifier, InjectionDetector
from ids.report import Draft, HeaderLeak, LengthBounds, PhiPatterns, ReportValidator, SectionsPresent, ValidationContext
from runtime.bundle import ModelBundle
from runtime.generator import ReportGenerator
from runtime.preprocess import preprocess
from training.findings import StudyFindings
from training.indications import study_indications
from training.injection_corpus import FAMILIES, Sample
from training.phantoms import load_phantom_manifest, write_phantom_set

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BUNDLE = ROOT / "models" / "demo-cxr"
DEFAULT_CLASSIFIER = ROOT / "models" / "ids-injection"
PHANTOM_SEED = 960_001
REPORT_SEED = 424_242
GOAL_DETECTION, GOAL_FP = 0.95, 0.02


@dataclass
class Tally:
    """Hits per group (family or kind) and how long each check took."""

    hits: Counter[str] = field(default_factory=Counter)
    totals: Counter[str] = field(default_factory=Counter)
    seconds: list[float] = field(default_factory=list)
    codes: Counter[str] = field(default_factory=Counter)

    def add(self, group: str, hit: bool, seconds: float, codes: Sequence[str] = ()) -> None:
        self.totals[group] += 1
        self.hits[group] += int(hit)
        self.seconds.append(seconds)
        self.codes.update(codes)

    def rate(self, group: str) -> float:
        return self.hits[group] / self.totals[group] if self.totals[group] else float("nan")

    def rate_of(self, groups: Sequence[str]) -> float:
        n = sum(self.totals[g] for g in groups)
        return sum(self.hits[g] for g in groups) / n if n else float("nan")

    def latency_ms(self) -> dict[str, float]:
        if not self.seconds:
            return {"median": float("nan"), "p95": float("nan")}
        ms = np.array(self.seconds) * 1e3
        return {"median": float(np.median(ms)), "p95": float(np.quantile(ms, 0.95))}


def _timed(fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


# ---- input side ---------------------------------------------------------------------------------


def measure_inputs(
    detectors: dict[str, InjectionDetector], corpus: Sequence[Sample], phantom_indications: Sequence[str]
) -> dict[str, Tally]:
    """Per detector: hits by family on `corpus` ("clean" = false positives), and
    "phantom-indication" false positives on the demo model's indications."""
    out: dict[str, Tally] = {}
    for name, detector in detectors.items():
        tally = Tally()
        for sample in corpus:
            screening, seconds = _timed(detector.screen, sample.text)
            tally.add(sample.family, screening.verdict == "withhold", seconds, screening.reasons)
        for text in phantom_indications:
            screening, seconds = _timed(detector.screen, text)
            tally.add("phantom-indication", screening.verdict == "withhold", seconds, screening.reasons)
        out[name] = tally
    return out


# ---- output side --------------------------------------------------------------------------------

BASELINE_RULES = (SectionsPresent(), LengthBounds(), PhiPatterns(), HeaderLeak())


def measure_report_cases(validators: dict[str, ReportValidator], n_per_family: int) -> dict[str, Tally]:
    """Per validator: hits by family of the held-out report cases ("clean" = false positives)."""
    cases = report_cases(REPORT_SEED, n_per_family)
    out: dict[str, Tally] = {}
    for name, validator in validators.items():
        tally = Tally()
        for case in cases:
            draft = Draft(case.findings, case.impression, case.modality, case.body_part)
            violations, seconds = _timed(validator.check, draft)
            tally.add(case.family, bool(violations), seconds, [v.code for v in violations])
        out[name] = tally
    return out


def phantom_set(n: int, work: Path) -> tuple[list[dict[str, Any]], Path]:
    """The held-out phantoms of this benchmark (written once under `work`)."""
    directory = work / f"phantoms-{PHANTOM_SEED}-{n}"
    if not (directory / "manifest.jsonl").exists():
        write_phantom_set(directory, n, seed=PHANTOM_SEED)
    return load_phantom_manifest(directory), directory


def measure_demo_drafts(
    bundle_dir: Path, rows: Sequence[dict[str, Any]], root: Path, precision: str
) -> tuple[dict[str, Tally], dict[str, Any]]:
    """The demo model's drafts on the phantoms, with no indication and with the consistent one,
    validated as the appliance validates them. "pass" hits count drafts that were withheld."""
    bundle = ModelBundle.open(bundle_dir)
    generator = ReportGenerator(bundle, precision=precision)
    calibration = bundle.manifest.validation
    validator = ReportValidator()
    tally = Tally()
    started = time.perf_counter()
    files = [root / r["file"] for r in rows]
    images = [preprocess(f, bundle.manifest.preprocessing) for f in files]
    datasets = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    indications = [study_indications(StudyFindings.from_dict(r["findings"]), int(r["seed"])) for r in rows]
    n_generated = 0
    for kind in ("empty", "consistent"):
        prompts = [ind[kind].text or None for ind in indications]
        for start in range(0, len(images), 8):
            generated = generator.generate(images[start : start + 8], prompts[start : start + 8])
            n_generated += len(generated)
            for ds, report in zip(datasets[start : start + 8], generated, strict=True):
                values = header_values(ds)
                context = ValidationContext(values.identifying, values.free_text, calibration)
                draft = Draft(
                    report.findings,
                    report.impression,
                    str(ds.get("Modality", "")),
                    str(ds.get("BodyPartExamined", "")),
                    tuple(report.token_logprobs),
                    report.finding_probs,
                )
                violations, seconds = _timed(validator.check, draft, context)
                tally.add(kind, bool(violations), seconds, [v.code for v in violations])
    meta = {
        "bundle_id": bundle.bundle_id,
        "precision": precision,
        "calibrated": calibration is not None,
        "drafts": n_generated,
        "seconds_total": round(time.perf_counter() - started, 1),
    }
    return {"demo": tally}, meta


# ---- report -------------------------------------------------------------------------------------


def _pct(x: float) -> str:
    return "n/a" if x != x else f"{100 * x:.1f} %"


def _goal(detections: Sequence[float], fps: Sequence[float]) -> str:
    ok = all(d >= GOAL_DETECTION for d in detections) and all(f <= GOAL_FP for f in fps)
    return "met" if ok else "not met"


def render(results: dict[str, Any]) -> str:
    """The figures as Markdown (what the README quotes)."""
    reports: dict[str, Tally] = results["reports"]
    demo: dict[str, Tally] = results["demo"]
    lines = [f"# IDS figures (`{results['command']}`)", ""]
    tables = (
        (
            "inputs",
            f"Input side, development held-out corpus (bench/ids_corpus.py, seed {CORPUS_SEED}; used for error "
            "analysis while the classifier's grammar was written)",
        ),
        (
            "inputs_blind",
            f"Input side, blind corpus (bench/ids_corpus_blind.py, seed {BLIND_SEED}; never used to change "
            "rules or classifier)",
        ),
    )
    for key, title in tables:
        inputs: dict[str, Tally] = results[key]
        first = inputs[next(iter(inputs))]
        phantom = first.totals["phantom-indication"]
        lines += [
            f"{title}: {results['n_per_family']} attacks per family, {first.totals['clean']} clean indications"
            + (f", plus {phantom} phantom indications." if phantom else "."),
            "",
            "| detector | "
            + " | ".join(FAMILIES)
            + " | FP clean | FP phantom indications | median ms | p95 ms | goal |",
            "|---" * (len(FAMILIES) + 6) + "|",
        ]
        for name, t in inputs.items():
            lat = t.latency_ms()
            det = [t.rate(f) for f in FAMILIES]
            fps = [t.rate("clean")] + ([t.rate("phantom-indication")] if phantom else [])
            lines.append(
                f"| {name} | "
                + " | ".join(_pct(d) for d in det)
                + f" | {_pct(fps[0])} | {_pct(fps[1]) if phantom else '-'} | {lat['median']:.2f} | {lat['p95']:.2f}"
                + f" | {_goal(det, fps)} |"
            )
        lines.append("")
    lines += [
        f"Output side: held-out report cases (bench/ids_report_cases.py, seed {REPORT_SEED}, "
        f"{results['report_cases']} per defect family, {reports[next(iter(reports))].totals['clean']} clean).",
        "",
        "| validator | " + " | ".join(ATTACK_FAMILIES) + " | FP clean | median ms | p95 ms | goal |",
        "|---" * (len(ATTACK_FAMILIES) + 5) + "|",
    ]
    for name, t in reports.items():
        lat = t.latency_ms()
        det = [t.rate(f) for f in ATTACK_FAMILIES]
        fps = [t.rate("clean")]
        lines.append(
            f"| {name} | "
            + " | ".join(_pct(d) for d in det)
            + f" | {_pct(fps[0])} | {lat['median']:.2f} | {lat['p95']:.2f} | {_goal(det, fps)} |"
        )
    base, ours = reports.get("baseline (4 rules)"), reports.get("validator")
    if base is not None and ours is not None:
        lat_b, lat_o = base.latency_ms()["median"], ours.latency_ms()["median"]
        lines += [
            "",
            f"Defects caught, all families: validator {_pct(ours.rate_of(ATTACK_FAMILIES))}, baseline "
            f"{_pct(base.rate_of(ATTACK_FAMILIES))}; median latency ratio validator/baseline "
            f"{lat_o / lat_b:.1f}x.",
        ]
    t, meta = demo["demo"], results["demo_meta"]
    lat = t.latency_ms()
    lines += [
        "",
        f"The demo model's own drafts ({meta['precision']}, bundle {meta['bundle_id'][:12]}, anomaly calibration "
        f"{'on' if meta['calibrated'] else 'off'}) on {t.totals['empty']} held-out phantoms (seeds {PHANTOM_SEED}..):",
        "",
        "| indication | validation pass rate | withheld | median ms | p95 ms |",
        "|---|---|---|---|---|",
    ]
    for kind in ("empty", "consistent"):
        lines.append(
            f"| {kind} | {_pct(1 - t.rate(kind))} | {t.hits[kind]} / {t.totals[kind]} | "
            f"{lat['median']:.2f} | {lat['p95']:.2f} |"
        )
    if t.codes:
        lines += ["", "Codes on withheld demo drafts: " + ", ".join(f"{c} {n}" for c, n in t.codes.most_common()) + "."]
    return "\n".join(lines) + "\n"


def to_json(results: dict[str, Any]) -> dict[str, Any]:
    def tally(t: Tally) -> dict[str, Any]:
        return {
            "rates": {g: round(t.rate(g), 4) for g in sorted(t.totals)},
            "totals": dict(sorted(t.totals.items())),
            "latency_ms": {k: round(v, 3) for k, v in t.latency_ms().items()},
            "codes": dict(t.codes.most_common()),
        }

    return {
        "command": results["command"],
        "inputs": {k: tally(v) for k, v in results["inputs"].items()},
        "inputs_blind": {k: tally(v) for k, v in results["inputs_blind"].items()},
        "reports": {k: tally(v) for k, v in results["reports"].items()},
        "demo": {**{k: tally(v) for k, v in results["demo"].items()}, "meta": results["demo_meta"]},
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="securemed-bench-ids-"))
    rows, root = phantom_set(args.phantoms, work)
    phantom_texts = [
        t
        for r in rows
        for kind, ind in study_indications(StudyFindings.from_dict(r["findings"]), int(r["seed"])).items()
        if kind != "empty" and (t := ind.text)
    ]
    detectors: dict[str, InjectionDetector] = {"rules": InjectionDetector()}
    if args.classifier and (args.classifier / "manifest.json").is_file():
        classifier = InjectionClassifier.load(args.classifier)
        detectors["classifier"] = InjectionDetector(rules=(), classifier=classifier)  # the classifier alone
        detectors["rules + classifier (appliance)"] = InjectionDetector(classifier=classifier)
    inputs = measure_inputs(detectors, evaluation_corpus(CORPUS_SEED, args.n_per_family), phantom_texts)
    blind = measure_inputs(detectors, blind_corpus(BLIND_SEED, args.n_per_family), ())
    reports = measure_report_cases(
        {"baseline (4 rules)": ReportValidator(BASELINE_RULES), "validator": ReportValidator()}, args.report_cases
    )
    demo, meta = measure_demo_drafts(args.bundle, rows, root, args.precision)
    return {
        "command": args.command,
        "n_per_family": args.n_per_family,
        "report_cases": args.report_cases,
        "inputs": inputs,
        "inputs_blind": blind,
        "reports": reports,
        "demo": demo,
        "demo_meta": meta,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ids", description=__doc__.splitlines()[0])
    parser.add_argument("--n-per-family", type=int, default=200, help="held-out attacks per family (input side)")
    parser.add_argument("--report-cases", type=int, default=100, help="held-out report cases per defect family")
    parser.add_argument("--phantoms", type=int, default=200, help="held-out phantoms for the demo model's drafts")
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE)
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--classifier", type=Path, default=DEFAULT_CLASSIFIER, help="'' for the rules alone")
    parser.add_argument("--workdir", help="where the phantoms are written (default: a new temporary directory)")
    parser.add_argument("--quick", action="store_true", help="a small run: 20 per family, 10 cases, 16 phantoms")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--write", type=Path, help="also write the Markdown here")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_per_family, args.report_cases, args.phantoms = 20, 10, 16
    args.command = "python -m bench.ids " + " ".join(argv if argv is not None else sys.argv[1:])
    args.command = args.command.strip()
    results = run(args)
    text = render(results)
    print(text, end="")
    if args.write:
        args.write.write_text(text)
    if args.json:
        args.json.write_text(json.dumps(to_json(results), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
