"""End to end against generation alone: a burst of N distinct chest studies through `securemed serve`.

    python -m bench.pipeline                  # N=100 studies, 3 rounds
    python -m bench.pipeline --n 16 --rounds 2

Per round, in an order that rotates:
  generation   the same bundle, loaded here with the dev config's session settings, generating the
               same N images (runtime.preprocess of each phantom) in batches of 8: reports/s;
  e2e off      `securemed serve` (a fresh `securemed init --dev` installation, quiet period --quiet s)
               with `[deid.options] clean_pixel_data = false`: one DCMTK storescu association sends the
               N studies, the real `securemed client list` waits until dr-a lists all N reports;
  e2e on       the same with clean_pixel_data = true (the dev default: OCR pixel cleaning).
The e2e time runs from storescu's start to the last job's finish as recorded in the job store (the
client's polling interval is not counted; the client must still list all N reports). It includes the
transfer, the quiet period and the spool; studies/s = N / that time. "steady" is (N - 1) / (last
finish - first finish), the pipeline's rate once it is full.

Also printed: each stage's share of the summed stage time (from the service's `job <id> timings`
log lines; `ready_queue` is the wait between the two parts), the generator's calls and largest batch,
serve's peak memory with its children (tesseract, decode workers; PSS, sampled from /proc every 50 ms,
so that shared pages count once), and the
medians' ratios. The last two lines are `e2e_over_generation_cleaning_off=R` and
`e2e_over_generation_cleaning_on=R`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STORESCU = "/usr/bin/storescu"
ENV = dict(os.environ, PYTHONUNBUFFERED="1")
MODES = ("generation", "off", "on")
_TIMINGS = re.compile(r"job \S+ timings (\{.*\})")
_GENERATION = re.compile(r"generation: (\d+) calls for (\d+) studies \(largest batch (\d+)")


def _securemed(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout, env=ENV,
        check=check,
    )  # fmt: skip


# ---- inputs -----------------------------------------------------------------------------------------


def write_studies(directory: Path, n: int, first_seed: int = 70000) -> list[Path]:
    """N one-instance chest studies with distinct Study Instance UIDs."""
    from training.phantoms import make_phantom

    directory.mkdir(parents=True, exist_ok=True)
    paths, studies = [], set()
    for i in range(n):
        ds = make_phantom(first_seed + i).dataset
        studies.add(str(ds.StudyInstanceUID))
        path = directory / f"study-{i:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    assert len(studies) == n, "phantom seeds must give distinct studies"
    return paths


def install(directory: Path, quiet_s: float) -> Path:
    from appliance.devsetup import DEFAULT_BUNDLE

    _securemed(
        "init", "--dev", str(directory), "--dicom-port", "0", "--grpc-port", "0", "--bundle", str(DEFAULT_BUNDLE)
    )
    config = directory / "appliance.toml"
    text, count = re.subn(r"^quiet_period_s = .*$", f"quiet_period_s = {quiet_s}", config.read_text(), flags=re.M)
    assert count == 1
    config.write_text(text)
    return config


def set_key(config: Path, key: str, value: str) -> None:
    """Replace the `key = ...` line of the dev config (SystemExit if it has none)."""
    text, count = re.subn(rf"^{re.escape(key)} = .*$", f"{key} = {value}", config.read_text(), count=1, flags=re.M)
    if count != 1:
        raise SystemExit(f"{key} is not in the dev config")
    config.write_text(text)


# ---- memory of a process tree (/proc) --------------------------------------------------------------


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU of `pid` and of its children it has reaped (tesseract), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _pss(pid: int) -> int | None:
    """Proportional set size (shared pages split between their users), or None if unreadable."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def tree_rss(pid: int) -> list[tuple[str, int]]:
    """(label, memory) of `pid` and each of its descendants: PSS (shared pages split between their
    users; RSS where unreadable). A child caught between (v)fork and exec shares serve's memory and is
    not counted. The label names the process (multiprocessing workers and their tracker by role)."""
    found: list[tuple[str, int]] = []
    stack = [pid]
    try:
        own = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return found
    while stack:
        p = stack.pop()
        try:
            status = dict(line.split(":", 1) for line in Path(f"/proc/{p}/status").read_text().splitlines())
            pss = _pss(p)
            rss = pss if pss is not None else int(status.get("VmRSS", "0 kB").split()[0]) * 1024
            label = "serve" if p == pid else status["Name"].strip()
            cmdline = Path(f"/proc/{p}/cmdline").read_bytes()
        except (OSError, ValueError, KeyError):
            continue
        if p != pid and cmdline == own:
            # Between (v)fork and exec (subprocess starting tesseract): serve's own memory, not more.
            stack += _children(p)
            continue
        if p != pid and b"resource_tracker" in cmdline:
            label = "mp-tracker"
        elif p != pid and b"multiprocessing" in cmdline:
            label = "mp-worker"
        found.append((label, rss))
        stack += _children(p)
    return found


