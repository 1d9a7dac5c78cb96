"""Peak memory of ``scan`` on an export of about 5,000 per-slice files (one NM file per slice).

    python benchmarks/bench_scan_memory.py [--volumes 80] [--source PATH ...]

Each ``--source`` is a checkout whose ``spect_toolkit`` is measured (default: this one); the sources run in turn,
each in a fresh process, so their figures are side by side under the same load. Prints files, seconds and peak
RSS (ru_maxrss of the child) per source, and the load average.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from spect_toolkit.phantom.hospital import FakePatient, write_nm_volume  # noqa: E402
from spect_toolkit.template import Grid  # noqa: E402

GRID = Grid(shape=(64, 64, 64), spacing=(4.42, 4.42, 4.42), origin=(-139.2, -139.2, -139.2))

CHILD = """
import resource, sys, time
from spect_toolkit.dicom import scan
t = time.perf_counter()
index = scan(sys.argv[1])
print(int(index.n_files.sum()), round(time.perf_counter() - t, 1),
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def write_export(folder: Path, volumes: int) -> int:
    rng = np.random.default_rng(0)
    for v in range(volumes):
        patient = FakePatient.draw(rng, 0, v)
        volume = rng.uniform(0, 60, GRID.shape).astype(np.float32)
        write_nm_volume(
            folder / f"{v:04d}",
            volume,
            GRID,
            patient,
            ("rest", "stress")[v % 2],
            1 + v % 2,
            "per-slice",
            "rescale",
            rng,
        )
    return sum(1 for _ in folder.rglob("*.dcm"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volumes", type=int, default=80, help="volumes of 64 slice files each")
    parser.add_argument("--source", action="append", type=Path, help="checkout to measure (repeatable)")
    args = parser.parse_args()
    sources = args.source or [ROOT]
    with tempfile.TemporaryDirectory() as tmp:
        files = write_export(Path(tmp) / "export", args.volumes)
        print(f"export: {files} per-slice files; load {os.getloadavg()[0]:.2f}")
        print("| source | files indexed | seconds | peak RSS (MiB) |\n|---|---|---|---|")
        for source in sources:
            env = {**os.environ, "PYTHONPATH": str(source)}
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(Path(tmp) / "export")],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout.split()
            print(f"| {source} | {out[0]} | {out[1]} | {out[2]} |")
        print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
