"""Realism of the phantom, looked at and measured: writes docs/figures/phantom_levels.png and prints the CBF table.

    python docs/scripts/phantom_realism.py --patients 60 --seed 3 --out /tmp/realism

The volumes are read back from the written DICOM, so the figures show what a reader of the export sees. They
are shown on the canonical AC-PC grid using the phantom's true pose (alignment is not involved here).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from spect_toolkit.align.resample import resample_to_canonical  # noqa: E402
from spect_toolkit.dicom import read_volume  # noqa: E402
from spect_toolkit.phantom import make_cohort  # noqa: E402
from spect_toolkit.phantom.cohort import draw_subject, tissue_masks, world_to_template  # noqa: E402
from spect_toolkit.template import AC_SLICE, CANONICAL_GRID  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=60)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("/tmp/phantom-realism"))
    parser.add_argument(
        "--figure", type=Path, default=Path(__file__).resolve().parents[1] / "figures" / "phantom_levels.png"
    )
    args = parser.parse_args()
    mix = {"normal": 0.4, "unilateral": 0.4, "bilateral": 0.2}
    paths = make_cohort(args.out, args.patients, args.seed, mix, jobs=2)
    truth = pd.read_csv(paths.ground_truth)

    rows = []
    examples: dict[str, dict[str, np.ndarray]] = {}
    for index in range(args.patients):
        subject = draw_subject(index, args.seed, mix)
        masks = tissue_masks(subject)
        core = tissue_masks(subject, gm_threshold=0.7, wm_threshold=0.95)  # away from tissue borders
        template = world_to_template(subject, subject.acquisition_grid)
        cerebrum = masks["gm"] & (template[..., 2] > -10)
        left, right = cerebrum & (template[..., 0] > 5), cerebrum & (template[..., 0] < -5)
        for condition in ("rest", "stress"):
            row = truth[(truth.seed == args.seed) & (truth.condition == condition)].iloc[index]
            volume = read_volume(args.out / row.path)
            ratio = volume.array[left].mean() / volume.array[right].mean()
            affected = ratio if subject.side == "L" else 1 / ratio  # affected / unaffected for unilateral
            rows.append(
                {
                    "pattern": subject.pattern,
                    "condition": condition,
                    "grey": volume.array[masks["gm"]].mean(),
                    "white": volume.array[masks["wm"]].mean(),
                    "grey_core": volume.array[core["gm"]].mean(),
                    "deep_white": volume.array[core["wm"]].mean(),
                    "left_right": ratio,
                    "affected_over_unaffected": affected if subject.pattern == "unilateral" else np.nan,
                }
            )
            if subject.pattern not in examples or len(examples[subject.pattern]) < 2:
                if subject.pattern != "unilateral" or subject.side == "L":
                    rotation = np.array([[row[f"r{i}{j}"] for j in range(3)] for i in range(3)])
                    translation = np.array([row.tx_mm, row.ty_mm, row.tz_mm])
                    examples.setdefault(subject.pattern, {})[condition] = resample_to_canonical(
                        volume, rotation, translation
                    )
    table = pd.DataFrame(rows)
    summary = table.groupby(["pattern", "condition"]).agg(
        n=("grey", "size"),
        grey_mean=("grey", "mean"),
        grey_sd=("grey", "std"),
        white_mean=("white", "mean"),
        white_sd=("white", "std"),
        grey_core=("grey_core", "mean"),
        deep_white=("deep_white", "mean"),
        left_right_mean=("left_right", "mean"),
        left_right_sd=("left_right", "std"),
        affected_over_unaffected=("affected_over_unaffected", "median"),
    )
    print(summary.round(3).to_markdown())

    levels = {"CER": AC_SLICE - 6, "BG": AC_SLICE + 1, "COR": AC_SLICE + 10}
    fig, axes = plt.subplots(3, 6, figsize=(13, 7), facecolor="black")
    for r, (level, k) in enumerate(levels.items()):
        for c, (pattern, condition) in enumerate(
            [(p, cnd) for p in ("normal", "unilateral", "bilateral") for cnd in ("rest", "stress")]
        ):
            ax = axes[r, c]
            ax.imshow(examples[pattern][condition][k], cmap="gray", vmin=0, vmax=80)
            ax.set_xticks([]), ax.set_yticks([])
            if r == 0:
                ax.set_title(f"{pattern}\n{condition}", color="white", fontsize=10)
            if c == 0:
                ax.set_ylabel(f"{level}\nz={CANONICAL_GRID.axis('z')[k]:.0f} mm", color="white")
    fig.suptitle(
        "Phantom 123I-IMP CBF (0-80 mL/100 g/min), AC-PC aligned by true pose; "
        "radiological view (patient left on the image right); unilateral = left MCA",
        color="white",
        fontsize=10,
    )
    args.figure.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.figure, dpi=90, facecolor="black", bbox_inches="tight")
    print(f"figure: {args.figure}")


if __name__ == "__main__":
    main()
