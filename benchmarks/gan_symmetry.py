"""Left/right balance of a run's slices at every checkpoint, beside the real training slices: the median left/right
ratio (LR, the paper's measure), the share of slices whose left hemisphere is brighter (LR > 1), and the spread.

    python benchmarks/gan_symmetry.py RUN_DIR MANIFEST [--seed 7]

The real slices are the manifest's training split at the run's levels; each checkpoint makes as many slices per
level and pattern (``generate(like=...)``). A set of slices that all lean one way shows as a share near 0 or 1
where the real share is near 1/2.
"""

from __future__ import annotations

import argparse

import numpy as np

from spect_toolkit.evaluate import slice_measures
from spect_toolkit.gan import RunFolder, generate
from spect_toolkit.manifest import load_manifest, load_slices, select_split
from spect_toolkit.vocabulary import PATTERNS


def balance(images, levels, patterns) -> dict[str, str]:
    lr = slice_measures(images, levels)["lr"].to_numpy()
    cells = {}
    for pattern in PATTERNS:
        mine = lr[np.asarray(patterns) == pattern]
        if len(mine):
            cells[pattern] = f"{np.median(mine):.3f} / {np.mean(mine > 1):.2f} / {np.std(mine):.3f}"
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir")
    parser.add_argument("manifest")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    run = RunFolder(args.run_dir)
    real = select_split(load_manifest(args.manifest), "train")
    real = real[real["level"].isin(run.load_config().levels)]
    rows = {"real": balance(load_slices(real).slices, real["level"].to_numpy(), real["pattern"].to_numpy())}
    for epoch in run.saved_epochs():
        samples = generate(run.root, like=real, seed=args.seed, epoch=epoch)
        rows[f"epoch {epoch}"] = balance(samples.images, samples.level, samples.pattern)
    print("LR median / share with LR > 1 / standard deviation")
    print("| slices | " + " | ".join(PATTERNS) + " |")
    print("|---" * (len(PATTERNS) + 1) + "|")
    for name, cells in rows.items():
        print(f"| {name} | " + " | ".join(cells.get(p, "") for p in PATTERNS) + " |")


if __name__ == "__main__":
    main()
