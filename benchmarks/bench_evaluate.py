"""Evaluation speed: one synthetic set against the real training split, feature network, two-sample test,
memorisation audit and utility networks included.

    python benchmarks/bench_evaluate.py MANIFEST SAMPLES.npz [--out REPORT_DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from spect_toolkit.evaluate import evaluate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifest")
    parser.add_argument("samples")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="bench-evaluate-")
    start = time.perf_counter()
    result = evaluate(args.manifest, {"S": args.samples}, out, split="train")
    seconds = time.perf_counter() - start
    print(
        f"{result.metrics['n_real']} real and {result.metrics['groups']['S']['n']} synthetic slices "
        f"(feature network on {result.metrics['n_train']}, holdout {result.metrics['n_holdout']}): "
        f"{seconds:.0f} s; report {result.report}"
    )


if __name__ == "__main__":
    main()
