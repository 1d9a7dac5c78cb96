"""Synthetic 123I-IMP QSPECT/DTARG subjects: anatomy, CBF with defects, head pose, and the acquired volumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy import ndimage
from scipy.spatial.transform import Rotation

from ..template import (
    ANATOMY_GRID,
    LEVEL_CENTRES_MM,
    TERRITORIES,
    Grid,
    fwhm_to_sigma,
    landmarks_acpc,
    load_anatomy,
)
from ..vocabulary import CONDITIONS, SLICE_SHAPE
from .physics import Scanner, acquire_and_reconstruct

# The paper's Table 1: 551 normal, 291 unilateral, 96 bilateral slices out of 938.
PAPER_MIX = {"normal": 551 / 938, "unilateral": 291 / 938, "bilateral": 96 / 938}

ACQUISITION_MATRIX = SLICE_SHAPE[0]  # the camera's reconstruction matrix is the slice matrix
ACQUISITION_SLICES = 64
ANTI_ALIAS_FWHM_MM = 4.0


@dataclass(frozen=True)
class Defect:
    territory: str  # e.g. "MCA-L"
    rest_reduction: float  # fraction of CBF lost at rest
    stress_reduction: float  # fraction of the stress CBF lost (impaired vascular reserve)
    radius_mm: float  # extent of the defect inside its territory (large = whole territory)
    centre_mm: tuple[float, float, float]  # AC-PC space


@dataclass(frozen=True)
class Subject:
    """Everything random about one synthetic patient, drawn once so that rest and stress agree."""

    index: int
    pattern: str
    side: str  # "L", "R" or "none" (for bilateral: the worse side)
    defects: tuple[Defect, ...]
    diaschisis: float  # fractional reduction of the contralateral cerebellum (0 = none)
    grey_cbf: float
    white_cbf: float
    stress_gain: float  # acetazolamide increase of normal CBF
    rotation_deg: tuple[float, float, float]  # pitch (about x), roll (about y), yaw (about z)
    translation_mm: tuple[float, float, float]  # world position of the AC
    scale: tuple[float, float, float]  # head size about the AC
    elastic_mm: float
    seed: int
    table_z_mm: float = 0.0
    acquisition_grid: Grid = field(default=None)  # type: ignore[assignment]

    @property
    def rotation(self) -> np.ndarray:
        """Rotation matrix taking AC-PC directions to scanner (world LPS) directions."""
        pitch, roll, yaw = self.rotation_deg
        return Rotation.from_euler("zyx", [yaw, roll, pitch], degrees=True).as_matrix()

    def template_to_world(self, points: np.ndarray) -> np.ndarray:
        """Rigid-plus-scale map (no elastic part) of AC-PC points to world LPS."""
        return (np.asarray(points) * np.asarray(self.scale)) @ self.rotation.T + np.asarray(self.translation_mm)

    def level_z_mm(self) -> dict[str, float]:
        """Where each level's anatomy lies in this subject's AC-PC frame (head size scales it)."""
        return {name: centre * self.scale[2] for name, centre in LEVEL_CENTRES_MM.items()}


def acquisition_grid(table_z_mm: float, scanner: Scanner) -> Grid:
    half = (ACQUISITION_MATRIX - 1) / 2.0 * scanner.pixel_mm
    half_z = (ACQUISITION_SLICES - 1) / 2.0 * scanner.pixel_mm
    return Grid(
        shape=(ACQUISITION_SLICES, ACQUISITION_MATRIX, ACQUISITION_MATRIX),
        spacing=(scanner.pixel_mm,) * 3,
        origin=(-half, -half, table_z_mm - half_z),
    )


def _pick_pattern(rng: np.random.Generator, mix: dict[str, float]) -> str:
    names = list(mix)
    p = np.array([mix[n] for n in names], dtype=float)
    return names[rng.choice(len(names), p=p / p.sum())]


@lru_cache(maxsize=16)
def _territory_centre(label: int) -> tuple[float, float, float]:
    points = ANATOMY_GRID.world_points()[load_anatomy().territories == label]
    return tuple(points.mean(axis=0))


def _defect(rng: np.random.Generator, territory: str, severity_scale: float = 1.0) -> Defect:
    centre = np.array(_territory_centre(TERRITORIES[territory])) + rng.normal(0, 12.0, 3)
    return Defect(
        territory=territory,
        rest_reduction=float(rng.uniform(0.08, 0.30) * severity_scale),
        stress_reduction=float(rng.uniform(0.20, 0.45) * severity_scale),
        radius_mm=float(rng.uniform(25.0, 70.0)),
        centre_mm=tuple(float(c) for c in centre),
    )


def draw_subject(index: int, seed: int, mix: dict[str, float] | None = None, scanner: Scanner = Scanner()) -> Subject:
    """Draw subject ``index`` of a cohort; the same (index, seed) always gives the same subject."""
    rng = np.random.default_rng([seed, index])
    pattern = _pick_pattern(rng, mix or PAPER_MIX)
    side = "none"
    defects: list[Defect] = []
    diaschisis = 0.0
    if pattern == "unilateral":
        side = str(rng.choice(["L", "R"]))
        defects.append(_defect(rng, f"MCA-{side}"))
        if rng.random() < 0.35:
            defects.append(_defect(rng, f"ACA-{side}", 0.8))
        if rng.random() < 0.4:  # crossed cerebellar diaschisis: the cerebellum opposite the lesion
            diaschisis = float(rng.uniform(0.10, 0.25))
    elif pattern == "bilateral":
        side = str(rng.choice(["L", "R"]))
        other = "R" if side == "L" else "L"
        defects.append(_defect(rng, f"MCA-{side}"))
        defects.append(_defect(rng, f"MCA-{other}", float(rng.uniform(0.4, 0.9))))
        if rng.random() < 0.4:
            defects.append(_defect(rng, f"ACA-{str(rng.choice(['L', 'R']))}", 0.7))
    table_z = float(rng.uniform(-80, 80))
    head_centre = np.array([0.0, 18.0, 10.0])
    return Subject(
        index=index,
        pattern=pattern,
        side=side,
        defects=tuple(defects),
        diaschisis=diaschisis,
        grey_cbf=float(rng.uniform(45.0, 55.0)),
        white_cbf=float(rng.uniform(18.0, 22.0)),
        stress_gain=float(rng.uniform(0.30, 0.50)),
        rotation_deg=(float(rng.uniform(-20, 20)), float(rng.uniform(-10, 10)), float(rng.uniform(-10, 10))),
        # the AC lands so that the head centre sits within a few cm of the field-of-view centre
        translation_mm=tuple(float(v) for v in (rng.uniform(-20, 20, 3) - head_centre + [0, 0, table_z])),
        scale=tuple(float(v) for v in rng.uniform(0.95, 1.05, 3)),
        elastic_mm=1.5,
        seed=int(rng.integers(2**31)),
        table_z_mm=table_z,
        acquisition_grid=acquisition_grid(table_z, scanner),
    )


@lru_cache(maxsize=16)
def _soft_territory(label: int) -> np.ndarray:
    mask = (load_anatomy().territories == label).astype(np.float32)
    return ndimage.gaussian_filter(mask, 1.5)


@lru_cache(maxsize=1)
def _cerebellum_halves() -> tuple[np.ndarray, np.ndarray]:
    """Soft masks of the left and right cerebellar hemispheres (vertebrobasilar territory below the tentorium)."""
    z = ANATOMY_GRID.world_points()[..., 2]
    below = z < -12.0
    left = _soft_territory(TERRITORIES["VB-L"]) * below
    right = _soft_territory(TERRITORIES["VB-R"]) * below
    return left, right


def _smooth_field(rng: np.random.Generator, shape: tuple[int, ...], control: int = 5) -> np.ndarray:
    """A random field with unit standard deviation that varies over a few centimetres.

    Sum of separable Gaussian bumps on a ``control``-point lattice: three small matrix products, far cheaper
    than a spline zoom of the same field.
    """
    coarse = rng.normal(size=(control,) * len(shape))
    bases = []
    for n in shape:
        x = np.linspace(0.0, control - 1.0, n)[:, None]
        bases.append(np.exp(-0.5 * (x - np.arange(control)[None, :]) ** 2 / 0.6**2))
    fine = np.einsum("zc,yd,xe,cde->zyx", *bases, coarse, optimize=True)
    return (fine / (fine.std() + 1e-6)).astype(np.float32)


def cbf_maps(subject: Subject) -> dict[str, np.ndarray]:
    """Rest and stress CBF (mL/100 g/min) on the anatomy grid in AC-PC space, before any pose or physics."""
    rng = np.random.default_rng(subject.seed)
    anatomy = load_anatomy()
    regional = 1.0 + 0.03 * _smooth_field(rng, anatomy.gm.shape)
    rest = (subject.grey_cbf * anatomy.gm + subject.white_cbf * anatomy.wm) * regional
    stress_gain = subject.stress_gain * (1.0 + 0.08 * _smooth_field(rng, anatomy.gm.shape))
    stress = rest * (1.0 + stress_gain)
    points = ANATOMY_GRID.world_points()
    for defect in subject.defects:
        distance2 = np.sum((points - np.asarray(defect.centre_mm)) ** 2, axis=-1)
        extent = np.exp(-distance2 / (2.0 * defect.radius_mm**2))
        weight = _soft_territory(TERRITORIES[defect.territory]) * np.clip(1.6 * extent, 0, 1)
        rest = rest * (1.0 - defect.rest_reduction * weight)
        stress = stress * (1.0 - defect.stress_reduction * weight)
    if subject.diaschisis > 0:
        left, right = _cerebellum_halves()
        contralateral = right if subject.side == "L" else left
        rest = rest * (1.0 - subject.diaschisis * contralateral)
        stress = stress * (1.0 - subject.diaschisis * contralateral)
    return {"rest": rest.astype(np.float32), "stress": stress.astype(np.float32)}


def _elastic_displacement(subject: Subject, shape: tuple[int, int, int]) -> np.ndarray:
    """Smooth non-linear displacement (mm) on the acquisition grid, ``elastic_mm`` RMS over the head.

    Its affine part over the head is removed: a random field that varies over the whole field of view is
    otherwise partly a rotation and shift, which would make the true pose ambiguous.
    """
    rng = np.random.default_rng(subject.seed + 1)
    field = np.stack([_smooth_field(rng, shape, control=6) for _ in range(3)], axis=-1)
    grid = subject.acquisition_grid
    head_centre = np.asarray(subject.translation_mm) + subject.rotation @ [0.0, 18.0, 10.0]
    head = np.linalg.norm(grid.world_points() - head_centre, axis=-1) < 85
    index = np.indices(shape).reshape(3, -1).T.astype(np.float32)
    design = np.column_stack([index, np.ones(len(index), np.float32)])
    coef, *_ = np.linalg.lstsq(design[head.ravel()], field.reshape(-1, 3)[head.ravel()], rcond=None)
    field = field - (design @ coef).reshape(field.shape)
    rms = np.sqrt(np.mean(np.sum(field[head] ** 2, axis=-1)))
    return (subject.elastic_mm / max(rms, 1e-6)) * field


def world_to_template(subject: Subject, grid: Grid) -> np.ndarray:
    """AC-PC space position of the anatomy shown at every voxel of ``grid``, shape (nz, ny, nx, 3)."""
    world = grid.world_points()
    template = ((world - np.asarray(subject.translation_mm)) @ subject.rotation) / np.asarray(subject.scale)
    if subject.elastic_mm > 0:
        template = template + _elastic_displacement(subject, grid.shape)
    return template


def world_to_anatomy_index(subject: Subject, grid: Grid) -> np.ndarray:
    """For every voxel of ``grid`` (world LPS), its continuous index in the anatomy grid, shape (3, nz, ny, nx)."""
    return np.moveaxis(ANATOMY_GRID.world_to_index(world_to_template(subject, grid)), -1, 0)


def simulate(
    subject: Subject, scanner: Scanner = Scanner(), total_counts: float = 6e6, noise: bool = True
) -> dict[str, np.ndarray]:
    """Rest and stress reconstructed CBF volumes ``(z, y, x)`` on the subject's acquisition grid."""
    out = {}
    for n, (condition, truth) in enumerate(true_activity(subject).items()):
        rng = np.random.default_rng([subject.seed, n]) if noise else None
        # stress counts come on top of rest in split-dose DTARG; their noise is similar, so one count level serves
        out[condition] = acquire_and_reconstruct(truth, scanner, total_counts, rng)
    return out


