"""What a run with ``--reconstruction-counts`` draws in the background, and what the scanner's noise would make of
it at zero counts.

    python docs/scripts/reconstruction_background.py repro/ingest/manifest_table1.parquet RUN --epoch 150 --seed 3

Generates slices with the held-out slices' levels and patterns, and prints, for the background (outside the
level's brain mask, the training slices' mean above 0.05): the share of the generator's drawn slice (before the
layer) below zero counts, then the share of exact zeros and of zeros with four zero neighbours, for the slices as
generated and for the same drawn slices with their background raised to zero counts, passed through the layer
with and without the resampling; and the same shares for the held-out slices.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest")
    parser.add_argument("run")
    parser.add_argument("--epoch", type=int, help="checkpoint (default: the last)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--brain", type=float, default=0.05, help="brain mask: mean training slice above this")
    args = parser.parse_args()

    import keras

    from spect_toolkit.evaluate.evaluation import RealSlices
    from spect_toolkit.evaluate.measures import normalise
    from spect_toolkit.gan.generate import load_generator
    from spect_toolkit.gan.networks import ReconstructionNoise
    from spect_toolkit.manifest import load_manifest, select_split

    checks = _two_sample_checks()
    manifest = load_manifest(args.manifest)
    train_rows, held_out_rows = select_split(manifest, "train"), select_split(manifest, "holdout")
    train = normalise(RealSlices.from_manifest(train_rows).images)
    real = normalise(RealSlices.from_manifest(held_out_rows).images)
    level_brain = checks.brain_masks(train, train_rows.level.to_numpy(), args.brain)
    background = ~np.stack([level_brain[level] for level in held_out_rows.level])

    gan, epoch = load_generator(args.run, args.epoch)
    noise = gan.generator.get_layer("output_reconstruction")
    drawn_model = keras.Model(gan.generator.inputs, gan.generator.get_layer("output_tanh").output)
    z = np.random.default_rng(args.seed).normal(size=(len(real), gan.config.latent_dim)).astype(np.float32)
    condition = gan.space.vectors(list(held_out_rows.level), list(held_out_rows.pattern))
    drawn = np.asarray(drawn_model([z, condition]))
    print(
        f"{args.run} epoch {epoch}: learned count level {noise.learned_counts():.1f}; drawn background below zero "
        f"counts {(drawn[..., 0][background] < 0).mean():.3f}"
    )

    def report(name: str, slices: np.ndarray) -> None:
        zero = (slices[background] == 0).mean()
        print(
            f"{name}: background exactly zero {zero:.3f}, zeros with four zero neighbours "
            f"{checks.enclosed_zero_share(slices, background):.3f}"
        )

    report("held-out slices", real)
    inputs = (drawn, condition) if noise.field_of_view_levels else (drawn,)  # the field of view is drawn by level
    report("generated", (np.asarray(noise(*inputs))[..., 0] + 1) / 2)
    for resample in (False, True):
        layer = ReconstructionNoise(noise.learned_counts(), resample=resample, seed=args.seed)
        raised = (np.asarray(layer(np.maximum(drawn, 0.0)))[..., 0] + 1) / 2
        report(f"background raised to zero counts{', resampled' if resample else ''}", raised)


def _two_sample_checks():
    import importlib.util

    spec = importlib.util.spec_from_file_location("two_sample_checks", Path(__file__).with_name("two_sample_checks.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


if __name__ == "__main__":
    main()
