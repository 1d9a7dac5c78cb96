"""The toolkit's AC-PC space, its grids, the anatomy that ships with it and the perfusion template.

AC-PC space is DICOM patient space (LPS, mm) with its origin at the anterior commissure, its y axis along the
AC-PC line (+y toward the posterior commissure) and its z axis perpendicular to the AC-PC plane (+z superior).
It is derived from MNI ICBM152 2009a space by a shift to the AC and a rotation of about 4 degrees about the
left-right axis (MNI space is close to, but not exactly, AC-PC aligned).

Every volume after alignment lives on :data:`CANONICAL_GRID`: axial, 64x64 in-plane at 4.42 mm, with the AC-PC
plane exactly on slice :data:`AC_SLICE`. Arrays are indexed ``[z, row, col]``; rows run anterior to posterior
and columns patient right to left (the radiological view), because the grid's direction is the identity in LPS.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
from scipy import ndimage

from ..vocabulary import LEVELS, SLICE_SHAPE

# Approximate positions of the commissures in ICBM152 2009a (RAS mm); they define AC-PC space for the toolkit.
AC_MNI_RAS = np.array([0.0, 2.0, -4.0])
PC_MNI_RAS = np.array([0.0, -26.0, -2.0])

# Territory labels of the level-2 arterial atlas (Liu et al. 2023); "L" is the patient's left.
TERRITORIES = {
    "ACA-L": 1,
    "ACA-R": 2,
    "MCA-L": 3,
    "MCA-R": 4,
    "PCA-L": 5,
    "PCA-R": 6,
    "VB-L": 7,
    "VB-R": 8,
    "LV-L": 9,
    "LV-R": 10,
}

# Anatomical levels as z-ranges in mm from the AC-PC plane (inclusive), at the centre of the level:
# cerebellum below the temporal horns, basal ganglia and thalamus around the AC-PC plane, cortex above the
# lateral ventricles.
LEVEL_CENTRES_MM = dict(zip(LEVELS, (-26.5, 4.4, 44.2)))
LEVEL_HALF_WIDTH_MM = 6.7


@dataclass(frozen=True)
class Grid:
    """A regular grid with identity direction in LPS: voxel ``[k, j, i]`` sits at ``origin + (i, j, k) * spacing``."""

    shape: tuple[int, int, int]  # (nz, ny, nx)
    spacing: tuple[float, float, float]  # (sx, sy, sz) mm
    origin: tuple[float, float, float]  # world position (x, y, z) of voxel [0, 0, 0]

    def axis(self, name: str) -> np.ndarray:
        i = "xyz".index(name)
        n = self.shape[2 - i]
        return self.origin[i] + self.spacing[i] * np.arange(n)

    def world_points(self) -> np.ndarray:
        """World coordinates of every voxel, shape ``(nz, ny, nx, 3)``; computed once per grid, read-only."""
        return _world_points(self)

    def world_to_index(self, points: np.ndarray) -> np.ndarray:
        """Continuous ``(k, j, i)`` indices of world points ``(..., 3)``, in the order ``map_coordinates`` wants."""
        ijk = (np.asarray(points) - np.asarray(self.origin)) / np.asarray(self.spacing)
        return ijk[..., ::-1]

    def reference_image(self):
        import SimpleITK as sitk

        image = sitk.Image([self.shape[2], self.shape[1], self.shape[0]], sitk.sitkFloat32)
        image.SetSpacing(self.spacing)
        image.SetOrigin(self.origin)
        return image


@lru_cache(maxsize=8)
def _world_points(grid: Grid) -> np.ndarray:
    # Every phantom subject and every aligned volume needs these; the anatomy grid alone is 21 MB to rebuild.
    z, y, x = np.meshgrid(grid.axis("z"), grid.axis("y"), grid.axis("x"), indexing="ij")
    points = np.stack([x, y, z], axis=-1)
    points.setflags(write=False)
    return points


ANATOMY_GRID = Grid(shape=(91, 109, 91), spacing=(2.0, 2.0, 2.0), origin=(-90.0, -88.0, -68.0))

CANONICAL_SPACING_MM = 4.42
AC_SLICE = 16
CANONICAL_GRID = Grid(
    shape=(40, *SLICE_SHAPE),
    spacing=(CANONICAL_SPACING_MM,) * 3,
    # columns centred on the midline, rows centred 18 mm behind the AC (the brain's centre), AC-PC plane on a slice
    origin=(-31.5 * CANONICAL_SPACING_MM, 18.0 - 31.5 * CANONICAL_SPACING_MM, -AC_SLICE * CANONICAL_SPACING_MM),
)


def _acpc_rotation() -> np.ndarray:
    """Rotation that takes MNI RAS directions to AC-PC RAS directions (about the left-right axis)."""
    d = PC_MNI_RAS - AC_MNI_RAS
    angle = np.arctan2(d[2], -d[1])  # pitch of the AC-PC line in MNI space
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1, 0, 0], [0, c, s], [0, -s, c]])


def acpc_to_mni_ras(points_lps: np.ndarray) -> np.ndarray:
    """Map AC-PC space points (LPS mm) to MNI RAS mm."""
    ras = np.asarray(points_lps, dtype=float) * np.array([-1.0, -1.0, 1.0])
    return ras @ _acpc_rotation() + AC_MNI_RAS


def landmarks_acpc() -> dict[str, np.ndarray]:
    """AC, PC and a superior midline point in AC-PC space (LPS mm)."""
    pc_distance = float(np.linalg.norm(PC_MNI_RAS - AC_MNI_RAS))
    return {
        "AC": np.zeros(3),
        "PC": np.array([0.0, pc_distance, 0.0]),
        "MID": np.array([0.0, 10.0, 50.0]),
    }


@dataclass(frozen=True)
class Anatomy:
    """Grey and white matter probability (0-1) and arterial territory labels on :data:`ANATOMY_GRID`."""

    gm: np.ndarray
    wm: np.ndarray
    territories: np.ndarray
    grid: Grid = ANATOMY_GRID


@lru_cache(maxsize=1)
def load_anatomy() -> Anatomy:
    with resources.files(__package__).joinpath("data/anatomy_acpc_2mm.npz").open("rb") as fh:
        data = np.load(fh)
        return Anatomy(
            gm=data["gm"].astype(np.float32) / 255.0,
            wm=data["wm"].astype(np.float32) / 255.0,
            territories=data["territories"].copy(),
        )


def resample_to_grid(values: np.ndarray, source: Grid, target: Grid, order: int = 1) -> np.ndarray:
    """Resample an array from one identity-direction grid to another (same world frame)."""
    idx = source.world_to_index(target.world_points())
    return ndimage.map_coordinates(values, np.moveaxis(idx, -1, 0), order=order, mode="constant", cval=0.0)


def fwhm_to_sigma(fwhm_mm: float) -> float:
    return fwhm_mm / (2.0 * np.sqrt(2.0 * np.log(2.0)))


@lru_cache(maxsize=1)
def perfusion_template() -> np.ndarray:
    """Mean rest CBF pattern (grey 50, white 20 mL/100 g/min) at SPECT resolution on :data:`CANONICAL_GRID`.

    Smoothed to 13 mm FWHM, the middle of the systems' range, so that registration compares like with like.
    """
    anatomy = load_anatomy()
    cbf = 50.0 * anatomy.gm + 20.0 * anatomy.wm
    sigma_vox = fwhm_to_sigma(13.0) / ANATOMY_GRID.spacing[0]
    smooth = ndimage.gaussian_filter(cbf, sigma_vox)
    return resample_to_grid(smooth, ANATOMY_GRID, CANONICAL_GRID).astype(np.float32)


@lru_cache(maxsize=4)
def brain_mask_canonical(threshold: float = 0.5) -> np.ndarray:
    """Brain (grey + white matter probability above ``threshold``) on :data:`CANONICAL_GRID`."""
    anatomy = load_anatomy()
    return resample_to_grid(anatomy.gm + anatomy.wm, ANATOMY_GRID, CANONICAL_GRID) > threshold
