"""Ingest: the project's DICOM listener against DCMTK's storescp, the same files, the same storescu.

    python -m bench.ingest                       # 200 files, 0.5 MB and 8 MB, 1 and 8 associations, 3 rounds
    python -m bench.ingest --count 40 --rounds 1
    python -m bench.ingest --profile             # plus cProfile of the listener's threads (ours only)

Cases: 512 x 512 and 2048 x 2048 16-bit images (0.5 MB and 8 MB of pixel data; copies of one phantom
with distinct SOP Instance UIDs), sent by one DCMTK storescu (all files on one association) and by 8
storescu processes at once (8 concurrent associations, count / 8 files each). In each round both
receivers get each case, in an order that alternates:
  ours    dicom_listener.create_server in this process, spool in a temp directory, fsync of every
          instance (file and folder) before its C-STORE response (the listener's durability, kept),
          PDU 128 KiB; each data set is written once, to its spool temp file, as it arrives;
  dcmtk   /usr/bin/storescp +B (bit-preserving, writes the received data set straight to the file),
          --max-pdu 131072, --fork for the concurrent case, TCP_NODELAY=1 (DCMTK's switch for Nagle's
          algorithm, as for storescu); it does not fsync.
Prints, per case, the median files/s and MB/s of each (with the range over the rounds: the machine
may be shared, so use enough rounds) and the ratio ours/dcmtk; the last line is
`ingest_ours_over_dcmtk_8mb=R` (single association, 8 MB).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

STORESCU = "/usr/bin/storescu"
STORESCP = "/usr/bin/storescp"
#: DCMTK keeps Nagle's algorithm on unless told otherwise; with it, each C-STORE response waits for
#: the peer's delayed ACK (about 40 ms: 20 files/s at 0.5 MB). Both DCMTK tools run with it off.
DCMTK_ENV = dict(os.environ, TCP_NODELAY="1")
AET, CALLING = "SECUREMED", "BENCHSCU"
SIZES = {"0.5MB": 512, "8MB": 2048}


def write_files(directory: Path, side: int, count: int) -> list[Path]:
    """`count` copies of one phantom (side x side, 16-bit), each with its own SOP Instance UID."""
    from pydicom.uid import generate_uid

    from training.phantoms import make_phantom

    directory.mkdir(parents=True, exist_ok=True)
    ds = make_phantom(4100 + side, modality="CR", rows=side, cols=side, bits_stored=16).dataset
    paths = []
    for i in range(count):
        uid = generate_uid()
        ds.SOPInstanceUID = uid
        ds.file_meta.MediaStorageSOPInstanceUID = uid
        path = directory / f"{i:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def send(port: int, files: list[Path], associations: int) -> float:
    """Wall seconds for `associations` storescu processes to send `files` (split evenly)."""
    chunks = [files[i::associations] for i in range(associations)]
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [STORESCU, "-aet", CALLING, "-aec", AET, "--max-pdu", "131072", "127.0.0.1", str(port), *map(str, chunk)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=DCMTK_ENV,
        )
        for chunk in chunks
        if chunk
    ]
    errors = [p.communicate(timeout=900)[1] for p in procs]
    elapsed = time.perf_counter() - started
    failed = [e.decode(errors="replace")[-500:] for p, e in zip(procs, errors) if p.returncode != 0]
    if failed:
        raise SystemExit("storescu failed:\n" + "\n".join(failed))
    return elapsed


class ThreadProfiles:
    """cProfile of every thread started while enabled (pynetdicom runs an association per thread)."""

    def __init__(self) -> None:
        self.profiles: list[cProfile.Profile] = []
        self._lock = threading.Lock()

    def hook(self, *_: object) -> None:
        sys.setprofile(None)
        profile = cProfile.Profile()
        with self._lock:
            self.profiles.append(profile)
        profile.enable()

    def report(self, lines: int = 25) -> str:
        for p in self.profiles:
            p.disable()
        out = io.StringIO()
        stats = pstats.Stats(self.profiles[0], stream=out)
        for p in self.profiles[1:]:
            stats.add(p)
        stats.sort_stats("tottime").print_stats(lines)
        return out.getvalue()


def run_ours(work: Path, files: list[Path], associations: int, profiles: ThreadProfiles | None) -> float:
    from dicom_listener import ListenerSettings, create_server

    spool = work / "spool-ours"
    shutil.rmtree(spool, ignore_errors=True)
    settings = ListenerSettings(
        ae_title=AET,
        allowed_calling_aets=frozenset({CALLING}),
        spool_dir=spool,
        quiet_period_s=3600,
        max_pdu=131072,
        max_associations=max(associations, 10),
        min_free_bytes=0,
    )
    if profiles is not None:
        threading.setprofile(profiles.hook)  # the server thread and every association thread it starts
    try:
        server, port = create_server(settings, ("127.0.0.1", 0))
        try:
            elapsed = send(port, files, associations)
            stored = len(list((spool / "incoming").rglob("*.dcm")))
            assert stored == len(files), f"our listener stored {stored} of {len(files)}"
        finally:
            server.shutdown(5)
            shutil.rmtree(spool, ignore_errors=True)
    finally:
        threading.setprofile(None)
    return elapsed


def run_dcmtk(work: Path, files: list[Path], associations: int) -> float:
    out = work / "spool-dcmtk"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    port = _free_port()
    args = [STORESCP, "-aet", AET, "+B", "--max-pdu", "131072", "-od", str(out)]
    args += ["--fork"] if associations > 1 else []
    proc = subprocess.Popen([*args, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=DCMTK_ENV)
    try:
        deadline = time.monotonic() + 10
        while True:  # wait until it listens
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit("storescp did not start") from None
                time.sleep(0.05)
        elapsed = send(port, files, associations)
        stored = sum(1 for _ in out.iterdir())
        assert stored == len(files), f"storescp stored {stored} of {len(files)}"
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(out, ignore_errors=True)
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=200, help="files per case (default 200)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--sizes", default=",".join(SIZES), help="subset of 0.5MB,8MB")
    parser.add_argument("--associations", default="1,8", help="concurrent associations per case (default 1,8)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of our listener's threads")
    args = parser.parse_args(argv)
    for tool in (STORESCU, STORESCP):
        if not Path(tool).exists():
            print(f"{tool} is missing (apt-get install dcmtk)", file=sys.stderr)
            return 69
    sizes = [s for s in SIZES if s in args.sizes.split(",")]
    fanouts = [int(a) for a in args.associations.split(",")]
    medians: dict[tuple[str, int], dict[str, float]] = {}
    runs: dict[tuple[str, int], dict[str, list[float]]] = {}
    profiles = ThreadProfiles() if args.profile else None
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        work = Path(tmp)
        for size in sizes:
            files = write_files(work / f"files-{size}", SIZES[size], args.count)
            megabytes = sum(f.stat().st_size for f in files) / 1e6
            for fanout in fanouts:
                times: dict[str, list[float]] = defaultdict(list)
                runners: dict[str, Callable[[], float]] = {
                    "ours": lambda files=files, fanout=fanout: run_ours(work, files, fanout, profiles),  # type: ignore[misc]
                    "dcmtk": lambda files=files, fanout=fanout: run_dcmtk(work, files, fanout),  # type: ignore[misc]
                }
                for r in range(args.rounds):
                    for name in ("ours", "dcmtk") if r % 2 == 0 else ("dcmtk", "ours"):
                        elapsed = runners[name]()
                        times[name].append(elapsed)
                        print(
                            f"round {r + 1} {size} x{args.count} on {fanout} association(s) {name}: "
                            f"{args.count / elapsed:.1f} files/s, {megabytes / elapsed:.1f} MB/s",
                            flush=True,
                        )
                medians[(size, fanout)] = {name: statistics.median(v) for name, v in times.items()}
                runs[(size, fanout)] = dict(times)
            shutil.rmtree(work / f"files-{size}")
    print(
        f"count={args.count} rounds={args.rounds} (medians, with the range over the rounds in files/s; "
        "ours fsyncs every instance before its response)"
    )
    for (size, fanout), med in medians.items():
        mb = args.count * (SIZES[size] ** 2 * 2) / 1e6
        spread = {
            name: f"{args.count / max(v):.1f}-{args.count / min(v):.1f}" for name, v in runs[(size, fanout)].items()
        }
        print(
            f"{size} on {fanout} association(s): ours {args.count / med['ours']:.1f} files/s "
            f"({mb / med['ours']:.1f} MB/s, range {spread['ours']}), dcmtk {args.count / med['dcmtk']:.1f} files/s "
            f"({mb / med['dcmtk']:.1f} MB/s, range {spread['dcmtk']}), ours/dcmtk {med['dcmtk'] / med['ours']:.3f}"
        )
    if profiles is not None and profiles.profiles:
        print(profiles.report())
    key = ("8MB", 1)
    ratio = medians[key]["dcmtk"] / medians[key]["ours"] if key in medians else float("nan")  # nan: not run
    print(f"ingest_ours_over_dcmtk_8mb={ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
