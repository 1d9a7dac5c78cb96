"""Where a reconstruction's bright edge lies in a reoriented slice: the phantom against the GAN's layer.

    python docs/scripts/reconstruction_edge.py --patients 6 [--unturned]

A filtered back-projection brightens the outer rows of its own grid. The phantom reconstructs on the scanner's
grid and the ingest reorients onto the AC-PC window, a few pixels off that grid, so in a real slice the edge lies
off the border. For phantom patients (rest, noiseless) this prints the mean over the field of view of the rings
0, 1, ... 6 pixels in from the slice's border, each slice divided by its maximum:

- the phantom's reconstruction, reoriented with the patient's true pose;
- the GAN's reconstruction layer (``ReconstructionNoise`` with ``reconstruct_activity`` and ``resample``, as the
  runs in docs/gan.md use it, at 1e9 counts so that no noise shows) given the same activity, blurred as the
  scanner blurs it and reoriented alike, with the slice's own field of view: on the slice's grid, on the
  scanner's grid placed by the field of view's bands (``acquisition_grid``), and on that grid posed by the field
  of view (``grid_pose``: turned, sub-pixel offsets);
- the same reconstruction on the scanner's grid at the patient's true pose (read from the reorientation itself):
  the most a pose read from the field of view can give.

Also how far the pose fitted to each field of view lies from the true one. ``--unturned`` leaves every head's
rotation out of its pose (the position stays): what the rotation does to the edge.
"""

from __future__ import annotations

import argparse
import dataclasses
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from scipy import ndimage  # noqa: E402

from spect_toolkit.align.resample import resample_to_canonical  # noqa: E402
from spect_toolkit.dicom.volume import Volume  # noqa: E402
from spect_toolkit.phantom.cohort import draw_subject, true_activity  # noqa: E402
from spect_toolkit.phantom.physics import Scanner, acquire_and_reconstruct  # noqa: E402
from spect_toolkit.template import fwhm_to_sigma  # noqa: E402

RINGS = 7


def reoriented(subject, array: np.ndarray) -> np.ndarray:
    grid = subject.acquisition_grid
    volume = Volume(array.astype(np.float32), grid.origin, grid.spacing, np.eye(3), "activity", "none")
    return resample_to_canonical(volume, subject.rotation, np.asarray(subject.translation_mm))


def phantom_slices(patients: int, seed: int, scanner: Scanner = Scanner(), unturned: bool = False):
    """Reoriented noiseless reconstructions, the activity the scanner saw (blurred in plane and along z as the
    reconstruction is), each slice's field of view and the scanner's row and column of its pixels, for the slices
    through the brain; ``unturned``: every head upright in the camera (its pose's rotation left out)."""
    reconstructed, activity, inside, on_grid = [], [], [], []
    for index in range(patients):
        subject = draw_subject(index, seed)
        if unturned:
            subject = dataclasses.replace(subject, rotation_deg=(0.0, 0.0, 0.0))
        truth = true_activity(subject)["rest"]
        seen = ndimage.gaussian_filter(truth, fwhm_to_sigma(scanner.psf_fwhm_mm) / scanner.pixel_mm)
        seen = ndimage.gaussian_filter1d(seen, fwhm_to_sigma(scanner.axial_filter_fwhm_mm) / scanner.pixel_mm, axis=0)
        a = reoriented(subject, seen)
        keep = a.max(axis=(1, 2)) > 0.6 * a.max()
        reconstructed.append(reoriented(subject, acquire_and_reconstruct(truth, scanner, 6e6, None))[keep])
        activity.append(a[keep])
        inside.append(reoriented(subject, np.ones_like(truth))[keep] > 0)
        # a linear function of position comes through linear interpolation unchanged: the scanner's row and column
        # of every slice pixel (one added so that no voxel is zero, which would read as outside)
        index_rows, index_columns = np.meshgrid(*(np.arange(1.0, n + 1) for n in truth.shape[1:]), indexing="ij")
        on_grid.append(
            np.stack(
                [reoriented(subject, np.broadcast_to(i, truth.shape))[keep] - 1 for i in (index_rows, index_columns)], 1
            )
        )
    return tuple(np.concatenate(a) for a in (reconstructed, activity, inside, on_grid))


def true_affines(inside: np.ndarray, on_grid: np.ndarray) -> np.ndarray:
    """``(n, 2, 3)``: the affine map from each slice's (row, column, 1) to the scanner's row and column, fitted to
    ``on_grid`` inside the field of view (the reorientation is affine: the fit is exact)."""
    size = inside.shape[-1]
    rows, columns = np.mgrid[:size, :size]
    design = np.stack([rows.ravel(), columns.ravel(), np.ones(size * size)], 1)
    return np.stack(
        [
            np.linalg.lstsq(design[m.ravel()], g.reshape(2, -1).T[m.ravel()], rcond=None)[0].T
            for g, m in zip(on_grid, inside)
        ]
    )


