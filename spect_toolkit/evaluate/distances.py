"""Distribution distances, coverage, the classifier two-sample test and the memorisation audit."""

from __future__ import annotations

import numpy as np
from scipy import linalg
from scipy.stats import mannwhitneyu

from ..errors import ArgumentError
from . import features
from .measures import normalise

# Long enough for the classifier to converge on 64x64 slices: at 15 epochs it scored the same synthetic slices
# 0.78-1.00 by its seed, at 40 it separated them every time (docs/evaluate.md; 179 slices a class, 6 batches a
# fold). An epoch counts at least C2ST_MIN_BATCHES batches, so that a small sample gets as many steps: 40 passes
# over 66 slices a class (3 batches) scored one checkpoint 0.735-1.000 by classifier seed, 80 passes 1.000.
C2ST_EPOCHS = 40
C2ST_MIN_BATCHES = 6


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two sets of feature vectors (as FID, on our features)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    # ReLU features leave some units always off: a small ridge keeps the covariance product's root defined.
    ridge = 1e-6 * np.eye(a.shape[1])
    cov_a, cov_b = np.cov(a, rowvar=False) + ridge, np.cov(b, rowvar=False) + ridge
    root = linalg.sqrtm(cov_a @ cov_b)
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * np.real(root)))


def kernel_distance(a: np.ndarray, b: np.ndarray, subsets: int = 20, size: int = 200, seed: int = 0) -> float:
    """KID: unbiased squared MMD with the cubic polynomial kernel, averaged over random subsets."""
    rng = np.random.default_rng(seed)
    size = min(size, len(a), len(b))
    d = a.shape[1]
    values = []
    for _ in range(subsets):
        x, y = a[rng.choice(len(a), size, replace=False)], b[rng.choice(len(b), size, replace=False)]
        kxx, kyy, kxy = ((x @ x.T) / d + 1) ** 3, ((y @ y.T) / d + 1) ** 3, ((x @ y.T) / d + 1) ** 3
        off = ~np.eye(size, dtype=bool)
        values.append(kxx[off].mean() + kyy[off].mean() - 2 * kxy.mean())
    return float(np.mean(values))