class PeakSampler(threading.Thread):
    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak = pid, interval, 0
        self.composition = ""  # at the peak: "name xcount MiB, ..."
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            found = tree_rss(self.pid)
            total = sum(rss for _, rss in found)
            if total > self.peak:
                self.peak = total
                ranked = sorted(found, key=lambda item: -item[1])
                self.composition = ", ".join(f"{label} {rss / 2**20:.0f}" for label, rss in ranked) + " MiB"

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return self.peak


# ---- one e2e run -----------------------------------------------------------------------------------


@dataclass
class E2E:
    studies_per_s: float
    steady_per_s: float
    peak_rss: int
    cpu_per_study: float = 0.0
    transfer_s: float = 0.0  # storescu, all N
    first_s: float = 0.0  # storescu's start -> the first job finished
    total_s: float = 0.0  # storescu's start -> the last job finished
    stage_seconds: dict[str, float] = field(default_factory=dict)
    calls: int = 0
    largest: int = 0
    peak_composition: str = ""


def run_e2e(directory: Path, files: list[Path], timeout: float) -> E2E:
    state = directory / "state"
    shutil.rmtree(state, ignore_errors=True)  # a fresh queue: the same batches are new jobs again
    log_path = directory / "appliance.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "serve", "--config", str(directory / "appliance.toml")],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=ENV,
        )
    sampler = PeakSampler(proc.pid)
    sampler.start()
    try:
        deadline = time.monotonic() + 120
        while not (state / "ports.json").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"serve did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.05)
        ports = json.loads((state / "ports.json").read_text())
        started, cpu_before = time.time(), cpu_seconds(proc.pid)
        sent = subprocess.run(
            [STORESCU, "-aet", "DEVPACS", "-aec", "SECUREMED", "127.0.0.1", str(ports["dicom"]), *map(str, files)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        transfer_s = time.time() - started
        if sent.returncode != 0:
            raise SystemExit(f"storescu failed: {sent.stderr[-2000:]}")
        deadline = time.monotonic() + timeout
        client = ["client", "--config", str(directory / "dr-a.toml"), "--target", f"localhost:{ports['grpc']}"]
        while True:
            listed = _securemed(*client, "list", "--json", "--all", check=False)
            if listed.returncode == 0 and len(json.loads(listed.stdout)) >= len(files):
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"dr-a did not list {len(files)} reports:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        cpu = cpu_seconds(proc.pid) - cpu_before
        with sqlite3.connect(state / "jobs.sqlite3") as db:
            rows = db.execute("SELECT state, updated_at FROM jobs ORDER BY updated_at").fetchall()
        assert [r[0] for r in rows] == ["delivered"] * len(files), rows
        finished = [r[1] for r in rows]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        peak = sampler.stop()
    composition = sampler.composition
    n = len(files)
    result = E2E(n / (finished[-1] - started), (n - 1) / max(finished[-1] - finished[0], 1e-9), peak, cpu / n)
    result.peak_composition = composition
    result.transfer_s, result.first_s, result.total_s = transfer_s, finished[0] - started, finished[-1] - started
    text = log_path.read_text(errors="replace")
    stages: dict[str, float] = defaultdict(float)
    for match in _TIMINGS.finditer(text):
        for name, seconds in json.loads(match.group(1)).items():
            stages[name] += seconds
    result.stage_seconds = dict(stages)
    if m := _GENERATION.search(text):
        result.calls, result.largest = int(m.group(1)), int(m.group(3))
    return result


# ---- generation alone ------------------------------------------------------------------------------


class GenerationOnly:
    """The bundle as serve loads it from the same config ([model]), on the same images."""

    def __init__(self, config: Path, files: list[Path], batch: int) -> None:
        import pydicom

        from appliance.config import load_config
        from runtime.bundle import ModelBundle
        from runtime.generator import ReportGenerator
        from runtime.preprocess import preprocess

        model = load_config(config).model
        bundle = ModelBundle.open(model.bundle)
        settings = model.session_settings(max_new_tokens=bundle.manifest.max_new_tokens)
        self.generator = ReportGenerator(bundle, precision=model.precision, settings=settings)
        self.images = [preprocess(pydicom.dcmread(str(f)), bundle.manifest.preprocessing) for f in files]
        self.batch = batch
        self.cpu_per_report = 0.0
        self.generator.generate(self.images[:batch])  # warm-up, as serve's first batch is not timed either

    def run(self) -> float:
        started, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(self.images), self.batch):
            self.generator.generate(self.images[i : i + self.batch])
        self.cpu_per_report = (time.process_time() - cpu) / len(self.images)
        return len(self.images) / (time.perf_counter() - started)


# ---- main ------------------------------------------------------------------------------------------


def _share(stage_seconds: dict[str, float]) -> str:
    work = {k: v for k, v in stage_seconds.items() if k != "ready_queue"}
    total = sum(work.values()) or 1.0
    parts = [f"{k} {100 * v / total:.1f}%" for k, v in sorted(work.items(), key=lambda kv: -kv[1])]
    return ", ".join(parts) + f" (ready_queue wait {stage_seconds.get('ready_queue', 0.0):.1f} s in all)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100, help="studies per burst (default 100)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--batch", type=int, default=8, help="generation-only batch size (default 8)")
    parser.add_argument("--quiet", type=float, default=0.5, help="the listener's quiet period, s (default 0.5)")
    parser.add_argument("--timeout", type=float, default=900, help="per e2e run, s")
    parser.add_argument("--modes", default=",".join(MODES), help="subset of generation,off,on")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="change a dev config line (both sides)"
    )
    args = parser.parse_args(argv)
    if not Path(STORESCU).exists():
        print(f"{STORESCU} is missing (apt-get install dcmtk)", file=sys.stderr)
        return 69
    modes = [m for m in MODES if m in args.modes.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        work = Path(tmp)
        files = write_studies(work / "pacs", args.n)
        install_dir = work / "dev"
        config = install(install_dir, args.quiet)
        for item in args.set:
            key, _, value = item.partition("=")
            set_key(config, key.strip(), value.strip())
        generation = GenerationOnly(config, files, args.batch) if "generation" in modes else None
        rates: dict[str, list[float]] = defaultdict(list)
        runs: dict[str, list[E2E]] = defaultdict(list)
        for r in range(args.rounds):
            order = modes[r % len(modes) :] + modes[: r % len(modes)]
            for mode in order:
                if mode == "generation":
                    assert generation is not None
                    rate = generation.run()
                    print(
                        f"round {r + 1} generation only (batch {args.batch}): {rate:.2f} reports/s, "
                        f"CPU {1000 * generation.cpu_per_report:.1f} ms per report",
                        flush=True,
                    )
                else:
                    set_key(config, "clean_pixel_data", "true" if mode == "on" else "false")
                    e2e = run_e2e(install_dir, files, args.timeout)
                    runs[mode].append(e2e)
                    rate = e2e.studies_per_s
                    print(
                        f"round {r + 1} e2e cleaning {mode}: {rate:.2f} studies/s (steady {e2e.steady_per_s:.2f}/s), "
                        f"{e2e.calls} generator calls for {args.n} studies (largest {e2e.largest}), "
                        f"peak memory {e2e.peak_rss / 2**20:.0f} MiB, CPU {1000 * e2e.cpu_per_study:.1f} ms per study; "
                        f"storescu {e2e.transfer_s:.2f} s, first report {e2e.first_s:.2f} s, last {e2e.total_s:.2f} s",
                        flush=True,
                    )
                rates[mode].append(rate)
    print(f"n={args.n} rounds={args.rounds} quiet_period_s={args.quiet} cores={os.cpu_count()}")
    med = {mode: statistics.median(v) for mode, v in rates.items()}
    for mode in modes:
        unit = "reports/s" if mode == "generation" else "studies/s"
        print(f"median {'generation only' if mode == 'generation' else 'e2e cleaning ' + mode}: {med[mode]:.2f} {unit}")
    for mode in ("off", "on"):
        if runs[mode]:
            totals: dict[str, float] = defaultdict(float)
            for e2e in runs[mode]:
                for k, v in e2e.stage_seconds.items():
                    totals[k] += v
            print(f"stage share cleaning {mode}: {_share(totals)}")
            top = max(runs[mode], key=lambda e: e.peak_rss)
            print(
                f"serve peak memory (PSS) with children, cleaning {mode}: {top.peak_rss / 2**20:.0f} MiB ({top.peak_composition})"
            )
    base = med.get("generation")
    for mode in ("off", "on"):
        ratio = med[mode] / base if base and mode in med else float("nan")
        print(f"e2e_over_generation_cleaning_{mode}={ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
