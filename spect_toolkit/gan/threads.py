"""TensorFlow's thread pools for a training run, chosen from the core count and the batch size.

At batch 4 the step is thousands of small ops: one thread per op and two ops at a time ran 1.19-1.22 times faster
than TensorFlow's default on 2 cores; at batch 32 the default was as fast. ``SPECT_TOOLKIT_THREADS=INTRA,INTER``
overrides the choice. The pools can only be set before TensorFlow runs its first op.
"""

from __future__ import annotations

import os

from ..errors import ArgumentError

THREADS_ENV = "SPECT_TOOLKIT_THREADS"
SMALL_BATCH = 8


def choose_threads(batch_size: int, cores: int | None = None) -> tuple[int, int] | None:
    """(intra-op, inter-op) threads for ``batch_size`` on ``cores``, or ``None`` for TensorFlow's default."""
    override = os.environ.get(THREADS_ENV)
    if override:
        try:
            intra, inter = (int(v) for v in override.split(","))
        except ValueError:
            raise ArgumentError(f"{THREADS_ENV}={override!r}: write it as INTRA,INTER, e.g. 1,2") from None
        return intra, inter
    cores = cores or os.cpu_count() or 1
    if batch_size <= SMALL_BATCH and cores >= 2:
        return max(1, cores // 2), 2
    return None


def configure_threads(batch_size: int) -> tuple[int, int] | None:
    """Set the pools for this process if TensorFlow has not started yet; what was set (``None``: left alone)."""
    choice = choose_threads(batch_size)
    if choice is None:
        return None
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(choice[0])
        tf.config.threading.set_inter_op_parallelism_threads(choice[1])
    except RuntimeError:  # TensorFlow already ran an op in this process: its pools are fixed
        return None
    return choice
