"""What the classifier two-sample test measures, on one checkpoint's slices against the held-out patients.

0. Per-slice statistics a reader can name, each scored alone (the Mann-Whitney AUC of one number per slice, no
   classifier): the fraction of exactly zero pixels, percentiles of the brain's pixels (of the slice maximum), the
   power at the finest scales and the left/right asymmetry |log LR|; then the power spectrum against the held-out
   slices', band by band (also of the control slices of 2, plain and augmented once as in 6). Where one of them
   already separates the samples, it names a cue.
1. Its spread: the AUC of the same slices over several classifier seeds, for short and converged fits, with the
   real slices folded one by one and by patient. A fit stopped early scores the same slices high or low by its
   seed, and the low draws flatter the generator.
2. Two real samples, for scale: the held-out patients against training slices drawn with the same number of
   slices per level and pattern (the held-out patients have more unilateral defects than the training set). Folded
   by patient, both samples are grouped by their patients: a null, which should score near 0.5.
3. Its cues: real slices hold exact zeros (the reconstruction is clipped at zero, stored as integers and resampled
   with zero outside the volume) that a tanh generator reaches only in the limit. The slices are scored again
   after mapping their intensities onto the real histogram (one monotone map for every pixel): if the classifier
   saw only the histogram, that AUC would fall towards 0.5; then with both sides low-passed alike (a Gaussian of
   ``--sigma`` pixels): if it saw only the fine texture, that one would.
4. Its regions: both samples with the background set to zero (the brain only), then with the brain set to zero
   (the background only), each beside two real samples masked alike. The brain is where the mean training slice
   of the level exceeds ``--brain`` of the maximum. Then what in the background: the synthetic slices cut to the
   volume a training slice of their level covers (the zeros outside the resampled volume), then also set to zero
   below the threshold that gives them the held-out background's share of zeros, then only where each sample is
   zero (the zeros' shape), beside training slices reduced alike.
5. Each level alone (50-70 held-out slices a class here).
6. The generator's target: training slices (drawn as in 2) augmented as a training step augments its real batch
   (the Eq. 6 mix with a neighbour, the anterior-posterior shift of up to ``--ap-shift`` pixels, the mirror of
   symmetric patterns), against the held-out patients, with all of it, without the shift, and with the shift
   alone. A generator that learnt its real batches exactly would score the first, not 0.5: the floor of a run
   trained with that augmentation.

``--sections`` runs some of them (0 takes seconds; each other one minutes).

    python docs/scripts/two_sample_checks.py repro/ingest/manifest_table1.parquet variants/seed2/improved+remedies \
        --epoch 75 --seed 2
"""

from __future__ import annotations

import argparse
from functools import partial

import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter
from scipy.stats import mannwhitneyu

SECTIONS = ("statistics", "spread", "cues", "regions", "levels", "augmentation")


def histogram_matched(images: np.ndarray, reference: np.ndarray, points: int = 2001) -> np.ndarray:
    """``images`` with their pooled intensity quantiles moved onto ``reference``'s (both max-normalised)."""
    quantiles = np.linspace(0.0, 1.0, points)
    return np.interp(images, np.quantile(images, quantiles), np.quantile(reference, quantiles)).astype(np.float32)


def cycles_per_pixel(shape: tuple[int, int]) -> np.ndarray:
    """The radial frequency of each element of a 2D FFT of ``shape``."""
    return np.hypot(*np.meshgrid(np.fft.fftfreq(shape[0]), np.fft.fftfreq(shape[1]), indexing="ij"))


def edge_rings(images: np.ndarray, count: int = 3) -> np.ndarray:
    """Each slice's mean over the square rings of pixels 0, 1, ... ``count - 1`` pixels in from its edge."""
    from spect_toolkit.gan.losses import edge_depth

    depth = edge_depth(images.shape[1:])
    return np.stack([images[:, depth == k].mean(axis=1) for k in range(count)], axis=1)


def slice_statistics(images: np.ndarray, brain: np.ndarray, levels, patterns) -> dict[str, np.ndarray]:
    """One number per max-normalised slice and name; ``brain``: each slice's brain mask. The edge rings show a
    frame: a generator whose convolutions pad with zeros knows where the slice ends, and can draw one. The
    asymmetry |log LR| of the normal slices alone: mirroring sets the side a slice leans to, not how far."""
    from spect_toolkit.evaluate.measures import asymmetry

    lean = asymmetry(images, levels)
    normal = np.asarray(patterns) == "normal"
    frequency = cycles_per_pixel(images.shape[1:])
    power = np.abs(np.fft.fft2(images)) ** 2
    in_brain = [image[mask] for image, mask in zip(images, brain)]
    rings = edge_rings(images)
    return {
        "outermost ring": rings[:, 0],
        "second ring less its neighbours": rings[:, 1] - (rings[:, 0] + rings[:, 2]) / 2,
        "exactly zero": (images == 0).mean(axis=(1, 2)),
        **{f"brain {q}th percentile": np.array([np.percentile(v, q) for v in in_brain]) for q in (10, 50, 90, 99)},
        "log power, finest quarter": np.log(power[:, frequency >= 0.375].mean(axis=1)),
        "log power, coarse": np.log(power[:, (frequency > 0) & (frequency < 0.0625)].mean(axis=1)),
        "asymmetry |log LR|": lean,
        "asymmetry |log LR|, normal": lean[normal],
    }


