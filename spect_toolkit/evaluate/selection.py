"""Choosing a run's epoch by a measured criterion instead of by eye.

Criterion: the Frechet distance, in the feature space of a network trained on the real training split, between
held-out real slices (at the run's levels) and as many slices per (level, pattern) from the checkpoint (at least
``minimum_per_condition``); the epoch with the lowest distance wins. It is written to ``selected_epoch.json`` in
the run folder, which ``generate(epoch="best")`` reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import SchemaError
from ..gan import RunFolder, generate
from ..manifest import load_manifest, select_split
from ..progress import progress_bar
from .distances import frechet_distance
from .evaluation import RealSlices
from .features import FeatureSpace

CRITERION = "lowest Frechet distance to held-out real slices in a real-trained feature space"


@dataclass(frozen=True)
class EpochSelection:
    epoch: int
    criterion: str
    scores: dict[int, float]  # epoch -> criterion value (lower is better)
    held_out_slices: int
    generated_per_condition: int

    def to_dict(self) -> dict:
        """As written to ``selected_epoch.json`` (JSON keys are strings)."""
        return {
            "epoch": self.epoch,
            "criterion": self.criterion,
            "scores": {str(k): v for k, v in self.scores.items()},
            "held_out_slices": self.held_out_slices,
            "generated_per_condition": self.generated_per_condition,
        }


def select_epoch(
    run_dir: str | Path,
    manifest: str | Path | pd.DataFrame,
    minimum_per_condition: int = 20,
    seed: int = 0,
    show_progress: bool = False,
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
        raise SchemaError(manifest.attrs.get("root"), "too few held-out slices at the run's levels to score epochs")
    space = FeatureSpace.train(train.images, train.level, train.pattern, seed=seed)
    real_features = space.embed(holdout.images)
    counts = holdout_rows[holdout_rows["level"].isin(config.levels)].groupby(["level", "pattern"]).size()
    per_condition = max(minimum_per_condition, int(counts.max()))
    scores = {}
    with progress_bar("scoring epochs", total=len(epochs), enabled=show_progress) as advance:
        for epoch in epochs:
            samples = generate(run.root, per_condition=per_condition, seed=seed, epoch=epoch)
            scores[epoch] = frechet_distance(real_features, space.embed(samples.images))
            advance(1)
    best = min(scores, key=scores.get)
    selection = EpochSelection(
        best, CRITERION, {k: round(v, 4) for k, v in scores.items()}, len(holdout.images), per_condition
    )
    run.save_selection(selection.to_dict())
    return selection
