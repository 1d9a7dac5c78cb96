"""A run's measures over its epochs: how far each checkpoint's slices lie from the real ones.

One feature network (trained on the real training split) serves every epoch, so the Frechet distances of one
run's checkpoints are comparable with each other; the two-sample test trains its own judge per epoch. The paper's
MC and LR comparisons are made per epoch on their own (Dunnett's test with one group against real), so an epoch's
P values do not depend on which other epochs were scored.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ArgumentError, SchemaError
from ..manifest import load_manifest, manifest_source, select_split
from ..progress import progress_bar
from ..samples import Samples, load_samples
from ..vocabulary import PATTERNS
from . import distances, features
from .evaluation import RealSlices, slice_table
from .stats import REAL, compare_with_real

PAPER_MEASURES = ("mc", "lr")
COLUMNS = (
    "epoch",
    "n",
    "frechet_distance",
    "two_sample_auc",
    "auc_low",
    "auc_high",
    *(f"{m}_p_{p}" for m in PAPER_MEASURES for p in PATTERNS),
    *(f"lr_median_{p}" for p in PATTERNS),
    "feature_space",  # FeatureSpace.fingerprint of the network that gave the Frechet distance
    "two_sample_test",  # distances.two_sample_label of the test that gave the AUC ("" when not run)
)


def measures_over_epochs(
    real_manifest: str | Path | pd.DataFrame,
    samples: Mapping[int, str | Path | Samples],
    split: str = "holdout",
    seed: int = 0,
    two_sample: bool = True,
    feature_epochs: int = 30,
    c2st_epochs: int = distances.C2ST_EPOCHS,
    show_progress: bool = False,
    space: features.FeatureSpace | None = None,
    c2st_repeats: int = 1,
) -> pd.DataFrame:
    """One row per epoch of ``samples`` (epoch -> that checkpoint's slices), columns :data:`COLUMNS`; the real
    slices' LR medians per pattern are in ``attrs["real_lr_median"]``. Epochs whose samples cannot be read are
    skipped and named in ``attrs["skipped"]`` (a long run's folder may hold a damaged file). ``space``: a feature
    network already trained on the training split, to score several runs in one space without training it again;
    its fingerprint is in the ``feature_space`` column, so that a stored table's Frechet distances are compared
    only with others from the same network; the ``two_sample_test`` column says the same of its AUCs."""
    if split not in ("train", "holdout"):
        raise ArgumentError(f"split must be train or holdout, got {split!r}")
    if not samples:
        raise ArgumentError("give the samples of at least one epoch")
    manifest = real_manifest if isinstance(real_manifest, pd.DataFrame) else load_manifest(real_manifest)
    real = RealSlices.from_manifest(select_split(manifest, split))
    if len(real.images) < 2:
        raise SchemaError(manifest_source(manifest), f"too few real slices in the {split} split to compare with")
    if space is None:  # the training split's slices are read only to train the network
        train = RealSlices.from_manifest(select_split(manifest, "train"))
        if len(train.images) < 2:
            raise SchemaError(manifest_source(manifest), "too few real slices in the train split to train on")
        space = features.FeatureSpace.of(train, feature_epochs, seed)

    fingerprint = space.fingerprint
    rows, skipped, real_medians, references = [], {}, {}, {}
    with progress_bar("scoring epochs", total=len(samples), enabled=show_progress) as advance:
        for epoch in sorted(samples):
            try:
                group = samples[epoch] if isinstance(samples[epoch], Samples) else load_samples(samples[epoch])
            except SchemaError as exc:
                skipped[epoch] = str(exc)
                advance(1)
                continue
            levels = tuple(np.unique(group.level))
            if levels not in references:  # a run's epochs share their levels: embed the real slices once
                reference = real.at_levels(levels)
                references[levels] = reference, space.embed(reference.images)
            reference, reference_features = references[levels]
            table = slice_table(reference, {"synthetic": group})
            row = {"epoch": epoch, "n": len(group.images), "feature_space": fingerprint, "two_sample_test": ""}
            row["frechet_distance"] = distances.frechet_distance(reference_features, space.embed(group.images))
            if two_sample:
                test = distances.two_sample_auc(
                    reference.images,
                    group.images,
                    epochs=c2st_epochs,
                    seed=seed,
                    real_groups=reference.patient,
                    repeats=c2st_repeats,
                )
                row.update(two_sample_auc=test["auc"], auc_low=test["auc_low"], auc_high=test["auc_high"])
                row["two_sample_test"] = test["test"]
            for measure in PAPER_MEASURES:
                compared = compare_with_real(table, measure)
                p_values = dict(zip(compared.get("pattern", []), compared.get("dunnett_p", [])))
                row.update({f"{measure}_p_{p}": p_values.get(p, np.nan) for p in PATTERNS})
            medians = table.groupby(["group", "pattern"])["lr"].median()
            row.update({f"lr_median_{p}": medians.get(("synthetic", p), np.nan) for p in PATTERNS})
            real_medians = real_medians or {p: float(medians.get((REAL, p), np.nan)) for p in PATTERNS}
            rows.append(row)
            advance(1)
    result = pd.DataFrame(rows, columns=list(COLUMNS))
    result.attrs.update(real_lr_median=real_medians, skipped=skipped, split=split)
    return result
