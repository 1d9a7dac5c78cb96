"""Where a real slice's reoriented volume reached: its field of view, read from the slice and its two neighbours.

Reorientation onto the AC-PC grid fills what lies outside the scanner's volume with zero (straight-edged bands and
corners); the clipped reconstruction noise leaves zeros too, scattered over the background. Noise zeros fall
independently on neighbouring slices (each is reconstructed on its own), so a pixel zero on all three, in a zero
region that reaches the slice's border, lies outside the volume. :class:`~.networks.ReconstructionNoise` draws
these masks, level by level, for the generator's slices, and can read from each where the scanner's own grid lay
(:func:`acquisition_offsets`).
"""

from __future__ import annotations

import numpy as np
from keras import ops
from scipy import ndimage

from ..errors import ArgumentError

MASKS_PER_LEVEL = 64  # drawn from the training slices of each level, kept with the generator's weights


def field_of_view_masks(slices: np.ndarray, below: np.ndarray, above: np.ndarray) -> np.ndarray:
    """``True`` inside the reoriented volume, ``(n, H, W)`` bool, for slices with the neighbours they were cut
    beside (same shapes; zero counts exactly 0)."""
    slices, below, above = (np.asarray(a) for a in (slices, below, above))
    if not slices.shape == below.shape == above.shape or slices.ndim != 3:
        raise ArgumentError(
            f"slices and neighbours must be (n, H, W) alike, got {slices.shape}, {below.shape}, {above.shape}"
        )
    zero_on_three = (slices <= 0) & (below <= 0) & (above <= 0)
    inside = np.ones(slices.shape, bool)
    for i, zero in enumerate(zero_on_three):
        regions, _ = ndimage.label(zero)  # 4-connected: a diagonal chain of noise zeros is not a band
        at_border = np.unique(np.concatenate([regions[0], regions[-1], regions[:, 0], regions[:, -1]]))
        inside[i] = ~np.isin(regions, at_border[at_border > 0])
    return inside


def mask_bank(inside: np.ndarray, level_index: np.ndarray, levels: int, seed: int) -> np.ndarray:
    """``(levels, MASKS_PER_LEVEL, H, W)`` float32: masks drawn (without replacement where there are enough) from
    each level's slices. A level without slices keeps the whole slice as its field of view."""
    rng = np.random.default_rng(seed)
    bank = np.ones((levels, MASKS_PER_LEVEL, *inside.shape[1:]), np.float32)
    for level in range(levels):
        own = np.flatnonzero(np.asarray(level_index) == level)
        if own.size:
            picked = rng.choice(own, MASKS_PER_LEVEL, replace=own.size < MASKS_PER_LEVEL)
            bank[level] = inside[picked]
    return bank


def acquisition_offsets(inside):
    """``(n, 2)`` int32: how many rows (then columns) the scanner's reconstruction grid starts below the slice's
    first, read from field-of-view masks ``(n, H, W)``: rows wholly outside at the top less those at the bottom.

    The AC-PC window has the scanner's matrix and spacing but sits a few pixels off its grid (the head is not
    centred on the camera's axis): where it reaches past the grid on one side, a band of whole rows is outside
    there, and the grid's own edge rows lie that far inside on the other side. Rotation and the volume's top and
    bottom make bands too; their rows are outside all the same, so a grid placed by them puts its edge only where
    the slice is zero anyway. Keras operations, so that the generator can place its grid per slice."""
    inside = ops.cast(inside, "float32")

    def bands(outside):  # whole rows outside at the start and at the end of the axis
        start = ops.sum(ops.cumprod(outside, axis=1), axis=1)
        end = ops.sum(ops.cumprod(ops.flip(outside, axis=1), axis=1), axis=1)
        return start - end

    rows = bands(ops.cast(ops.max(inside, axis=2) == 0, "float32"))
    columns = bands(ops.cast(ops.max(inside, axis=1) == 0, "float32"))
    return ops.cast(ops.stack([rows, columns], axis=1), "int32")


# The scanner's grid seen from the slice: turned by the head's yaw (and by its roll and pitch where they turn the
# plane). A tilted plane also stretches the grid a little (1/cos 20 degrees = 1.06), but a 64-pixel window shows
# at most one edge of a grid wider than itself, so no fit can tell that stretch apart: it is left out.
POSE_ANGLES_DEG = np.arange(-15.0, 15.01, 0.5)
UNPOSED = (0.0, 0.0, 0.0)  # the slice's own grid


