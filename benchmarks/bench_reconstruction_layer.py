"""The GAN's reconstruction layer on its own: forward and backward pass per batch, by how it places the scanner's
grid (the slice's own, the field of view's bands, the pose fitted to it).

    python benchmarks/bench_reconstruction_layer.py [--batch 32] [--threads 1] [--rounds 3] [--calls 10]

Each variant is compiled once (``tf.function(jit_compile=True)``, as the training step is), then the variants are
timed in turn, round after round, and each round's mean seconds per call printed with the load average before and
after (the machine is shared: compare variants within a round). The layer as the runs in docs/gan.md build it:
15 counts, resampled, three levels of masks, the slice reconstructed as the activity.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from spect_toolkit.gan.networks import ReconstructionNoise  # noqa: E402

PLACEMENTS = {
    "slice's grid": dict(acquisition_grid=False),
    "bands": dict(acquisition_grid=True),
    "posed": dict(acquisition_grid=True, grid_pose=True),
}


def compiled_pass(batch: int, **placement):
    layer = ReconstructionNoise(
        15.0, resample=True, field_of_view_levels=3, reconstruct_activity=True, seed=0, **placement
    )
    condition = tf.zeros((batch, 6))
    layer.build((batch, 64, 64, 1), condition.shape)

    @tf.function(jit_compile=True)
    def forward_and_backward(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            total = tf.reduce_sum(layer(x, condition))
        return tape.gradient(total, x)

    return forward_and_backward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=10)
    args = parser.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    x = tf.constant(np.random.default_rng(0).uniform(-1, 1, (args.batch, 64, 64, 1)).astype(np.float32))
    passes = {name: compiled_pass(args.batch, **placement) for name, placement in PLACEMENTS.items()}
    for run in passes.values():
        run(x)  # compiles
    print(f"load before: {os.getloadavg()[0]:.2f}; batch {args.batch}, {args.threads} thread(s)")
    print(f"{'round':>5s}" + "".join(f"{name:>16s}" for name in passes) + "   (s per forward and backward pass)")
    for round_ in range(args.rounds):
        figures = []
        for run in passes.values():
            start = time.perf_counter()
            for _ in range(args.calls):
                np.asarray(run(x))
            figures.append((time.perf_counter() - start) / args.calls)
        print(f"{round_ + 1:5d}" + "".join(f"{f:16.3f}" for f in figures))
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
