"""Time `make_cohort` for the paper's cohort size (250 patients, 500 volumes) on this machine.

python benchmarks/bench_phantom.py --patients 250 --jobs 2
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from spect_toolkit.phantom import make_cohort


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=250)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        make_cohort(out, args.patients, seed=1, jobs=args.jobs)
        seconds = time.perf_counter() - start
    volumes = 2 * args.patients
    print(
        f"phantom: {args.patients} patients ({volumes} volumes) with {args.jobs} jobs on {os.cpu_count()} cores: "
        f"{seconds:.1f} s, {volumes / seconds:.2f} volumes/s"
    )


if __name__ == "__main__":
    main()
