"""The phantom's count level in the units of ``spect train --reconstruction-counts``.

    python docs/scripts/count_level.py --patients 5 --seed 0

For each phantom patient and condition, the volume is reconstructed twice, with count noise and without; each
axial slice through the brain is divided by its noiseless peak, and the noise variance in its brain (noiseless
value above 0.3 of the peak, where the clip at zero never acts) is set against the variance the GAN's
reconstruction noise gives the noiseless slice at a count level of 1 (exact, from
:func:`spect_toolkit.tomography.noise_operators`). Their ratio is the count level at which the layer makes the
phantom's noise. Measured on the acquisition grid: the reorientation onto the AC-PC grid resamples the slices and
smooths their noise a little more, so the level a generator needs is somewhat higher.
"""

from __future__ import annotations

import argparse

import numpy as np

from spect_toolkit.phantom.cohort import draw_subject, simulate
from spect_toolkit.tomography import noise_operators


def count_levels(clean: np.ndarray, noisy: np.ndarray, brain: float = 0.3) -> np.ndarray:
    """One count level per slice of ``clean`` / ``noisy`` ``(slices, 64, 64)``, each slice divided by its
    noiseless peak."""
    line_sums, reconstruct = noise_operators(clean.shape[-1])
    gain = reconstruct.astype(np.float64) ** 2  # a pixel's variance is sum over lines of variance x gain
    peak = clean.reshape(len(clean), -1).max(axis=1)[:, None, None]
    clean, noisy = clean / peak, noisy / peak
    unit_variance = (clean.reshape(len(clean), -1) @ line_sums) @ gain
    levels = []
    for k in range(len(clean)):
        inside = (clean[k] > brain).ravel()
        measured = ((noisy[k] - clean[k]).ravel()[inside] ** 2).mean()
        levels.append(unit_variance[k, inside].mean() / measured)
    return np.array(levels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    everything = []
    for index in range(args.patients):
        subject = draw_subject(index, args.seed)
        noisy, clean = simulate(subject), simulate(subject, noise=False)
        for condition in clean:
            through_brain = clean[condition].reshape(len(clean[condition]), -1).max(axis=1)
            keep = through_brain > 0.5 * through_brain.max()
            levels = count_levels(clean[condition][keep], noisy[condition][keep])
            everything.append(levels)
            print(
                f"patient {index} {condition}: {keep.sum()} slices, count level median {np.median(levels):.1f} "
                f"(range {levels.min():.1f}-{levels.max():.1f})",
                flush=True,
            )
    everything = np.concatenate(everything)
    print(
        f"all: {len(everything)} slices, median {np.median(everything):.1f}, "
        f"quartiles {np.quantile(everything, 0.25):.1f}-{np.quantile(everything, 0.75):.1f}"
    )


if __name__ == "__main__":
    main()
