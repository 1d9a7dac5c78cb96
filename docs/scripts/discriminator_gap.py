"""Whether a run's discriminator has learnt its training slices rather than what real slices look like.

    python docs/scripts/discriminator_gap.py repro_strat/ingest/manifest_table1.parquet RUN [RUN ...]

Each ``RUN`` is a run folder trained with ``--split train``; its ``checkpoints/last.npz`` holds the discriminator
(epoch checkpoints keep the generator alone). The discriminator scores the manifest's training slices and its
held-out patients' slices, mixed in batches of the run's size so that batch normalisation treats both alike (as
in training, where a batch is all real or all generated), and batches of the run's own generated slices. Printed:

- the AUC of its logits, training slices against held-out ones: 0.5 where the discriminator rates new real
  patients as real as the ones it trained on; towards 1 where it has learnt the training slices themselves
  (the discriminator overfitting that Karras et al. 2020 name as the reason small-data GANs worsen with training);
- the AUC of held-out real against generated slices: how well the discriminator itself tells new real slices from
  the generator's;
- ADA's overfitting heuristic, the mean sign of its logits on the training slices (0: undecided, 1: every
  training slice called real).

The generated slices come from the same checkpoint's generator average. The slices are scored as they are,
without the training step's augmentation. ``--states`` scores one run's discriminator at several epochs from
copies of its ``last.npz`` kept while it trained:

    python docs/scripts/discriminator_gap.py MANIFEST RUN --states snapshots/epoch_*.npz
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def auc(higher: np.ndarray, lower: np.ndarray) -> float:
    """The probability that a draw of ``higher`` exceeds one of ``lower`` (ties count half)."""
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(higher, lower).statistic / (len(higher) * len(lower)))


def logits(gan, images: np.ndarray, condition: np.ndarray, batch: int) -> np.ndarray:
    """The discriminator's logits for max-normalised slices in [0, 1], in batch mode, ``batch`` at a time."""
    from keras import ops

    from spect_toolkit.gan.step import discriminator_channels, flagged_conditions

    x = ops.convert_to_numpy(discriminator_channels(images[..., None] * 2.0 - 1.0, gan.config))
    # the discriminator's condition for slices as they lie, none mirrored (with --flip-flag, a column more)
    condition = ops.convert_to_numpy(flagged_conditions(condition, np.zeros(len(condition), bool), gan.config)[1])
    out = [
        ops.convert_to_numpy(gan.discriminator([x[i : i + batch], condition[i : i + batch]], training=True)[0])
        for i in range(0, len(x) - batch + 1, batch)  # whole batches: minibatch statistics need the run's size
    ]
    return np.concatenate(out).astype(np.float64).ravel()


def gap(run: Path, manifest, seed: int = 0, state: Path | None = None) -> dict:
    """The measures above for ``run``'s discriminator as ``state`` (a full checkpoint; default ``last.npz``)
    holds it, against the generator of the same epoch."""
    from spect_toolkit.gan import checkpoint
    from spect_toolkit.gan.generate import sample, sample_from_average
    from spect_toolkit.gan.model import FastGAN
    from spect_toolkit.gan.run_folder import RunFolder
    from spect_toolkit.gan.train import training_set
    from spect_toolkit.manifest import select_split

    folder = RunFolder(run)
    config = folder.load_config()
    train, space = training_set(select_split(manifest, "train"), config.levels, config.side_condition)
    held_out, _ = training_set(select_split(manifest, "holdout"), config.levels, config.side_condition)
    gan = FastGAN(config, space)
    epoch = checkpoint.load(state or folder.root / "checkpoints" / "last.npz", gan.state())
    # training and held-out slices shuffled together, so every batch normalises both alike
    images = np.concatenate([train.slices, held_out.slices])
    condition = np.concatenate([train.condition, held_out.condition])
    is_train = np.arange(len(images)) < len(train.slices)
    order = np.random.default_rng(seed).permutation(len(images))
    scored = logits(gan, images[order], condition[order], config.batch_size)
    kept = is_train[order][: len(scored)]
    sample_from_average(gan)  # the discriminator is a model of its own: it keeps its weights
    generated = sample(gan, epoch, like=select_split(manifest, "train"), seed=seed)
    fake = logits(
        gan, generated.images, space.vectors(generated.level, generated.pattern, generated.side), config.batch_size
    )
    return {
        "run": str(run),
        "epoch": epoch,
        "train_vs_holdout_auc": auc(scored[kept], scored[~kept]),
        "holdout_vs_generated_auc": auc(scored[~kept], fake),
        "ada_rt": float(np.mean(np.sign(scored[kept]))),
        "mean_logit_train": float(scored[kept].mean()),
        "mean_logit_holdout": float(scored[~kept].mean()),
        "mean_logit_generated": float(fake.mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest")
    parser.add_argument("runs", nargs="+", type=Path, help="run folders trained with --split train")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--states",
        nargs="+",
        type=Path,
        help="full checkpoints of the one RUN (copies of last.npz kept over its epochs)",
    )
    args = parser.parse_args()
    if args.states and len(args.runs) != 1:
        parser.error("--states belong to one run")
    from spect_toolkit.manifest import load_manifest

    manifest = load_manifest(args.manifest)
    print(
        "| run | epoch | D's AUC, training vs held-out real | held-out real vs generated | ADA r_t "
        "| mean logit: training / held-out / generated |"
    )
    print("|---|---|---|---|---|---|")
    for run, state in [(args.runs[0], s) for s in args.states] if args.states else [(r, None) for r in args.runs]:
        r = gap(run, manifest, args.seed, state)
        print(
            f"| {r['run']} | {r['epoch']} | {r['train_vs_holdout_auc']:.3f} | {r['holdout_vs_generated_auc']:.3f} | "
            f"{r['ada_rt']:.3f} | {r['mean_logit_train']:.2f} / {r['mean_logit_holdout']:.2f} / "
            f"{r['mean_logit_generated']:.2f} |"
        )


if __name__ == "__main__":
    main()
