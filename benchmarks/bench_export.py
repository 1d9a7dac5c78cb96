"""Secondary Capture export speed: files per second for 1000 slices, plain folder and DICOMDIR File-set.

    python benchmarks/bench_export.py --slices 1000
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from spect_toolkit.export import export_samples
from spect_toolkit.samples import Samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slices", type=int, default=1000)
    args = parser.parse_args()
    n = args.slices - args.slices % 6
    rng = np.random.default_rng(0)
    samples = Samples(rng.random((n, 64, 64)).astype(np.float32), np.array(["CER", "BG", "COR"] * (n // 3)),
                      np.array(["normal", "unilateral", "bilateral"] * (n // 3)), seed=0, config_hash="bench")
    for dicomdir in (False, True):
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            export_samples(samples, out, dicomdir=dicomdir)
            seconds = time.perf_counter() - start
        print(f"export {'with DICOMDIR' if dicomdir else 'plain folder'}: {n} files in {seconds:.2f} s = "
              f"{n / seconds:.0f} files/s")


if __name__ == "__main__":
    main()