def _pairwise(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sqrt(np.maximum((a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2 * a @ b.T, 0))


def precision_recall_coverage(real: np.ndarray, fake: np.ndarray, k: int = 5) -> dict[str, float]:
    """Precision and recall (Kynkaanniemi et al. 2019) and coverage (Naeem et al. 2020) with k-NN balls."""
    real_radius = np.sort(_pairwise(real, real), axis=1)[:, k]
    fake_radius = np.sort(_pairwise(fake, fake), axis=1)[:, k]
    cross = _pairwise(real, fake)
    return {
        "precision": float((cross <= real_radius[:, None]).any(0).mean()),
        "recall": float((cross <= fake_radius[None, :]).any(1).mean()),
        "coverage": float((cross.min(1) <= real_radius).mean()),
    }


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Area under the ROC curve as the Mann-Whitney U statistic over all pairs."""
    return float(mannwhitneyu(positive, negative).statistic / (len(positive) * len(negative)))


def two_sample_auc(
    real: np.ndarray,
    synthetic: np.ndarray,
    folds: int = 2,
    epochs: int = C2ST_EPOCHS,
    seed: int = 0,
    boot: int = 1000,
    real_groups: np.ndarray | None = None,
    synthetic_groups: np.ndarray | None = None,
    repeats: int = 1,
) -> dict[str, float | int | str | list[float]]:
    """Classifier two-sample test: a CNN learns real against synthetic on all folds but one and scores the
    held-out fold; AUC over every held-out score, with a 95 % bootstrap interval. 0.5: indistinguishable. The CNN
    trains ``epochs`` passes, more where a pass is shorter than ``C2ST_MIN_BATCHES`` batches
    (``classifier_steps``: the fewest optimiser steps of any fold).

    ``real_groups`` (the patient of each real slice) keeps a patient's slices in one fold and resamples them
    together in the bootstrap. Without it the classifier meets, in its test fold, patients it learnt in training
    and can tell the real sample by its patients' anatomy rather than by realism: two real samples of different
    patients then score well above 0.5 once the classifier is trained long enough to learn them.

    ``synthetic_groups`` does the same for the other sample, where it is real slices too (a control: two real
    samples of different patients, both grouped, are a null and should score near 0.5).

    ``repeats``: the whole test run that many times, each with its own draw of slices, folds and classifier
    initialisation; ``auc`` is their mean and ``auc_repeats`` each one. One classifier's AUC on the same slices
    swings with its seed (0.80-0.91 over five seeds for one checkpoint, docs/gan.md), so near 0.5 one fit can
    flatter a generator. The interval is then the bootstrap's of the mean: each draw resamples the patients (or
    slices) once and scores every repeat on that one resample."""
    if repeats < 1:
        raise ArgumentError(f"repeats must be at least 1, got {repeats}")
    for groups, sample, name in ((real_groups, real, "real"), (synthetic_groups, synthetic, "synthetic")):
        if groups is not None and len(groups) != len(sample):
            raise ArgumentError(f"{len(groups)} patient labels for {len(sample)} {name} slices")
    rng = np.random.default_rng(seed)
    n = min(len(real), len(synthetic))
    picks, fits, groups = [], [], (real_groups, synthetic_groups)
    for r in range(repeats):
        # the first repeat is the single test's own draw, so that repeats=1 is the single test
        draw = rng if r == 0 else np.random.default_rng([seed, r])
        pick = draw.choice(len(real), n, replace=False), draw.choice(len(synthetic), n, replace=False)
        picks.append(pick)
        fits.append(_scored_folds((real, synthetic), pick, groups, folds, epochs, seed + r * folds, draw))
    labels = np.repeat([0, 1], n)
    real_clusters = _shared_clusters([p for p, _ in picks], real_groups)
    synthetic_clusters = _shared_clusters([p for _, p in picks], synthetic_groups)
    offset = max(c.max() for c in real_clusters) + 1
    count = offset + max(c.max() for c in synthetic_clusters) + 1
    clusters = [np.concatenate([r, offset + s]) for r, s in zip(real_clusters, synthetic_clusters)]
    values = [auc(scores[labels == 1], scores[labels == 0]) for scores, _ in fits]
    draws = []
    for _ in range(boot):
        weight = np.bincount(rng.integers(0, count, count), minlength=count)
        drawn = []
        for (scores, _), cluster in zip(fits, clusters):
            y, s = np.repeat(labels, weight[cluster]), np.repeat(scores, weight[cluster])
            if not 0 < y.sum() < len(y):
                break
            drawn.append(auc(s[y == 1], s[y == 0]))
        else:
            draws.append(float(np.mean(drawn)))
    low, high = np.percentile(draws, [2.5, 97.5])
    return {
        "auc": float(np.mean(values)),
        "auc_low": float(low),
        "auc_high": float(high),
        "auc_repeats": values,
        "n_per_class": int(n),
        "classifier_steps": min(steps for _, steps in fits),
        "test": two_sample_label(epochs, by_patient=real_groups is not None, repeats=repeats),
    }


def _scored_folds(samples, picks, groups, folds: int, epochs: int, seed: int, rng) -> tuple[np.ndarray, int]:
    """Each picked slice's held-out score (the real sample's picks first) and the fewest optimiser steps of a
    fold; ``samples``, ``picks`` and ``groups``: (real, synthetic) pairs."""
    (real, synthetic), (real_pick, synthetic_pick), (real_groups, synthetic_groups) = samples, picks, groups
    n = len(real_pick)
    images = np.concatenate([real[real_pick], synthetic[synthetic_pick]])
    labels = np.repeat([0, 1], n)
    real_clusters = _clusters(real_groups, real_pick)
    clusters = np.concatenate([real_clusters, real_clusters.max() + 1 + _clusters(synthetic_groups, synthetic_pick)])
    cluster_fold = rng.permutation(np.arange(clusters.max() + 1) % folds)
    fold = cluster_fold[clusters]
    scores, steps = np.zeros(2 * n), []
    for f in range(folds):
        model = features.fit(images[fold != f], labels[fold != f], 2, epochs, seed + f, C2ST_MIN_BATCHES)
        steps.append(int(model.optimizer.iterations.numpy()))
        logits = features.predict_logits(model, images[fold == f])
        scores[fold == f] = logits[:, 1] - logits[:, 0]
    return scores, min(steps)


def _clusters(groups: np.ndarray | None, pick: np.ndarray) -> np.ndarray:
    """Cluster number 0, 1, ... of each picked slice: its patient's, or its own where there are no patients."""
    if groups is None:
        return np.arange(len(pick))
    return np.unique(np.asarray(groups)[pick], return_inverse=True)[1]


