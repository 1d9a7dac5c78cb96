"""``evaluate``: real slices against one or more synthetic sets, the paper's protocol and the measures beyond it."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ArgumentError, SchemaError
from ..manifest import load_manifest, load_slices, manifest_source, select_split
from ..progress import progress_bar
from ..samples import Samples, load_samples
from ..vocabulary import PATTERNS, SLICE_SHAPE
from . import distances, features, figures
from .measures import left_lower_share, lr_medians, slice_measures
from .report import write_report
from .stats import PATIENT, REAL, paper_comparisons


@dataclass(frozen=True)
class RealSlices:
    images: np.ndarray
    level: np.ndarray
    pattern: np.ndarray
    patient: np.ndarray  # keyed patient hash: the slices of one patient are not independent draws
    side: np.ndarray  # the defect's side (the worse one of a bilateral defect), none for a normal slice

    @classmethod
    def from_manifest(cls, manifest: pd.DataFrame) -> RealSlices:
        if manifest.empty:
            empty = np.array([], str)
            return cls(np.zeros((0, *SLICE_SHAPE), np.float32), empty, empty, empty, empty)
        columns = (manifest[c].to_numpy(str) for c in ("level", "pattern", "patient_key", "side"))
        return cls(load_slices(manifest).slices, *columns)

    def at_levels(self, levels) -> RealSlices:
        keep = np.isin(self.level, list(levels))
        return RealSlices(*(getattr(self, f.name)[keep] for f in fields(self)))


@dataclass(frozen=True)
class GroupScores:
    """The headline numbers of one synthetic set (the full set is in ``Evaluation.metrics``)."""

    name: str
    n: int
    frechet_distance: float
    kernel_distance: float
    precision: float
    recall: float
    coverage: float
    two_sample_auc: float
    conditional_accuracy: float  # level and pattern both as requested
    memorised_share: float
    utility_synthetic: float  # balanced accuracy on held-out real slices, trained on synthetic
    utility_real: float  # the same, trained on real training slices

    @classmethod
    def from_metrics(cls, name: str, group: dict) -> GroupScores:
        return cls(
            name=name,
            n=group["n"],
            frechet_distance=group["frechet_distance"],
            kernel_distance=group["kernel_distance"],
            precision=group["precision"],
            recall=group["recall"],
            coverage=group["coverage"],
            two_sample_auc=group["two_sample"]["auc"],
            conditional_accuracy=group["conditional_accuracy"]["both"],
            memorised_share=group["memorisation"]["share_below"],
            utility_synthetic=group["utility"]["trained_on_synthetic"],
            utility_real=group["utility"]["trained_on_real"],
        )


@dataclass(frozen=True)
class Evaluation:
    metrics: dict  # everything, as written to metrics.json
    slices: pd.DataFrame  # one row per slice: group, level, pattern, the paper's measures
    report: Path

    @property
    def groups(self) -> dict[str, GroupScores]:
        return {name: GroupScores.from_metrics(name, g) for name, g in self.metrics["groups"].items()}


def evaluate(
    real_manifest: str | Path | pd.DataFrame,
    synthetic: dict[str, str | Path | Samples],
    out: str | Path,
    split: str = "holdout",
    feature_epochs: int = 30,
    c2st_epochs: int = distances.C2ST_EPOCHS,
    seed: int = 0,
    show_progress: bool = False,
    c2st_repeats: int = 1,
) -> Evaluation:
    """Compare the real slices of ``split`` with each synthetic set; write ``report.html``, ``metrics.json`` and
    ``slices.csv`` to ``out``. Feature, judge and utility networks learn from the training split only.
    ``c2st_repeats``: the two-sample test's AUC is the mean of that many classifiers
    (:func:`~spect_toolkit.evaluate.distances.two_sample_auc`); one classifier's AUC swings with its seed."""
    manifest = real_manifest if isinstance(real_manifest, pd.DataFrame) else load_manifest(real_manifest)
    if split not in ("train", "holdout"):
        raise ArgumentError(f"split must be train or holdout, got {split!r}")
    groups = {name: s if isinstance(s, Samples) else load_samples(s) for name, s in synthetic.items()}
    if not groups or REAL in groups:
        raise ArgumentError("give at least one synthetic set, none of them named 'real'")
    train, holdout = (RealSlices.from_manifest(select_split(manifest, s)) for s in ("train", "holdout"))
    if len(holdout.images) == 0 or len(train.images) == 0:
        raise SchemaError(manifest_source(manifest), "the manifest needs at least two patients for a holdout")
    real = train if split == "train" else holdout
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    stages = 2 + 4 * len(groups)
    with progress_bar("evaluating", total=stages, enabled=show_progress) as advance:
        table = slice_table(real, groups)
        paper = paper_comparisons(table)
        space = features.FeatureSpace.of(train, feature_epochs, seed)
        judge_on_real = _conditional_accuracy(space, holdout)
        advance(2)
        metrics = {
            "split": split,
            "n_real": len(real.images),
            "n_train": len(train.images),
            "n_holdout": len(holdout.images),
            "feature_network_holdout_accuracy": judge_on_real,
            "paper": paper.to_dict("records"),
            "real_left_lower_share": _left_lower_share(table, REAL),
            "real_lr_median": _lr_medians(table, REAL),
            "groups": {},
        }
        images = {}
        holdout_distance, _ = distances.nearest_distances(holdout.images, train.images)
        if len(np.unique(holdout.patient)) >= distances.NULL_MIN_PATIENTS:
            metrics["memorisation_null"] = distances.memorisation_null(holdout_distance, holdout.patient, seed=seed)
        for name, samples in groups.items():
            reference = real.at_levels(np.unique(samples.level))
            fake_features = space.embed(samples.images)
            real_features = space.embed(reference.images)
            result = {
                "n": len(samples.images),
                "levels": sorted(set(samples.level)),
                "config_hash": samples.config_hash,
                "epoch": samples.epoch,
                "averaged_from": samples.averaged_from,
                "frechet_distance": distances.frechet_distance(real_features, fake_features),
                "kernel_distance": distances.kernel_distance(real_features, fake_features, seed=seed),
                **distances.precision_recall_coverage(real_features, fake_features),
                "conditional_accuracy": _conditional_accuracy(space, samples),
                "left_lower_share": _left_lower_share(table, name),
                "lr_median": _lr_medians(table, name),
            }
            advance(1)
            result["two_sample"] = distances.two_sample_auc(
                reference.images,
                samples.images,
                epochs=c2st_epochs,
                seed=seed,
                real_groups=reference.patient,
                repeats=c2st_repeats,
            )
            advance(1)
            audit = distances.memorisation_audit(
                train.images, holdout.images, samples.images, holdout_distance=holdout_distance
            )
            result["memorisation"] = {k: v for k, v in audit.items() if not isinstance(v, np.ndarray)}
            table.loc[table.group == name, "nearest_train_distance"] = audit["synthetic_distance"]
            advance(1)
            result["utility"] = _utility(
                train.at_levels(result["levels"]), holdout.at_levels(result["levels"]), samples, feature_epochs, seed
            )
            advance(1)
            metrics["groups"][name] = result
            images[name] = audit
    if split == "holdout":
        table.loc[table.group == REAL, "nearest_train_distance"] = holdout_distance

    figs = {
        "whiskers": figures.whiskers(table, [REAL, *groups]),
        "maps": figures.maps(
            {
                REAL: (real.images, real.level, real.pattern),
                **{n: (s.images, s.level, s.pattern) for n, s in groups.items()},
            }
        ),
        "examples": figures.examples(
            {
                REAL: (real.images, real.level, real.pattern),
                **{n: (s.images, s.level, s.pattern) for n, s in groups.items()},
            },
            seed=seed,
        ),
        **{f"memorisation_{n}": figures.memorisation(images[n], groups[n].images, train.images, n) for n in groups},
    }
    (out / "figures").mkdir(exist_ok=True)
    for name, data in figs.items():  # the same figures as files, for slides and papers
        (out / "figures" / f"{name}.png").write_bytes(data)
    table.to_csv(out / "slices.csv", index=False)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float) + "\n")
    report = write_report(out / "report.html", metrics, paper, figs)
    return Evaluation(metrics, table, report)


