"""Where the head lies on the grid, slice by slice, and how much of a slice's left/right lean that explains.

    python docs/scripts/head_position.py repro_rep/ingest/manifest_table1.parquet RUN [RUN ...] --epoch 150

The paper's LR splits each slice at the canonical grid's midline (between columns 31 and 32) inside a fixed brain
mask, so a head that lies a pixel to one side leans by it: moved one column, the training split's normal slices
have a median LR of 0.917 or 1.075 instead of 0.994. For the training and held-out slices of one pattern (normal by
default) and for each run's generated slices like the training ones, this prints:

- offset: the column of the centroid of the slice's pixels above half its maximum, from the midline, in pixels
  (mean and SD);
- |log LR| as the slice lies, with the slice moved back by its offset (linear interpolation), and centred by whole
  pixels (:func:`centred`, what ``compare_variants.py --centred`` scores), and the correlation of log LR with the
  offset.

Generated slices are sampled at ``--epoch`` (default: the run's last) with ``--seed``. For a generator with the
scanner's layer (``--reconstruction-counts``) two more rows: the same slices as the generator drew them, before the
layer's noise and resampling (the counts in its activity above zero), none mirrored; and how far the layer moved
each head (its offset after the layer minus before, unmirrored).
"""

from __future__ import annotations

import argparse
import dataclasses
import os

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HEAD_LEVEL = 0.5  # of the slice's maximum: the head's counts, not the background's noise


def head_region(images: np.ndarray) -> np.ndarray:
    from spect_toolkit.evaluate.measures import normalise

    return normalise(images) > HEAD_LEVEL


def midline_offset(images: np.ndarray) -> np.ndarray:
    """The head's centroid column minus the grid's midline, pixels (positive: toward the patient's left)."""
    from spect_toolkit.evaluate.measures import MIDLINE_COLUMN

    region = head_region(images)
    columns = np.arange(images.shape[2]) - (MIDLINE_COLUMN - 0.5)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (region.sum(axis=1) * columns).sum(axis=1) / region.sum(axis=(1, 2))


def recentred(images: np.ndarray, offsets: np.ndarray, whole_pixels: bool = False) -> np.ndarray:
    """Each slice moved sideways by minus its offset: by linear interpolation, zeros moved in; or, with
    ``whole_pixels``, rolled by the nearest whole number of pixels, every value kept (the columns rolled round from
    one edge to the other are the background's)."""
    from scipy.ndimage import shift

    order, mode = (0, "grid-wrap") if whole_pixels else (1, "constant")
    moves = np.where(np.isfinite(offsets), -(np.round(offsets) if whole_pixels else offsets), 0.0)
    return np.stack([shift(image, (0, move), order=order, mode=mode) for image, move in zip(images, moves)])


def centred(images: np.ndarray) -> np.ndarray:
    """Each slice rolled sideways by whole pixels so that its head lies within half a pixel of the midline."""
    return recentred(images, midline_offset(images), whole_pixels=True)


def describe(name: str, images: np.ndarray, levels) -> str:
    from spect_toolkit.evaluate.measures import slice_measures

    offsets = midline_offset(images)
    log_lr = np.log(slice_measures(images, levels)["lr"].to_numpy())
    moved_back = np.log(slice_measures(recentred(images, offsets), levels)["lr"].to_numpy())
    rolled = np.log(slice_measures(recentred(images, offsets, whole_pixels=True), levels)["lr"].to_numpy())
    found = np.isfinite(offsets) & np.isfinite(log_lr)
    return (
        f"| {name} | {found.sum()} | {np.nanmean(offsets):+.3f} / {np.nanstd(offsets):.3f} | "
        f"{np.nanmean(np.abs(log_lr)):.4f} | {np.nanmean(np.abs(moved_back)):.4f} | "
        f"{np.nanmean(np.abs(rolled)):.4f} | "
        f"{np.corrcoef(offsets[found], log_lr[found])[0, 1]:.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest")
    parser.add_argument("runs", nargs="*", help="run folders whose generated slices to place")
    parser.add_argument("--pattern", default="normal")
    parser.add_argument("--epoch", type=int, help="checkpoint to sample (default: the run's last)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    from spect_toolkit.gan.generate import load_generator, sample
    from spect_toolkit.manifest import load_manifest, load_slices

    manifest = load_manifest(args.manifest)
    if "split" not in manifest.columns:
        parser.error(f"{args.manifest} has no split column: build it with reproduce_paper.py --stage prepare")
    rows = manifest[manifest["pattern"] == args.pattern]
    print(f"| {args.pattern} slices | n | offset mean / SD, px | |log LR| | moved back | centred | r(offset, log LR) |")
    print("|---|---|---|---|---|---|---|")
    for split in ("train", "holdout"):
        part = rows[rows["split"] == split]
        store = load_slices(part, root=manifest.attrs.get("root"))
        print(describe(f"real, {split}", store.slices, part["level"]))
    training = rows[rows["split"] == "train"]
    for run in args.runs:
        gan, epoch = load_generator(run, args.epoch)
        samples = sample(gan, epoch, like=training, seed=args.seed)
        print(describe(f"{run}, epoch {epoch}", samples.images, samples.level))
        drawn = as_drawn(gan)
        if drawn is not None:  # the same z and conditions, none mirrored, before and after the scanner's layer
            gan.config = dataclasses.replace(gan.config, mirror_generated=False)
            after = sample(gan, epoch, like=training, seed=args.seed).images
            gan.generator = drawn
            activity = np.maximum(2.0 * sample(gan, epoch, like=training, seed=args.seed).images - 1.0, 0.0)
            print(describe(f"{run}, epoch {epoch}, as drawn, unmirrored", activity, samples.level))
            moved = midline_offset(after) - midline_offset(activity)
            print(f"|   moved by the scanner's layer | | {np.nanmean(moved):+.3f} / {np.nanstd(moved):.3f} | | | | |")


def as_drawn(gan):
    """The generator up to its drawn activity, before the scanner's layer (``None`` without one)."""
    import keras

    names = [layer.name for layer in gan.generator.layers]
    if "output_reconstruction" not in names:
        return None
    return keras.Model(gan.generator.inputs, gan.generator.get_layer("output_tanh").output)


if __name__ == "__main__":
    main()
