"""Push speed to a local Orthanc, plain against secured, in one run: C-STORE plain and over DICOM TLS (mutual
TLS), STOW-RS over plain HTTP and over HTTPS with basic authentication. The variants alternate, round after round;
the best round of each is reported (files per second), with the load average.

    python benchmarks/bench_secure_push.py [--slices 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test suite's throw-away Orthanc

from spect_toolkit.export import export_samples  # noqa: E402
from spect_toolkit.export.push import push_cstore, push_stow  # noqa: E402
from spect_toolkit.export.secure import Credentials, tls_context  # noqa: E402
from spect_toolkit.samples import Samples  # noqa: E402

from orthanc_server import Certificates, TemporaryOrthanc  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n = args.slices
    samples = Samples(
        rng.uniform(0, 1, (n, 64, 64)).astype(np.float32),
        np.array(["COR"] * n),
        np.array(["normal", "unilateral", "bilateral"] * (n // 3 + 1))[:n],
        0,
        "bench",
    )
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = export_samples(samples, tmp / "dicom").folder
        certificates = Certificates.make(tmp / "pki")
        user, password = "bench", "bench-password"
        print(f"load before: {os.getloadavg()[0]:.2f}; {n} Secondary Capture files")
        with (
            TemporaryOrthanc(aet="PLAIN") as plain,
            TemporaryOrthanc(aet="SECURE", certificates=certificates, users={user: password}) as secure,
        ):
            mutual = tls_context(certificates.ca, certificates.client_cert, certificates.client_key)
            https = tls_context(certificates.ca)
            variants = {
                "C-STORE, plain": lambda: push_cstore(folder, "127.0.0.1", plain.dicom_port, "PLAIN"),
                "C-STORE, DICOM TLS (mutual)": lambda: push_cstore(
                    folder, "127.0.0.1", secure.dicom_port, "SECURE", tls=mutual
                ),
                "STOW-RS, HTTP": lambda: push_stow(folder, plain.stow_url),
                "STOW-RS, HTTPS + basic auth": lambda: push_stow(
                    folder, secure.stow_url, tls=https, credentials=Credentials(user, password)
                ),
            }
            best = {}
            for _ in range(args.rounds):
                for name, push in variants.items():
                    start = time.perf_counter()
                    report = push()
                    seconds = time.perf_counter() - start
                    assert report.ok, (name, [r.detail for r in report.failed][:3])
                    best[name] = max(best.get(name, 0.0), len(report.stored) / seconds)
        print("| push | files/s (best of rounds) |\n|---|---|")
        for name, rate in best.items():
            print(f"| {name} | {rate:.0f} |")
        print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