def _shared_clusters(picks: list[np.ndarray], groups: np.ndarray | None) -> list[np.ndarray]:
    """:func:`_clusters` numbered across several draws, so that one bootstrap resample means the same patients (or
    slices) in each: patients in sorted order, slices in the order of their first draw (so that a single draw's
    numbers are :func:`_clusters`')."""
    keys = np.concatenate([np.asarray(groups)[p] if groups is not None else p for p in picks])
    values, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    if groups is None:
        rank = np.empty(len(values), dtype=int)
        rank[np.argsort(first, kind="stable")] = np.arange(len(values))
        inverse = rank[inverse]
    return np.split(inverse, np.cumsum([len(p) for p in picks])[:-1])


def two_sample_label(epochs: int = C2ST_EPOCHS, by_patient: bool = True, repeats: int = 1) -> str:
    """How an AUC was measured (carried in every result), so that stored AUCs of different tests are not mixed."""
    folded = "by patient" if by_patient else "slice by slice"
    label = f"classifier {epochs} epochs of at least {C2ST_MIN_BATCHES} batches, real slices folded {folded}"
    return label if repeats == 1 else f"{label}, mean of {repeats} repeats"


def nearest_distances(queries: np.ndarray, reference: np.ndarray, chunk: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean distance of each max-normalised query slice to its nearest reference slice, and its index."""
    q = normalise(queries).reshape(len(queries), -1).astype(np.float64)
    r = normalise(reference).reshape(len(reference), -1).astype(np.float64)
    best, index = np.empty(len(q)), np.empty(len(q), int)
    for start in range(0, len(q), chunk):
        d = _pairwise(q[start : start + chunk], r)
        index[start : start + chunk] = d.argmin(1)
        best[start : start + chunk] = d.min(1)
    return best, index


def memorisation_audit(
    train: np.ndarray,
    holdout: np.ndarray,
    synthetic: np.ndarray,
    percentile: float = 1.0,
    holdout_distance: np.ndarray | None = None,
) -> dict:
    """Distances to the nearest training slice: synthetic slices against held-out real ones. A generator that
    copies its training set puts many synthetic slices closer than almost any genuinely new real slice.
    ``holdout_distance`` (from :func:`nearest_distances`) saves recomputing it when several sets are audited."""
    holdout_d = nearest_distances(holdout, train)[0] if holdout_distance is None else holdout_distance
    synth_d, synth_nn = nearest_distances(synthetic, train)
    threshold = float(np.percentile(holdout_d, percentile))
    return {
        "threshold": threshold,
        "share_below": float(np.mean(synth_d < threshold)),
        "median_synthetic": float(np.median(synth_d)),
        "median_holdout": float(np.median(holdout_d)),
        "synthetic_distance": synth_d,
        "synthetic_nearest": synth_nn,
        "holdout_distance": holdout_d,
    }


NULL_MIN_PATIENTS = 4  # two halves of at least two patients each


def memorisation_null(
    holdout_distance: np.ndarray, patients: np.ndarray, percentile: float = 1.0, draws: int = 1000, seed: int = 0
) -> dict:
    """The memorised share that new real patients get: the held-out patients split at random into two halves, the
    threshold taken from one half's distances to the training set, the share of the other half's slices under it.

    The audit's threshold is a percentile of the held-out slices themselves, so a generator that draws like new
    patients does not score 0: a patient whose anatomy or defect resembles a training patient's lies close to
    them. ``median`` and ``high`` (95th percentile over ``draws``) are what such a generator would be read
    against; ``zero`` is how often a real half has no slice under the threshold at all."""
    patients = np.asarray(patients)
    if len(patients) != len(holdout_distance):
        raise ArgumentError(f"{len(patients)} patient keys for {len(holdout_distance)} held-out slices")
    unique = np.unique(patients)
    if len(unique) < NULL_MIN_PATIENTS:
        raise ArgumentError(f"the memorisation null splits held-out patients in two halves; {len(unique)} is too few")
    rng = np.random.default_rng(seed)
    shares = np.empty(draws)
    for i in range(draws):
        half = np.isin(patients, rng.choice(unique, len(unique) // 2, replace=False))
        threshold = np.percentile(holdout_distance[half], percentile)
        shares[i] = np.mean(holdout_distance[~half] < threshold)
    return {
        "median": float(np.median(shares)),
        "high": float(np.percentile(shares, 95)),
        "zero": float(np.mean(shares == 0)),
        "draws": draws,
    }
