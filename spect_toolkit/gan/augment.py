"""The paper's augmentation (Eq. 6 mixing, anterior-posterior shift, flip of symmetric patterns) and FastGAN's
DiffAugment (colour, translation, cutout), as functions of images and of the random draws, so they are
deterministic and testable.

Slices are (n, 64, 64) with rows running anterior to posterior and columns right to left (the canonical
grid's LPS layout, exported with Patient Orientation L\\P): axis 1 is anterior-posterior, axis 2 left-right.
"""

from __future__ import annotations

from keras import ops


def mix_adjacent(slices, below, above, weight, use_above):
    """Eq. 6: ``w * z1 + (1 - w) * z2`` with z2 the inferior or superior neighbour of each slice."""
    weight = ops.reshape(weight, (-1, 1, 1))
    neighbour = ops.where(ops.reshape(use_above, (-1, 1, 1)), above, below)
    return weight * slices + (1.0 - weight) * neighbour


def shift_rows(images, shift, fill=0.0):
    """Move each image ``shift[i]`` rows (positive: posterior), filling the uncovered rows with ``fill``; with
    ``fill="reflect"``, with the image's own rows mirrored about its edge row (numpy's ``reflect``: shifts of less
    than the image's height)."""
    rows = ops.shape(images)[1]
    source = ops.arange(rows, dtype="int32")[None, :] - ops.cast(ops.reshape(shift, (-1, 1)), "int32")
    if isinstance(fill, str):
        if fill != "reflect":
            raise ValueError(f"fill is a value or 'reflect', got {fill!r}")
        source = ops.where(source < 0, -source, ops.where(source >= rows, 2 * (rows - 1) - source, source))
        return ops.take_along_axis(images, source[:, :, None], axis=1)
    inside = ops.logical_and(source >= 0, source < rows)
    picked = ops.take_along_axis(images, ops.clip(source, 0, rows - 1)[:, :, None], axis=1)
    return ops.where(inside[:, :, None], picked, ops.cast(fill, images.dtype))


def shift_columns(images, shift, fill=0.0):
    return ops.swapaxes(shift_rows(ops.swapaxes(images, 1, 2), shift, fill), 1, 2)


def flip_left_right(images, flip):
    return ops.where(ops.reshape(flip, (-1, 1, 1)), ops.flip(images, axis=2), images)


def augment_real(slices, below, above, flip_allowed, weight, use_above, shift, flip):
    """The paper's augmentation of a batch of max-normalised real slices; ``flip`` only acts where allowed
    (without a side in the condition, normal and bilateral slices: flipping a unilateral slice would move its
    defect to the other side)."""
    mixed = mix_adjacent(slices, below, above, weight, use_above)
    shifted = shift_rows(mixed, shift)
    return flip_left_right(shifted, ops.logical_and(flip, flip_allowed))


def colour(images, brightness, contrast):
    """DiffAugment's colour policy on grey images: a brightness shift, then a contrast scale about the mean."""
    images = images + 2.0 * ops.reshape(brightness, (-1, 1, 1))
    mean = ops.mean(images, axis=(1, 2), keepdims=True)
    return (images - mean) * ops.reshape(contrast, (-1, 1, 1)) + mean


def translate(images, shift_ap, shift_lr, background=-1.0):
    """DiffAugment's translation: each image moved by whole pixels, the uncovered border set to ``background``
    (``"reflect"``: the image's own border mirrored into it, as ADA pads its geometric augmentations)."""
    return shift_columns(shift_rows(images, shift_ap, background), shift_lr, background)


def cutout(images, row, column, size: int, fill=0.0):
    """DiffAugment's cutout: a ``size`` x ``size`` square whose centre is drawn anywhere in the image (row[i],
    column[i]), set to ``fill``, and clipped where it runs over the edge."""
    half, length = size // 2, ops.shape(images)[1]
    index = ops.arange(length, dtype="int32")[None, :]
    start = lambda centre: ops.cast(ops.reshape(centre, (-1, 1)), "int32") - half  # noqa: E731
    inside = lambda centre: ops.logical_and(index >= start(centre), index < start(centre) + size)  # noqa: E731
    square = ops.logical_and(inside(row)[:, :, None], inside(column)[:, None, :])
    return ops.where(square, ops.cast(fill, images.dtype), images)