def slice_table(real: RealSlices, groups: dict[str, Samples]) -> pd.DataFrame:
    """One row per slice, real first: ``group`` (``real`` or the set's name), level, pattern, ``side`` (a real
    slice's defect side, a generated one's where its generator was asked for one; else empty), ``patient`` (the
    keyed hash of a real slice's patient; empty for generated slices), MC, SD, LR."""
    columns = {"level": real.level, "pattern": real.pattern, "side": real.side, PATIENT: real.patient}
    parts = [pd.DataFrame({"group": REAL, **columns}).join(slice_measures(real.images, real.level))]
    for name, samples in groups.items():
        columns = {"level": samples.level, "pattern": samples.pattern, "side": samples.side}
        parts.append(pd.DataFrame({"group": name, **columns}).join(slice_measures(samples.images, samples.level)))
    table = pd.concat(parts, ignore_index=True)
    table["nearest_train_distance"] = np.nan
    return table


def _left_lower_share(table: pd.DataFrame, group: str) -> float | None:
    rows = table[table["group"] == group]
    return left_lower_share(rows["lr"], rows["pattern"])


def _lr_medians(table: pd.DataFrame, group: str) -> dict[str, float]:
    rows = table[table["group"] == group]
    sides = rows["side"] if rows["side"].notna().all() else None  # per side where the set records its sides
    return lr_medians(rows["lr"], rows["pattern"], sides)


def _conditional_accuracy(space: features.FeatureSpace, slices) -> dict[str, float]:
    """Share of slices the real-trained classifier assigns to their own level, pattern, and both."""
    level, pattern = space.predict(slices.images)
    return {
        "level": float(np.mean(level == slices.level)),
        "pattern": float(np.mean(pattern == slices.pattern)),
        "both": float(np.mean((level == slices.level) & (pattern == slices.pattern))),
    }


def _balanced_accuracy(truth: np.ndarray, predicted: np.ndarray) -> float:
    present = [p for p in PATTERNS if np.any(truth == p)]
    return float(np.mean([np.mean(predicted[truth == p] == p) for p in present]))


def _utility(train: RealSlices, holdout: RealSlices, samples: Samples, epochs: int, seed: int) -> dict[str, float]:
    """A pattern classifier trained on synthetic slices only against one trained on real training slices, both
    scored on held-out real slices (balanced accuracy: each pattern counts the same)."""
    index = {p: i for i, p in enumerate(PATTERNS)}
    scores = {}
    for source, images, patterns in (
        ("synthetic", samples.images, samples.pattern),
        ("real", train.images, train.pattern),
    ):
        model = features.fit(images, np.array([index[p] for p in patterns]), len(PATTERNS), epochs, seed)
        predicted = np.array(PATTERNS)[features.predict_logits(model, holdout.images).argmax(1)]
        scores[f"trained_on_{source}"] = _balanced_accuracy(holdout.pattern, predicted)
    return scores