def pose_errors(inside: np.ndarray, affines: np.ndarray) -> str:
    """How far :func:`~spect_toolkit.gan.field_of_view.grid_poses` lies from the true map: turn and offsets (the
    grid's position of the slice's centre less the centre), and the true map's stretch, which the fit leaves out."""
    from spect_toolkit.gan.field_of_view import grid_poses

    poses = grid_poses(inside)
    centre = (inside.shape[-1] - 1) / 2
    turn = np.rad2deg(np.arctan2(affines[:, 0, 1], affines[:, 0, 0]))
    offsets = affines[:, :, 0] * centre + affines[:, :, 1] * centre + affines[:, :, 2] - centre
    stretch = np.hypot(affines[:, :, 0], affines[:, :, 1])
    return (
        f"fitted pose against the true one: turn off by {np.abs(np.rad2deg(poses[:, 0]) - turn).mean():.2f} degrees"
        f" on average (true turns {np.abs(turn).mean():.2f}); offsets off by "
        f"{np.abs(poses[:, 1] - offsets[:, 0]).mean():.2f} rows, {np.abs(poses[:, 2] - offsets[:, 1]).mean():.2f}"
        f" columns (true {np.abs(offsets[:, 0]).mean():.2f}, {np.abs(offsets[:, 1]).mean():.2f}); the true map's"
        f" scanner rows per slice row {stretch[:, 0].min():.3f}-{stretch[:, 0].max():.3f}, columns"
        f" {stretch[:, 1].min():.3f}-{stretch[:, 1].max():.3f}"
    )


def true_pose_slices(activity: np.ndarray, inside: np.ndarray, affines: np.ndarray) -> np.ndarray:
    """Each slice's activity moved onto the scanner's grid at the true pose (:func:`true_affines`), reconstructed
    as the layer does, clipped, moved back."""
    from keras import ops

    from spect_toolkit.gan.field_of_view import bilinear_at
    from spect_toolkit.tomography import noise_operators

    size = activity.shape[-1]
    rows, columns = np.mgrid[:size, :size]
    inverses = np.linalg.inv(np.concatenate([affines, np.tile([[[0.0, 0.0, 1.0]]], (len(affines), 1, 1))], 1))[:, :2]

    def moved(images, m):
        at = [
            (m[:, k, 0, None, None] * rows + m[:, k, 1, None, None] * columns + m[:, k, 2, None, None]) for k in (0, 1)
        ]
        return np.asarray(
            bilinear_at(ops.convert_to_tensor(images.astype(np.float32)), *(a.astype(np.float32) for a in at))
        )

    line_sums, reconstruct = (np.asarray(a) for a in noise_operators(size))
    drawn = moved(activity / activity.max(axis=(1, 2), keepdims=True), inverses).reshape(len(activity), -1)
    reconstructed = np.clip((drawn @ line_sums) @ reconstruct * 2.0**0.5, 0.0, None).reshape(activity.shape)
    return moved(reconstructed, affines) * inside


def layer_slices(activity: np.ndarray, inside: np.ndarray, acquisition_grid: bool, grid_pose: bool = False):
    """The layer's noiseless reconstruction of each slice, with that slice's field of view as the only mask."""
    from spect_toolkit.gan.field_of_view import MASKS_PER_LEVEL, grid_poses
    from spect_toolkit.gan.networks import ReconstructionNoise

    layer = ReconstructionNoise(
        1e9,
        resample=True,
        field_of_view_levels=1,
        reconstruct_activity=True,
        acquisition_grid=acquisition_grid,
        grid_pose=grid_pose,
        seed=0,
    )
    layer.build((1, 64, 64, 1), (1, 3))
    poses = grid_poses(inside) if grid_pose else [None] * len(inside)
    out = []
    for image, mask, pose in zip(activity, inside, poses):
        layer.field_of_view.assign(np.broadcast_to(mask, (1, MASKS_PER_LEVEL, 64, 64)).astype(np.float32))
        if grid_pose:
            layer.grid_poses.assign(np.broadcast_to(pose, (1, MASKS_PER_LEVEL, len(pose))))
        drawn = (image / image.max()).astype(np.float32)[None, :, :, None]
        out.append((np.asarray(layer(drawn, np.zeros((1, 3), np.float32)))[0, :, :, 0] + 1) / 2)
    return np.stack(out)


def ring_means(images: np.ndarray, inside: np.ndarray) -> list[float]:
    rows, columns = np.mgrid[: images.shape[1], : images.shape[2]]
    depth = np.minimum(np.minimum(rows, images.shape[1] - 1 - rows), np.minimum(columns, images.shape[2] - 1 - columns))
    images = images / images.max(axis=(1, 2), keepdims=True)
    return [float(images[inside & (depth == k)[None]].mean()) for k in range(RINGS)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--unturned", action="store_true", help="every head upright: no rotation in its pose")
    args = parser.parse_args()
    reconstructed, activity, inside, on_grid = phantom_slices(args.patients, args.seed, unturned=args.unturned)
    print(f"{len(activity)} slices of {args.patients} patients; outside the field of view {1 - inside.mean():.3f}")
    affines = true_affines(inside, on_grid)
    print(pose_errors(inside, affines))
    print(f"{'ring (pixels in from the border)':44s}" + "".join(f"{k:>8d}" for k in range(RINGS)))
    for name, images in (
        ("phantom, reconstructed and reoriented", reconstructed),
        ("layer, on the slice's grid", layer_slices(activity, inside, False)),
        ("layer, on the scanner's grid placed by bands", layer_slices(activity, inside, True)),
        ("layer, on the scanner's grid posed", layer_slices(activity, inside, True, grid_pose=True)),
        ("the same at the true pose", true_pose_slices(activity, inside, affines)),
    ):
        print(f"{name:44s}" + "".join(f"{v:8.4f}" for v in ring_means(images, inside)))


if __name__ == "__main__":
    main()