def band_power(images: np.ndarray, edges=np.arange(0.0, 0.75, 0.05)) -> np.ndarray:
    """The mean power spectrum of a set of slices in bands of frequency (cycles per pixel) between ``edges``."""
    frequency = cycles_per_pixel(images.shape[1:])
    power = (np.abs(np.fft.fft2(images)) ** 2).mean(axis=0)
    return np.array([power[(frequency >= low) & (frequency < high)].mean() for low, high in zip(edges, edges[1:])])


def separation(values: np.ndarray, reference: np.ndarray) -> float:
    """The AUC of one number per slice: how often a slice of ``values`` exceeds one of ``reference``."""
    return float(mannwhitneyu(values, reference).statistic / (len(values) * len(reference)))


def same_conditions(pool: pd.DataFrame, like: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """Positions in ``pool`` of a draw without replacement with as many slices per level and pattern as ``like``."""
    wanted = like.groupby(["level", "pattern"]).size()
    positions = pd.Series(np.arange(len(pool)), index=pd.MultiIndex.from_frame(pool[["level", "pattern"]]))
    return np.concatenate([rng.choice(positions.loc[key].to_numpy(), n, replace=False) for key, n in wanted.items()])


def volume_support(image: np.ndarray) -> np.ndarray:
    """The pixels a slice's reoriented volume covers: those whose centres lie in the convex hull of its non-zero
    pixels' centres. Resampling onto the AC-PC grid fills what lies outside the acquired volume with zero, and a
    plane through a box is convex, so the hull is that region, the zeros inside it included."""
    from scipy.spatial import ConvexHull

    hull = ConvexHull(np.argwhere(image != 0))
    grid = np.stack(np.meshgrid(*map(np.arange, image.shape), indexing="ij"), -1).reshape(-1, 2)
    return (grid @ hull.equations[:, :2].T + hull.equations[:, 2] <= 1e-9).all(axis=1).reshape(image.shape)


def brain_masks(train: np.ndarray, levels: np.ndarray, threshold: float) -> dict[str, np.ndarray]:
    """Each level's brain mask: where the level's mean training slice (max-normalised) is above ``threshold``."""
    return {level: train[levels == level].mean(0) > threshold for level in np.unique(levels)}


def enclosed_zero_share(images: np.ndarray, region: np.ndarray) -> float:
    """Of the exactly zero pixels in ``region``, the share whose four neighbours are zero too: low for thin
    streaks of zeros, high for blobs."""
    zero = np.pad(images == 0, ((0, 0), (1, 1), (1, 1)))
    inner = zero[:, 1:-1, 1:-1]
    enclosed = inner & zero[:, :-2, 1:-1] & zero[:, 2:, 1:-1] & zero[:, 1:-1, :-2] & zero[:, 1:-1, 2:]
    return float((enclosed & region).sum() / (inner & region).sum())


def augmented(data, rng: np.random.Generator, mix: bool = True, ap_shift: int = 2, mirror: bool = True) -> np.ndarray:
    """``data`` (a :class:`~spect_toolkit.gan.model.TrainingSet`) augmented once as a training step augments its
    real batch (:func:`spect_toolkit.gan.step.real_batch`), max-normalised; ``mix=False``: each slice alone."""
    from spect_toolkit.evaluate.measures import normalise
    from spect_toolkit.gan import augment

    n = len(data)
    images = augment.augment_real(
        data.slices,
        data.below,
        data.above,
        data.flip_allowed,
        weight=rng.uniform(size=n).astype(np.float32) if mix else np.ones(n, np.float32),
        use_above=rng.uniform(size=n) < 0.5,
        shift=rng.integers(-ap_shift, ap_shift + 1, n),
        flip=(rng.uniform(size=n) < 0.5) & mirror,
    )
    return normalise(np.asarray(images))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest")
    parser.add_argument("run")
    parser.add_argument("--epoch", type=int, help="checkpoint to sample (default: the last)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed; classifier seeds are 0, 1, ...")
    parser.add_argument("--classifier-seeds", type=int, default=5)
    parser.add_argument("--fits", type=int, nargs="+", default=[15, 40], help="classifier epochs to compare")
    parser.add_argument("--sigma", type=float, default=1.5, help="low-pass width in pixels (4.42 mm each)")
    parser.add_argument("--brain", type=float, default=0.05, help="brain mask: mean training slice above this")
    parser.add_argument("--ap-shift", type=int, default=2, help="the augmentation's largest shift (paper: 2 px)")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    args = parser.parse_args()

    from spect_toolkit.evaluate.distances import two_sample_auc
    from spect_toolkit.evaluate.evaluation import RealSlices
    from spect_toolkit.evaluate.measures import normalise
    from spect_toolkit.gan import generate
    from spect_toolkit.manifest import load_manifest, select_split

    manifest = load_manifest(args.manifest)
    held_out_rows = select_split(manifest, "holdout")
    held_out = RealSlices.from_manifest(held_out_rows)
    train_rows = select_split(manifest, "train")
    train_slices = RealSlices.from_manifest(train_rows)
    train = normalise(train_slices.images)
    real = normalise(held_out.images)
    generated = generate(args.run, like=held_out_rows, seed=args.seed, epoch=args.epoch)
    synthetic = normalise(generated.images)
    drawn = same_conditions(train_rows, held_out_rows, np.random.default_rng(args.seed))
    others, others_patient = train[drawn], train_slices.patient[drawn]

    def scores(reference, images, epochs, grouped, seeds, patients=None, reference_patients=held_out.patient):
        """``patients``: those of ``images`` where they are real slices, grouped like the reference's."""
        groups = dict(real_groups=reference_patients, synthetic_groups=patients) if grouped else {}
        return [two_sample_auc(reference, images, epochs=epochs, seed=k, **groups) for k in range(seeds)]

    def spread(results) -> str:
        values = np.array([r["auc"] for r in results])
        return (
            f"{values.min():.3f}-{values.max():.3f} (mean {values.mean():.3f}; {', '.join(f'{v:.3f}' for v in values)})"
        )

    level_brain = brain_masks(train, train_rows.level.to_numpy(), args.brain)

    def brain_of(levels) -> np.ndarray:
        """Each slice's brain mask, from its own level (the samples are not in the same order)."""
        return np.stack([level_brain[level] for level in levels])

    brain, synthetic_brain = brain_of(held_out_rows.level), brain_of(generated.level)
    others_brain = brain_of(train_rows.level.to_numpy()[drawn])
    epochs = max(args.fits)

    if {"statistics", "augmentation"} & set(args.sections):
        from spect_toolkit.gan.train import training_set

        data, _ = training_set(train_rows.iloc[drawn], train_rows.level.unique())  # the control's slices
        augmentation_draws = np.random.default_rng(args.seed)
        augmented_once = augmented(data, augmentation_draws, ap_shift=args.ap_shift)

    print(f"{len(real)} held-out slices of {len(np.unique(held_out.patient))} patients; {len(synthetic)} synthetic")
    if "statistics" in args.sections:
        held, made, alike = (
            slice_statistics(images, mask, levels, patterns)
            for images, mask, levels, patterns in (
                (real, brain, held_out_rows.level, held_out_rows.pattern),
                (synthetic, synthetic_brain, generated.level, generated.pattern),
                (others, others_brain, train_rows.level.to_numpy()[drawn], train_rows.pattern.to_numpy()[drawn]),
            )
        )
        print(
            f"{'statistic':32s} {'AUC synthetic':>13s} {'AUC training':>12s}   median held out / synthetic / training"
        )
        for name in held:
            print(
                f"{name:32s} {separation(made[name], held[name]):13.3f} {separation(alike[name], held[name]):12.3f}"
                f"   {np.median(held[name]):.4g} / {np.median(made[name]):.4g} / {np.median(alike[name]):.4g}"
            )
        edges = np.arange(0.0, 0.75, 0.05)
        print("power against held out, by band of cycles per pixel (from):", " ".join(f"{e:.2f}" for e in edges[:-1]))
        for name, images in (("synthetic", synthetic), ("training", others), ("augmented", augmented_once)):
            ratio = band_power(images, edges) / band_power(real, edges)
            print(f"  {name:9s}", " ".join(f"{r:.2f}" for r in ratio))

    for fit in args.fits if "spread" in args.sections else ():
        for grouped in (False, True):
            folding = "by patient" if grouped else "slice by slice"
            print(f"{fit}-epoch classifier, folded {folding}:", flush=True)
            print(f"  synthetic:       AUC {spread(scores(real, synthetic, fit, grouped, args.classifier_seeds))}")
            control = scores(real, others, fit, grouped, args.classifier_seeds, others_patient)
            print(f"  training slices: AUC {spread(control)}")

    if "cues" in args.sections:
        print(
            f"pixels below 0.001 of the slice maximum: held out {float((real < 1e-3).mean()):.3f}, synthetic "
            f"{float((synthetic < 1e-3).mean()):.3f}; exactly zero: {float((real == 0).mean()):.3f} against "
            f"{float((synthetic == 0).mean()):.3f}"
        )
        low_pass = partial(gaussian_filter, sigma=(0, args.sigma, args.sigma))
        for name, (reference, images) in {
            "histogram matched to real": (real, histogram_matched(synthetic, train)),
            f"both low-passed (sigma {args.sigma:g} px)": (low_pass(real), low_pass(synthetic)),
        }.items():
            print(
                f"{epochs}-epoch classifier, by patient, synthetic {name}: "
                f"AUC {spread(scores(reference, images, epochs, True, args.classifier_seeds))}",
                flush=True,
            )

    if "regions" in args.sections:
        print(
            f"brain mask: {brain.mean():.3f} of the pixels; "
            f"real exact zeros outside it {(real[~brain] == 0).mean():.3f}"
        )
        # each sample masked with its own slices' masks; keep(mask) is the region kept
        for name, keep in {"brain only": lambda mask: mask, "background only": lambda mask: ~mask}.items():
            reference = np.where(keep(brain), real, 0).astype(np.float32)
            for side, images, mask, patients in (
                ("synthetic", synthetic, synthetic_brain, None),
                ("training slices", others, others_brain, others_patient),
            ):
                images = np.where(keep(mask), images, 0).astype(np.float32)
                print(
                    f"{epochs}-epoch classifier, by patient, {name}, {side}: "
                    f"AUC {spread(scores(reference, images, epochs, True, args.classifier_seeds, patients))}",
                    flush=True,
                )

        # what in the background: the volume's edge, the share of zeros, their shape
        levels = train_rows.level.to_numpy()
        draw = np.random.default_rng(args.seed)
        alike = np.array([draw.choice(np.flatnonzero(levels == level)) for level in generated.level])
        support = np.stack([volume_support(image) for image in train[alike]])
        cut = np.where(support, synthetic, 0.0)
        real_zero = float((real[~brain] == 0).mean())
        threshold = np.quantile(cut[~synthetic_brain], real_zero)
        zeroed = np.where(cut < threshold, 0.0, cut)
        print(
            f"synthetic cut to the volume of a training slice of its level ({1 - support.mean():.3f} of the pixels "
            f"outside it), then zero below {threshold:.4f} of the slice maximum, as many background zeros as the "
            f"held-out slices ({real_zero:.3f}); background zeros with four zero neighbours: held out "
            f"{enclosed_zero_share(real, ~brain):.3f}, synthetic {enclosed_zero_share(zeroed, ~synthetic_brain):.3f}, "
            f"training slices {enclosed_zero_share(others, ~others_brain):.3f}"
        )
        background = lambda images, brain: np.where(brain, 0.0, images).astype(np.float32)  # noqa: E731
        for name, reference, images, mask, patients in (
            ("cut to the volume", real, cut, synthetic_brain, None),
            ("cut and zeroed", real, zeroed, synthetic_brain, None),
            ("cut and zeroed, where it is zero alone", real == 0, zeroed == 0, synthetic_brain, None),
            ("training slices, where they are zero alone", real == 0, others == 0, others_brain, others_patient),
        ):
            reference, images = background(reference, brain), background(images, mask)
            results = scores(reference, images, epochs, True, args.classifier_seeds, patients)
            print(f"{epochs}-epoch classifier, by patient, background only, {name}: AUC {spread(results)}", flush=True)

    for level in np.unique(held_out_rows.level) if "levels" in args.sections else ():
        at = (held_out_rows.level == level).to_numpy()
        synthetic_at = synthetic[generated.level == level]
        results = scores(
            real[at], synthetic_at, epochs, True, args.classifier_seeds, reference_patients=held_out.patient[at]
        )
        print(
            f"{epochs}-epoch classifier, by patient, {level} alone ({at.sum()} held-out slices): AUC {spread(results)}",
            flush=True,
        )

    if "augmentation" in args.sections:
        for name, images in {
            f"as a training step (mix, shift up to {args.ap_shift} px, mirror)": augmented_once,
            "without the shift": augmented(data, augmentation_draws, ap_shift=0),
            f"the shift alone (up to {args.ap_shift} px)": augmented(
                data, augmentation_draws, mix=False, ap_shift=args.ap_shift, mirror=False
            ),
        }.items():
            results = scores(real, images, epochs, True, args.classifier_seeds, others_patient)
            print(f"{epochs}-epoch classifier, by patient, training slices augmented {name}: AUC {spread(results)}")


if __name__ == "__main__":
    main()
