"""`securemed demo`: the whole product once, with real components at every step.

1. `securemed init --dev` into the work directory (dev CA, keys, configs; free ports chosen by the OS);
2. `securemed serve` as a child process, waited on until the gRPC health service says SERVING;
3. a synthetic chest X-ray study sent by DCMTK's `storescu` as calling AE DEVPACS;
4. `securemed client --config dr-a.toml watch --count 1`: the clinician receives the envelope over
   mutual TLS 1.3, verifies the appliance's signature, decrypts locally and prints the report;
5. SIGTERM to the appliance, which stops gracefully.
Exit 0 only if the printed report carries the study's original accession number.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from appliance.devsetup import DEFAULT_BUNDLE
from common.errors import SecureMedError


class DemoError(SecureMedError):
    """A step of the demo did not do what it should (exit 70)."""


def _securemed(*args: str) -> list[str]:
    return [sys.executable, "-m", "cli", *args]


def _wait_for_ports(state_dir: Path, proc: subprocess.Popen, timeout: float) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    path = state_dir / "ports.json"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DemoError(f"the appliance exited with status {proc.returncode} during start-up")
        if path.exists():
            return json.loads(path.read_text())
        time.sleep(0.2)
    raise DemoError("the appliance did not become ready in time")


def run_demo(workdir: Path, *, bundle: Path | None = None, timeout: float = 120.0) -> int:
    from training.phantoms import make_phantom

    storescu = shutil.which("storescu", path="/usr/bin:/usr/local/bin") or shutil.which("storescu")
    if not storescu:
        print("demo: DCMTK's storescu is missing (apt-get install dcmtk)", file=sys.stderr)
        return 69
    workdir = workdir.resolve()
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    bundle = bundle or DEFAULT_BUNDLE
    env = dict(os.environ, PYTHONUNBUFFERED="1")

    print(f"[1/5] development installation in {workdir}")
    subprocess.run(
        _securemed("init", "--dev", str(workdir), "--dicom-port", "0", "--grpc-port", "0", "--bundle", str(bundle)),
        check=True,
        env=env,
    )

    print("[2/5] starting the appliance (securemed serve)")
    log_path = workdir / "appliance.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            _securemed("serve", "--config", str(workdir / "appliance.toml")),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        ports = _wait_for_ports(workdir / "state", proc, timeout=60)
        print(f"      DICOM SCP SECUREMED on 127.0.0.1:{ports['dicom']}, gRPC/TLS 1.3 on localhost:{ports['grpc']}")

        # A study with an effusion, a pneumothorax and atelectasis, all read correctly by the demo model.
        phantom = make_phantom(20261100)
        study = workdir / "pacs" / "study.dcm"
        study.parent.mkdir()
        phantom.dataset.save_as(study, enforce_file_format=True)
        accession = str(phantom.dataset.AccessionNumber)
        print(f"[3/5] PACS sends a chest X-ray (accession {accession}) with storescu -aet DEVPACS -aec SECUREMED")
        subprocess.run(
            [storescu, "-aet", "DEVPACS", "-aec", "SECUREMED", "127.0.0.1", str(ports["dicom"]), str(study)],
            check=True,
            timeout=60,
        )
        print(f"      drawn in the phantom: {phantom.report.text}")

        print("[4/5] clinician dr-a waits for the report (securemed client watch)")
        result = subprocess.run(
            _securemed(
                "client",
                "--config",
                str(workdir / "dr-a.toml"),
                "--target",
                f"localhost:{ports['grpc']}",
                "watch",
                "--count",
                "1",
            ),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
        if result.returncode != 0:
            raise DemoError(f"client failed ({result.returncode}): {result.stderr.strip()}")
        print("      " + result.stdout.strip().replace("\n", "\n      "))
        if f"Accession number: {accession}" not in result.stdout or "FINDINGS:" not in result.stdout:
            raise DemoError("the received report does not carry the study's accession number")
    except (DemoError, subprocess.SubprocessError) as exc:
        print(
            f"demo failed: {exc}\n--- appliance log ({log_path}) ---\n{log_path.read_text()[-4000:]}", file=sys.stderr
        )
        return 1
    finally:
        print("[5/5] stopping the appliance (SIGTERM)")
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
    if proc.returncode != 0:
        print(f"demo: the appliance exited with status {proc.returncode}", file=sys.stderr)
        return 1
    print("demo complete: PACS -> listener -> de-identification -> model -> validation -> ECIES -> gRPC -> clinician")
    return 0
