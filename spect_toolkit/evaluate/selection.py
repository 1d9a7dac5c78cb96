"""Choosing a run's epoch by a measured criterion instead of by eye.

Criterion: the Frechet distance, in the feature space of a network trained on the real training split, between
held-out real slices (at the run's levels) and as many slices per (level, pattern) from the checkpoint (at least
``minimum_per_condition``); the epoch with the lowest distance wins. It is written to ``selected_epoch.json`` in
the run folder, which ``generate(epoch="best")`` reads.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..errors import SchemaError
from ..gan import checkpoint, generate
from ..gan.config import GanConfig
from ..gan.train import CONFIG_FILE
from ..manifest import load_manifest, select_split
from ..progress import progress_bar
from .distances import frechet_distance
from .evaluation import RealSlices
from .features import FeatureSpace

SELECTION_FILE = "selected_epoch.json"
CRITERION = "lowest Frechet distance to held-out real slices in a real-trained feature space"


def select_epoch(run_dir: str | Path, manifest: str | Path | pd.DataFrame, minimum_per_condition: int = 20,
                 seed: int = 0, show_progress: bool = False) -> dict:
    run_dir = Path(run_dir)
    config = GanConfig.load(run_dir / CONFIG_FILE)
    epochs = checkpoint.saved_epochs(run_dir)
    if not epochs:
        raise SchemaError(run_dir, "the run has no epoch checkpoints to choose from")
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
            samples = generate(run_dir, per_condition=per_condition, seed=seed, epoch=epoch)
            scores[epoch] = frechet_distance(real_features, space.embed(samples.images))
            advance(1)
    best = min(scores, key=scores.get)
    result = {"epoch": best, "criterion": CRITERION, "scores": {str(k): round(v, 4) for k, v in scores.items()},
              "held_out_slices": len(holdout.images), "generated_per_condition": per_condition}
    (run_dir / SELECTION_FILE).write_text(json.dumps(result, indent=2) + "\n")
    return result


def selected_epoch(run_dir: str | Path) -> int:
    path = Path(run_dir) / SELECTION_FILE
    if not path.exists():
        raise SchemaError(run_dir, "no epoch selected yet: run spect select-epoch first")
    return int(json.loads(path.read_text())["epoch"])
