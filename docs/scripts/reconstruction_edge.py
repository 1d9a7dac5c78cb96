"""Where a reconstruction's bright edge lies in a reoriented slice: the phantom against the GAN's layer.

    python docs/scripts/reconstruction_edge.py --patients 6

A filtered back-projection brightens the outer rows of its own grid. The phantom reconstructs on the scanner's
grid and the ingest reorients onto the AC-PC window, a few pixels off that grid, so in a real slice the edge lies
off the border. For phantom patients (rest, noiseless) this prints the mean over the field of view of the rings
0, 1, ... 6 pixels in from the slice's border, each slice divided by its maximum:

- the phantom's reconstruction, reoriented with the patient's true pose;
- the GAN's reconstruction layer (``ReconstructionNoise`` with ``reconstruct_activity`` and ``resample``, as the
  runs in docs/gan.md use it, at 1e9 counts so that no noise shows) given the same activity, blurred as the
  scanner blurs it and reoriented alike, with the slice's own field of view: on the slice's grid, and on the
  scanner's grid placed by the field of view's bands (``acquisition_grid``).
"""

from __future__ import annotations

import argparse
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


def phantom_slices(patients: int, seed: int, scanner: Scanner = Scanner()):
    """Reoriented noiseless reconstructions, the activity the scanner saw (blurred in plane and along z as the
    reconstruction is), and each slice's field of view, for the slices through the brain."""
    reconstructed, activity, inside = [], [], []
    for index in range(patients):
        subject = draw_subject(index, seed)
        truth = true_activity(subject)["rest"]
        seen = ndimage.gaussian_filter(truth, fwhm_to_sigma(scanner.psf_fwhm_mm) / scanner.pixel_mm)
        seen = ndimage.gaussian_filter1d(seen, fwhm_to_sigma(scanner.axial_filter_fwhm_mm) / scanner.pixel_mm, axis=0)
        a = reoriented(subject, seen)
        keep = a.max(axis=(1, 2)) > 0.6 * a.max()
        reconstructed.append(reoriented(subject, acquire_and_reconstruct(truth, scanner, 6e6, None))[keep])
        activity.append(a[keep])
        inside.append(reoriented(subject, np.ones_like(truth))[keep] > 0)
    return np.concatenate(reconstructed), np.concatenate(activity), np.concatenate(inside)


def layer_slices(activity: np.ndarray, inside: np.ndarray, acquisition_grid: bool) -> np.ndarray:
    """The layer's noiseless reconstruction of each slice, with that slice's field of view as the only mask."""
    from spect_toolkit.gan.field_of_view import MASKS_PER_LEVEL
    from spect_toolkit.gan.networks import ReconstructionNoise

    layer = ReconstructionNoise(
        1e9,
        resample=True,
        field_of_view_levels=1,
        reconstruct_activity=True,
        acquisition_grid=acquisition_grid,
        seed=0,
    )
    layer.build((1, 64, 64, 1), (1, 3))
    out = []
    for image, mask in zip(activity, inside):
        layer.field_of_view.assign(np.broadcast_to(mask, (1, MASKS_PER_LEVEL, 64, 64)).astype(np.float32))
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
    args = parser.parse_args()
    reconstructed, activity, inside = phantom_slices(args.patients, args.seed)
    print(f"{len(activity)} slices of {args.patients} patients; outside the field of view {1 - inside.mean():.3f}")
    print(f"{'ring (pixels in from the border)':44s}" + "".join(f"{k:>8d}" for k in range(RINGS)))
    for name, images in (
        ("phantom, reconstructed and reoriented", reconstructed),
        ("layer, on the slice's grid", layer_slices(activity, inside, False)),
        ("layer, on the scanner's grid placed by bands", layer_slices(activity, inside, True)),
    ):
        print(f"{name:44s}" + "".join(f"{v:8.4f}" for v in ring_means(images, inside)))


if __name__ == "__main__":
    main()