def grid_poses(inside: np.ndarray) -> np.ndarray:
    """``(n, 3)`` float32 per field-of-view mask ``(n, H, H)``: where the scanner's square grid of ``H x H`` pixels
    lay, as (angle in radians, row offset, column offset) for :func:`onto_scanner_grid`.

    Everything inside the mask lies on the grid; among the poses (angles on a fixed lattice, the offsets per axis
    at either end of what keeps the inside on the grid) the one that puts the most outside pixels off the grid is
    taken, the least turned first where several do as well; its edge is then put half a pixel past the last pixel
    inside, between it and the first outside. An axis where no outside pixel fixes the edge keeps the grid
    centred on what is inside."""
    inside = np.asarray(inside, bool)
    if inside.ndim != 3 or inside.shape[1] != inside.shape[2]:
        raise ArgumentError(f"field-of-view masks must be (n, H, H), got {inside.shape}")
    size = inside.shape[1]
    centre, low, high = (size - 1) / 2, -0.5, size - 0.5
    angles = np.deg2rad(POSE_ANGLES_DEG[np.argsort(np.abs(POSE_ANGLES_DEG), kind="stable")])
    cos, sin = np.cos(angles)[:, None], np.sin(angles)[:, None]

    def on_grid(points):  # (angles, points) rows and columns on the turned grid, before the offsets
        rows, columns = (points.astype(float) - centre).T
        return cos * rows + sin * columns + centre, cos * columns - sin * rows + centre

    poses = np.tile(np.asarray(UNPOSED, np.float32), (len(inside), 1))
    for i, mask in enumerate(inside):
        edge = mask & ~ndimage.binary_erosion(mask, border_value=0)  # its extremes are the inside's
        if mask.all() or not edge.any():
            continue
        offsets, off_grid = [], False
        for kept, off in zip(on_grid(np.argwhere(edge)), on_grid(np.argwhere(~mask))):
            start, end = low - kept.min(axis=1), high - kept.max(axis=1)  # offsets that keep the inside on
            at_start, at_end = (off + start[:, None]) < low, (off + end[:, None]) > high
            before, after = at_start.sum(axis=1), at_end.sum(axis=1)
            offset = np.where(
                before > after,
                np.minimum(start + 0.5, end),
                np.where(after > before, np.maximum(end - 0.5, start), (start + end) / 2),
            )
            offsets.append(np.where(start <= end, offset, np.nan))
            off_grid = off_grid | np.where((before >= after)[:, None], at_start, at_end)
        explained = np.where(np.isfinite(offsets[0] + offsets[1]), off_grid.sum(axis=1), -1)  # each pixel once
        k = int(np.argmax(explained))
        if explained[k] >= 0:
            poses[i] = angles[k], offsets[0][k], offsets[1][k]
    return poses


def onto_scanner_grid(slices, poses, back: bool = False):
    """Slices ``(n, H, H)`` resampled onto the scanner's grid posed by :func:`grid_poses` (``back``: from that grid
    onto the slice's), bilinearly, zero where the source does not reach. Keras operations, differentiable in the
    slices.

    The slice's pixel ``p`` lies at ``R (p - c) + c + o`` on the scanner's grid (``R`` the turn, ``o`` the
    offsets, ``c`` the centre); onto the grid each scanner pixel takes the slice at the inverse, back each slice
    pixel takes the grid there."""
    size = slices.shape[-1]
    centre = (size - 1) / 2
    angle, row_offset, column_offset = (poses[:, k, None, None] for k in range(3))
    index = ops.arange(size, dtype="float32") - centre
    rows, columns = index[None, :, None], index[None, None, :]
    cos, sin = ops.cos(angle), ops.sin(angle)
    if back:  # where each slice pixel lies on the grid
        source_rows = cos * rows + sin * columns + centre + row_offset
        source_columns = cos * columns - sin * rows + centre + column_offset
    else:  # where each grid pixel lies on the slice: undo the offsets, then the turn
        r, c = rows - row_offset, columns - column_offset
        source_rows = cos * r - sin * c + centre
        source_columns = sin * r + cos * c + centre
    return bilinear_at(slices, source_rows, source_columns)


def bilinear_at(slices, rows, columns):
    """``slices`` ``(n, H, W)`` at the points ``rows``, ``columns`` ``(n, H, W)``, bilinearly; zero past the edge
    pixels' centres by more than one pixel, linear towards zero within it.

    As products with each point's tent weights ``max(0, 1 - |point - pixel|)`` along rows and along columns: dense
    matrix products, which both backends compile alike, in place of gathers and the scatters of their gradient."""
    height, width = slices.shape[1], slices.shape[2]
    n = ops.shape(slices)[0]

    def tents(points, size):  # (n, H * W, size): each point's weights on the pixels of one axis
        at = ops.reshape(points, (n, -1, 1)) - ops.arange(size, dtype="float32")[None, None, :]
        return ops.relu(1.0 - ops.abs(at))

    along_columns = ops.matmul(tents(columns, width), ops.transpose(slices, (0, 2, 1)))  # (n, H * W, H)
    return ops.reshape(ops.sum(tents(rows, height) * along_columns, axis=-1), (n, height, width))
