"""Training speed of the paper preset: the XLA-compiled step against the same step as a plain tf.function and
eagerly, at batch 4 and 32, side by side in one run, and the projected time of the paper's full schedule.

    python benchmarks/bench_gan.py [--steps 60] [--slices 938]

Images per second count real images drawn per step (one batch each). The first call of each mode (tracing and
compiling) is timed apart and left out of the rate.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from spect_toolkit.gan import ConditionSpace, FastGAN, TrainingSet, make_config  # noqa: E402


def synthetic_set(n: int, seed: int = 0) -> tuple[TrainingSet, ConditionSpace]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:64, :64] - 31.5
    brain = (xx**2 / 26**2 + yy**2 / 30**2 < 1).astype(np.float32)
    slices = brain * rng.uniform(0.5, 1.0, (n, 64, 64)).astype(np.float32)
    levels = rng.choice(["CER", "BG", "COR"], n)
    patterns = rng.choice(["normal", "unilateral", "bilateral"], n, p=[0.59, 0.31, 0.10])
    space = ConditionSpace(("CER", "BG", "COR"))
    return TrainingSet.from_arrays(slices, slices, slices, levels, patterns, space), space


def measure(batch: int, mode: str, steps: int, data, space) -> tuple[float, float]:
    config = make_config("paper", batch_size=batch, steps_per_call=min(16, steps))
    gan = FastGAN(config, space, data, mode=mode)
    start = time.perf_counter()
    gan.train_steps(config.steps_per_call)
    first = time.perf_counter() - start
    calls = max(1, steps // config.steps_per_call)
    start = time.perf_counter()
    for _ in range(calls):
        np.asarray(gan.train_steps(config.steps_per_call))
    seconds = time.perf_counter() - start
    return calls * config.steps_per_call * batch / seconds, first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=64, help="timed steps per (batch, mode) at batch 4")
    parser.add_argument("--slices", type=int, default=938, help="training slices (paper: 938)")
    parser.add_argument("--epochs", type=int, default=1000, help="schedule to project (paper: 1000)")
    args = parser.parse_args()
    data, space = synthetic_set(args.slices)
    print(f"{os.cpu_count()} CPU cores; paper preset; {args.slices} slices")
    print("| batch | mode | images/s | x eager | first call (s) |")
    print("|---|---|---|---|---|")
    rates = {}
    for batch in (4, 32):
        steps = args.steps if batch == 4 else max(16, args.steps // 4)
        for mode in ("eager", "function", "xla"):
            rate, first = measure(batch, mode, steps, data, space)
            rates[batch, mode] = rate
            print(f"| {batch} | {mode} | {rate:.1f} | {rate / rates[batch, 'eager']:.2f} | {first:.1f} |", flush=True)
    images = args.epochs * args.slices
    for (batch, mode), rate in rates.items():
        print(
            f"projected {args.epochs} epochs x {args.slices} slices at batch {batch} ({mode}): "
            f"{images / rate / 3600:.1f} h"
        )


if __name__ == "__main__":
    main()
