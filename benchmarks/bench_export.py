"""Secondary Capture export and PACS push speed: files per second for 1000 slices, written as a plain folder and
as a DICOMDIR File-set, then sent to a throw-away local Orthanc by C-STORE and by STOW-RS (skipped, with a
message, where Orthanc is not installed).

    python benchmarks/bench_export.py --slices 1000
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test suite's throw-away Orthanc

from spect_toolkit.export import export_samples  # noqa: E402
from spect_toolkit.export.push import push_cstore, push_stow  # noqa: E402
from spect_toolkit.samples import Samples  # noqa: E402

from orthanc_server import TemporaryOrthanc  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slices", type=int, default=1000)
    args = parser.parse_args()
    n = args.slices - args.slices % 6
    rng = np.random.default_rng(0)
    samples = Samples(
        rng.random((n, 64, 64)).astype(np.float32),
        np.array(["CER", "BG", "COR"] * (n // 3)),
        np.array(["normal", "unilateral", "bilateral"] * (n // 3)),
        seed=0,
        config_hash="bench",
    )
    with tempfile.TemporaryDirectory() as work:
        for dicomdir in (False, True):
            out = f"{work}/{'media' if dicomdir else 'plain'}"
            start = time.perf_counter()
            export_samples(samples, out, dicomdir=dicomdir)
            seconds = time.perf_counter() - start
            print(
                f"export {'with DICOMDIR' if dicomdir else 'plain folder'}: {n} files in {seconds:.2f} s = "
                f"{n / seconds:.0f} files/s"
            )
        if shutil.which("Orthanc") is None:
            print("push: skipped, Orthanc is not installed (apt-get install orthanc orthanc-dicomweb)")
            return
        with TemporaryOrthanc() as pacs:
            start = time.perf_counter()
            report = push_cstore(f"{work}/plain", "127.0.0.1", pacs.dicom_port, pacs.aet)
            seconds = time.perf_counter() - start
            print(
                f"C-STORE to local Orthanc: {len(report.stored)} of {n} stored in {seconds:.2f} s = "
                f"{len(report.stored) / seconds:.0f} files/s"
            )
        if not pacs.has_dicomweb:
            return
        with TemporaryOrthanc() as pacs:  # an empty server, so STOW-RS stores rather than overwrites
            start = time.perf_counter()
            report = push_stow(f"{work}/plain", pacs.stow_url)
            seconds = time.perf_counter() - start
            print(
                f"STOW-RS to local Orthanc (50 files per request): {len(report.stored)} of {n} stored in "
                f"{seconds:.2f} s = {len(report.stored) / seconds:.0f} files/s"
            )


if __name__ == "__main__":
    main()
