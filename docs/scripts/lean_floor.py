"""The lean loss between two real batches: the part of ``--lean-weight``'s loss that no generator can remove.

    python docs/scripts/lean_floor.py repro_strat/ingest/manifest_table1.parquet --draws 300

``losses.lean`` compares a generated batch's per-pattern mean and root-mean-square left/right log ratio with the
real batch's. With 32 slices a batch, about 11 a pattern, both batches' moments are estimates, and two batches of
real slices with the same conditions differ by their draw alone. This draws the training split's slices as a
training step does (each pattern equally often, mixed with a neighbour as in Eq. 6, shifted by up to
``--ap-shift`` pixels, flipped at random with ``--flip``), pairs each batch with a second one of the same level
and pattern slice by slice, and prints the loss between them: a generator that drew real slices would still
feel this much, times the weight, as noise in its gradient.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from spect_toolkit.vocabulary import PATTERNS

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def paired_batches(patterns: np.ndarray, levels: np.ndarray, size: int, rng: np.random.Generator):
    """Positions of a batch drawn with each pattern equally likely, and of a second batch whose slice k has the
    level and pattern of the first's slice k."""
    first = np.array([rng.choice(np.flatnonzero(patterns == PATTERNS[k])) for k in rng.integers(0, 3, size)])
    second = np.array([rng.choice(np.flatnonzero((patterns == patterns[i]) & (levels == levels[i]))) for i in first])
    return first, second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest")
    parser.add_argument("--draws", type=int, default=300, help="pairs of batches")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--ap-shift", type=int, default=0, help="largest anterior-posterior shift, pixels")
    parser.add_argument("--flip", action="store_true", help="flip normal and bilateral slices at random")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from spect_toolkit.gan import augment
    from spect_toolkit.gan.conditions import ConditionSpace
    from spect_toolkit.gan.losses import lean, log_left_right
    from spect_toolkit.gan.model import TrainingSet
    from spect_toolkit.manifest import load_manifest, load_slices

    manifest = load_manifest(args.manifest)
    if "split" not in manifest.columns:
        parser.error(f"{args.manifest} has no split column: build it with reproduce_paper.py --stage prepare")
    rows = manifest[manifest["split"] == "train"]
    store = load_slices(rows, root=manifest.attrs.get("root"))
    space = ConditionSpace.from_levels(rows["level"])
    data = TrainingSet.from_arrays(store.slices, store.below, store.above, rows["level"], rows["pattern"], space)
    patterns, levels = rows["pattern"].to_numpy(str), rows["level"].to_numpy(str)
    rng = np.random.default_rng(args.seed)

    def augmented(index):
        n = len(index)
        real = augment.augment_real(
            data.slices[index],
            data.below[index],
            data.above[index],
            data.flip_allowed[index],
            weight=rng.uniform(size=n).astype(np.float32),
            use_above=rng.uniform(size=n) < 0.5,
            shift=rng.integers(-args.ap_shift, args.ap_shift + 1, n).astype(np.int32),
            flip=rng.uniform(size=n) < (0.5 if args.flip else 0.0),
        )
        return np.asarray(real)[..., None] * 2.0 - 1.0

    ratio = np.asarray(log_left_right(data.slices[..., None] * 2.0 - 1.0))
    for pattern in PATTERNS:
        values = ratio[patterns == pattern]
        rms = np.sqrt((values**2).mean())
        print(f"{pattern:10s} training slices' log left/right: mean {values.mean():+.4f}, rms {rms:.4f}")
    floor = []
    for _ in range(args.draws):
        first, second = paired_batches(patterns, levels, args.batch, rng)
        members = np.eye(3, dtype=np.float32)[[PATTERNS.index(p) for p in patterns[first]]]
        floor.append(float(lean(augmented(second), augmented(first), members)))
    floor = np.array(floor)
    print(
        f"lean loss between two real batches of {args.batch} ({args.draws} pairs): mean {floor.mean():.5f}, "
        f"median {np.median(floor):.5f}, 90th percentile {np.percentile(floor, 90):.5f}"
    )
    for weight in (10, 100, 300, 1000):
        print(f"  times W = {weight:4d}: {weight * floor.mean():.3f}")


if __name__ == "__main__":
    main()
