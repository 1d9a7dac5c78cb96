"""Training speed of the paper preset per source checkout, precision and batch, against the machine's own peak.

    python benchmarks/bench_gan.py [--source OLD_CHECKOUT --source .] [--precision float32 --precision bfloat16]
                                   [--batch 4 --batch 32] [--rounds 3] [--seconds 25]

Each measurement runs in a fresh process (TensorFlow's thread pools are fixed per process), with the checkout's
own defaults; the variants are interleaved, round after round, and the best round of each is reported (the
machine is shared: the best round is the least disturbed one). Also measured in the same run: the float32 and
bfloat16 peak of this machine (a 4096^3 matmul in TensorFlow) and the FLOPs of one training step (TensorFlow's
graph profiler on the compiled step), so each rate is also a share of the peak. Prints the load average before
and after, and the projected time of the paper's schedule (1000 epochs x 938 slices).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAPER_IMAGES = 1000 * 938

CHILD = r"""
import json, os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
batch, precision, seconds = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
from spect_toolkit.gan import ConditionSpace, FastGAN, TrainingSet, make_config
try:
    from spect_toolkit.gan.threads import configure_threads
    threads = configure_threads(batch)
except ImportError:  # a checkout before the thread choice
    threads = None
rng = np.random.default_rng(0)
yy, xx = np.mgrid[:64, :64] - 31.5
brain = (xx**2 / 26**2 + yy**2 / 30**2 < 1).astype(np.float32)
slices = brain * rng.uniform(0.5, 1.0, (938, 64, 64)).astype(np.float32)
space = ConditionSpace(("CER", "BG", "COR"))
levels = rng.choice(["CER", "BG", "COR"], 938)
patterns = rng.choice(["normal", "unilateral", "bilateral"], 938, p=[0.59, 0.31, 0.10])
data = TrainingSet.from_arrays(slices, slices, slices, levels, patterns, space)
options = {} if precision == "float32" else {"precision": precision}
config = make_config("paper", batch_size=batch, steps_per_call=16, **options)
gan = FastGAN(config, space, data, mode="function")
gan.train_steps(16)
calls, start = 0, time.perf_counter()
while time.perf_counter() - start < seconds:
    np.asarray(gan.train_steps(16))
    calls += 1
rate = calls * 16 * batch / (time.perf_counter() - start)
flops = None
try:
    import tensorflow as tf
    from tensorflow.python.profiler import model_analyzer, option_builder
    graph = tf.function(gan.train_step).get_concrete_function(tf.constant([0, 0], tf.int64)).graph
    opts = option_builder.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    flops = model_analyzer.profile(graph, options=opts).total_float_ops / batch
except Exception:
    pass
print(json.dumps({"rate": rate, "threads": threads, "flops_per_image": flops}))
"""

PEAK = r"""
import json, os, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf
out = {}
for dtype in ("float32", "bfloat16"):
    a = tf.random.normal([4096, 4096], dtype=tf.float32)
    a = tf.cast(a, dtype)
    f = tf.function(lambda x: tf.matmul(x, x))
    f(a).numpy()
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter(); f(a).numpy(); best = min(best, time.perf_counter() - t)
    out[dtype] = 2 * 4096**3 / best
print(json.dumps(out))
"""


def run(source: Path, code: str, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(source)}
    result = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", action="append", type=Path, help="checkout to measure (repeatable; default: .)")
    parser.add_argument("--precision", action="append", help="float32, bfloat16, float16 (repeatable)")
    parser.add_argument("--batch", action="append", type=int, help="batch sizes (repeatable; default 4 and 32)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=25.0, help="timed seconds per measurement")
    args = parser.parse_args()
    sources = args.source or [ROOT]
    precisions = args.precision or ["float32"]
    batches = args.batch or [4, 32]
    print(f"load before: {os.getloadavg()[0]:.2f}; {os.cpu_count()} cores")
    peak = run(ROOT, PEAK)
    gflops = {k: round(v / 1e9) for k, v in peak.items()}
    print(f"peak (4096^3 matmul): float32 {gflops['float32']} GFLOP/s, bfloat16 {gflops['bfloat16']} GFLOP/s")
    variants = [(s, p, b) for b in batches for p in precisions for s in sources]
    best: dict = {}
    for round_ in range(args.rounds):
        for source, precision, batch in variants:
            if precision != "float32" and source != sources[-1] and len(sources) > 1:
                continue  # an earlier checkout may not know the option
            result = run(source, CHILD, str(batch), precision, str(args.seconds))
            key = (str(source), precision, batch)
            if key not in best or result["rate"] > best[key]["rate"]:
                best[key] = result
            print(
                f"  round {round_ + 1}: {source.name or source} {precision} batch {batch}: "
                f"{result['rate']:.1f} images/s",
                flush=True,
            )
    print(
        "| source | precision | batch | threads (intra, inter) | images/s | GFLOP per image | share of peak "
        "| paper schedule |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for (source, precision, batch), result in best.items():
        flops = result["flops_per_image"]
        peak_rate = peak["bfloat16" if precision == "bfloat16" else "float32"]
        share = f"{result['rate'] * flops / peak_rate:.2f}" if flops else "n/a"
        gflop = f"{flops / 1e9:.2f}" if flops else "n/a"
        hours = PAPER_IMAGES / result["rate"] / 3600
        print(
            f"| {Path(source).name or source} | {precision} | {batch} | {result['threads'] or 'default'} | "
            f"{result['rate']:.1f} | {gflop} | {share} | {hours:.2f} h |"
        )
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
