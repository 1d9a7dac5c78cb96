"""Choosing a run's epoch by a measured criterion instead of by eye.

Criterion: the Frechet distance, in the feature space of a network trained on the real training split, between
held-out real slices (at the run's levels) and as many slices per (level, pattern) from the checkpoint (at least
``minimum_per_condition``). One draw of generated slices gives a noisy value, and neighbouring checkpoints of a GAN
differ more than their quality does, so each epoch's value is the mean over ``draws`` latent draws (their standard
deviation reported as the spread), then smoothed over neighbouring checkpoints by a running median of three; the
epoch with the lowest smoothed value wins. It is written to ``selected_epoch.json`` in the run folder, which
``generate(epoch="best")`` reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import SchemaError
from ..gan import RunFolder, generate
from ..manifest import load_manifest, manifest_source, select_split
from ..progress import progress_bar
from .distances import frechet_distance
from .evaluation import RealSlices
from .features import FeatureSpace

CRITERION = (
    "lowest Frechet distance to held-out real slices in a real-trained feature space, mean of several latent draws, "
    "running median over three neighbouring checkpoints"
)


@dataclass(frozen=True)
class EpochSelection:
    epoch: int
    criterion: str
    scores: dict[int, float]  # epoch -> smoothed criterion value (lower is better); the choice is its minimum
    held_out_slices: int
    generated_per_condition: int
    raw: dict[int, float] | None = None  # epoch -> mean over draws, before smoothing
    spread: dict[int, float] | None = None  # epoch -> standard deviation over draws

    def to_dict(self) -> dict:
        """As written to ``selected_epoch.json`` (JSON keys are strings)."""
        return {
            "epoch": self.epoch,
            "criterion": self.criterion,
            "scores": {str(k): v for k, v in self.scores.items()},
            "held_out_slices": self.held_out_slices,
            "generated_per_condition": self.generated_per_condition,
            "raw": {str(k): v for k, v in (self.raw or {}).items()},
            "spread": {str(k): v for k, v in (self.spread or {}).items()},
        }


def smoothed(values: dict[int, float]) -> dict[int, float]:
    """Running median of three over epochs in order (the ends take the median of the two they have)."""
    epochs = sorted(values)
    out = {}
    for i, epoch in enumerate(epochs):
        window = [values[e] for e in epochs[max(0, i - 1) : i + 2]]
        out[epoch] = float(np.median(window))
    return out


def select_epoch(
    run_dir: str | Path,
    manifest: str | Path | pd.DataFrame,
    minimum_per_condition: int = 20,
    seed: int = 0,
    show_progress: bool = False,
    draws: int = 3,
) -> EpochSelection:
    run = RunFolder(run_dir)
    config = run.load_config()
    epochs = run.saved_epochs()
    if not epochs:
        raise SchemaError(run.root, "the run has no epoch checkpoints to choose from")
    manifest = manifest if isinstance(manifest, pd.DataFrame) else load_manifest(manifest)
    train = RealSlices.from_manifest(select_split(manifest, "train")).at_levels(config.levels)
    holdout_rows = select_split(manifest, "holdout")
    holdout = RealSlices.from_manifest(holdout_rows).at_levels(config.levels)
    if len(holdout.images) < 2:
        raise SchemaError(manifest_source(manifest), "too few held-out slices at the run's levels to score epochs")
    space = FeatureSpace.of(train, seed=seed)
    real_features = space.embed(holdout.images)
    counts = holdout_rows[holdout_rows["level"].isin(config.levels)].groupby(["level", "pattern"]).size()
    per_condition = max(minimum_per_condition, int(counts.max()))
    raw, spread = {}, {}
    with progress_bar("scoring epochs", total=len(epochs), enabled=show_progress) as advance:
        for epoch in epochs:
            values = [
                frechet_distance(
                    real_features,
                    space.embed(generate(run.root, per_condition=per_condition, seed=seed + draw, epoch=epoch).images),
                )
                for draw in range(draws)
            ]
            raw[epoch], spread[epoch] = float(np.mean(values)), float(np.std(values))
            advance(1)
    scores = smoothed(raw)
    best = min(scores, key=scores.get)
    selection = EpochSelection(
        best,
        CRITERION,
        {k: round(v, 4) for k, v in scores.items()},
        len(holdout.images),
        per_condition,
        {k: round(v, 4) for k, v in raw.items()},
        {k: round(v, 4) for k, v in spread.items()},
    )
    run.save_selection(selection.to_dict())
    return selection