def true_activity(subject: Subject) -> dict[str, np.ndarray]:
    """Rest and stress CBF ``(z, y, x)`` on the subject's acquisition grid, before the scanner: what it images."""
    maps = cbf_maps(subject)
    index = world_to_anatomy_index(subject, subject.acquisition_grid)
    # smooth before sampling the 2 mm anatomy on the 4.42 mm grid so that fine structure does not alias
    presmooth = fwhm_to_sigma(ANTI_ALIAS_FWHM_MM) / ANATOMY_GRID.spacing[0]
    return {
        condition: ndimage.map_coordinates(ndimage.gaussian_filter(maps[condition], presmooth), index, order=1).astype(
            np.float32
        )
        for condition in CONDITIONS
    }


def tissue_masks(subject: Subject, gm_threshold: float = 0.5, wm_threshold: float = 0.5) -> dict[str, np.ndarray]:
    """Grey- and white-matter masks (probability above the thresholds) on the subject's acquisition grid."""
    anatomy = load_anatomy()
    index = world_to_anatomy_index(subject, subject.acquisition_grid)
    return {
        "gm": ndimage.map_coordinates(anatomy.gm, index, order=1) > gm_threshold,
        "wm": ndimage.map_coordinates(anatomy.wm, index, order=1) > wm_threshold,
    }


def landmarks_world(subject: Subject) -> dict[str, np.ndarray]:
    """AC, PC and the midline point in world LPS for this subject, elastic displacement included."""
    out = {}
    grid = subject.acquisition_grid
    field = _elastic_displacement(subject, grid.shape) if subject.elastic_mm > 0 else None
    for name, point in landmarks_acpc().items():
        world = subject.template_to_world(point[None])[0]
        if field is not None:
            # the anatomy at template point q is shown at world p where q = M(p) + u(p); solve by fixed point
            for _ in range(5):
                idx = grid.world_to_index(world)
                u = np.array([ndimage.map_coordinates(field[..., c], idx[:, None], order=1)[0] for c in range(3)])
                world = subject.template_to_world((point - u)[None])[0]
        out[name] = world
    return out
