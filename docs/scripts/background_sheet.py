"""A sheet of held-out real slices and generated ones of the same level and pattern, shown from zero to a few
per cent of each slice's maximum, where the background's texture (the reconstruction's streaks, the edge of the
resampled volume, a generator's frame) is visible and the brain is saturated.

    python docs/scripts/background_sheet.py repro/ingest/manifest_table1.parquet background.png \
        clip150/seed3/improved+remedies:150 repro/run_A_improved+remedies:350
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest")
    parser.add_argument("out", help="the PNG to write")
    parser.add_argument("runs", nargs="+", help="RUN_FOLDER:EPOCH, one row each")
    parser.add_argument("--columns", type=int, default=5)
    parser.add_argument("--window", type=float, default=0.04, help="the top of the grey scale, of the slice maximum")
    parser.add_argument("--seed", type=int, default=3, help="which held-out slices, and the latent draw")
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from spect_toolkit.evaluate.evaluation import RealSlices
    from spect_toolkit.evaluate.measures import normalise
    from spect_toolkit.gan import generate
    from spect_toolkit.manifest import load_manifest, select_split

    held_out_rows = select_split(load_manifest(args.manifest), "holdout")
    real = normalise(RealSlices.from_manifest(held_out_rows).images)
    shown = np.random.default_rng(args.seed).choice(len(real), args.columns, replace=False)
    conditions = list(zip(held_out_rows.level.to_numpy()[shown], held_out_rows.pattern.to_numpy()[shown]))
    rows = [("held-out real", real[shown])]
    for spec in args.runs:
        run, _, epoch = spec.rpartition(":")
        if not run or not epoch.isdigit():
            parser.error(f"give each run as RUN_FOLDER:EPOCH, got {spec!r}")
        samples = generate(run, like=held_out_rows, seed=args.seed, epoch=int(epoch))
        images = normalise(samples.images)
        used: set[int] = set()  # a generated slice of each shown slice's condition, none twice
        picked = []
        for level, pattern in conditions:
            candidates = np.flatnonzero((samples.level == level) & (samples.pattern == pattern))
            choice = next(int(i) for i in candidates if int(i) not in used)
            used.add(choice)
            picked.append(images[choice])
        parts = run.rstrip("/").split("/")[-1].split("+")  # a variant's name, one option a line
        name = "\n+".join(["+".join(parts[:2]), *parts[2:]])
        rows.append((f"{name}\nepoch {epoch}", np.stack(picked)))

    fig, axes = plt.subplots(len(rows), args.columns, figsize=(2 * args.columns, 2.1 * len(rows)), squeeze=False)
    for r, (title, images) in enumerate(rows):
        for c, image in enumerate(images):
            axes[r, c].imshow(image, vmin=0.0, vmax=args.window, cmap="gray")
            axes[r, c].set_xticks([]), axes[r, c].set_yticks([])
            if r == 0:
                axes[r, c].set_title(" ".join(conditions[c]), fontsize=8)
        axes[r, 0].set_ylabel(title, fontsize=7)
    fig.suptitle(f"grey scale 0 to {args.window:g} of each slice's maximum", fontsize=9)
    fig.tight_layout()
    fig.savefig(args.out, dpi=80)
    print(f"wrote {args.out}: {len(rows)} rows of {args.columns}")


if __name__ == "__main__":
    main()
