"""AC-PC alignment: rigid registration to the perfusion template, or three landmarks; QC numbers for each volume.

The result places AC-PC point ``q`` (mm, LPS, origin at the AC) at ``rotation @ q + translation`` in the scanner,
and holds the volume resampled onto :data:`spect_toolkit.template.CANONICAL_GRID`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.spatial.transform import Rotation

from ..dicom.volume import Volume
from ..errors import ArgumentError, SpectInputError
from ..template import CANONICAL_GRID, brain_mask_canonical, perfusion_template
from .resample import resample_to_canonical

# A volume is flagged when two registration starts disagree, when its pose is outside what a head in a SPECT
# camera does, or when it does not look like a brain after alignment (wrong anatomy, gross failure). Similarity
# alone cannot separate misalignment from a large defect, hence its low bar.
QC_MAX_ANGLE_DEG = 30.0
QC_MIN_SIMILARITY = 0.60


@dataclass(frozen=True)
class Aligned:
    array: np.ndarray  # (z, row, col) on CANONICAL_GRID, in the volume's unit
    rotation: np.ndarray  # AC-PC directions to scanner directions
    translation: np.ndarray  # scanner (world) position of the AC, mm
    angles_deg: tuple[float, float, float]  # pitch (about x), roll (about y), yaw (about z)
    similarity: float  # Pearson correlation with the template inside the brain mask
    method: str  # "template" or "landmarks"
    qc_flag: str  # "ok" or why a person should look

    def transform_error(self, rotation: np.ndarray, translation: np.ndarray) -> tuple[float, float]:
        """(rotation error in degrees, AC position error in mm) against a known pose."""
        delta = Rotation.from_matrix(np.asarray(rotation).T @ self.rotation)
        return float(np.degrees(delta.magnitude())), float(np.linalg.norm(self.translation - np.asarray(translation)))


def rotation_angles(rotation: np.ndarray) -> tuple[float, float, float]:
    """(pitch, roll, yaw) in degrees, the phantom's convention: R = Rz(yaw) Ry(roll) Rx(pitch)."""
    yaw, roll, pitch = Rotation.from_matrix(rotation).as_euler("zyx", degrees=True)
    return float(pitch), float(roll), float(yaw)


def landmark_frame(ac: np.ndarray, pc: np.ndarray, midline: np.ndarray, source: str | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Rotation and translation of the AC-PC frame from AC, PC and one more midline point (world LPS, mm)."""
    ac, pc, midline = (np.asarray(p, dtype=float) for p in (ac, pc, midline))
    y = pc - ac
    if np.linalg.norm(y) < 5.0:
        raise SpectInputError(source, f"AC and PC are {np.linalg.norm(y):.1f} mm apart; landmarks look wrong")
    y /= np.linalg.norm(y)
    up = midline - ac
    z = up - (up @ y) * y
    if np.linalg.norm(z) < 10.0:
        raise SpectInputError(source, "the midline point lies on the AC-PC line; it must be well above it")
    z /= np.linalg.norm(z)
    x = np.cross(y, z)
    return np.column_stack([x, y, z]), ac


def _similarity(array: np.ndarray) -> float:
    mask = brain_mask_canonical()
    a, b = array[mask], perfusion_template()[mask]
    if a.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def _angle_between(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(Rotation.from_matrix(a.T @ b).magnitude()))


def _qc(angles: tuple[float, float, float], similarity: float, disagreement: float = 0.0) -> str:
    if disagreement > QC_MAX_DISAGREEMENT_DEG:
        return f"unstable registration: two starts disagree by {disagreement:.1f} deg"
    worst = max(abs(a) for a in angles)
    if worst > QC_MAX_ANGLE_DEG:
        return f"rotation {worst:.0f} deg exceeds {QC_MAX_ANGLE_DEG:.0f} deg"
    if similarity < QC_MIN_SIMILARITY:
        return f"similarity {similarity:.2f} below {QC_MIN_SIMILARITY:.2f}"
    return "ok"


def _registration(fixed, mask, shrink: list[int], sigmas: list[float]):
    import SimpleITK as sitk

    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsCorrelation()
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(0.3, seed=1)  # fixed seed: the same volume always aligns the same way
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(learningRate=2.0, minStep=1e-3, numberOfIterations=150,
                                                    relaxationFactor=0.6, gradientMagnitudeTolerance=1e-8)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel(shrink)
    method.SetSmoothingSigmasPerLevel(sigmas)
    method.SetMetricFixedMask(mask)
    return method


def _register(volume: Volume, start_deg: tuple[float, float, float] = (0.0, 0.0, 0.0), coarse_only: bool = False
              ) -> tuple[np.ndarray, np.ndarray, float]:
    """Rigid pose from a 9-parameter registration to the perfusion template (correlation, brain mask), started
    from the centres of mass and the rotation ``start_deg`` (pitch, roll, yaw); returns the final metric too."""
    import SimpleITK as sitk

    fixed = sitk.GetImageFromArray(perfusion_template())
    fixed.CopyInformation(CANONICAL_GRID.reference_image())
    moving = volume.to_sitk()
    # Head size is fitted too (rotation, shift, scale per axis), so that a larger or flatter head does not tilt
    # the rigid answer; the rotation is the polar factor of the fitted matrix.
    transform = sitk.CenteredTransformInitializer(fixed, moving, sitk.ScaleVersor3DTransform(),
                                                  sitk.CenteredTransformInitializerFilter.MOMENTS)
    if any(start_deg):
        pitch, roll, yaw = start_deg
        rotvec = Rotation.from_euler("zyx", [yaw, roll, pitch], degrees=True).as_rotvec()
        angle = float(np.linalg.norm(rotvec))
        transform.SetRotation(tuple(rotvec / angle), angle)
    mask = sitk.GetImageFromArray(brain_mask_dilated().astype(np.uint8))
    mask.CopyInformation(fixed)
    method = _registration(fixed, mask, [2] if coarse_only else [2, 1], [1.0] if coarse_only else [1.0, 0.0])
    method.SetInitialTransform(transform, inPlace=True)
    method.Execute(fixed, moving)
    matrix = np.array(transform.GetMatrix()).reshape(3, 3)
    centre = np.array(transform.GetCenter())
    translation = matrix @ (-centre) + centre + np.array(transform.GetTranslation())
    u, _, vt = np.linalg.svd(matrix)
    return u @ vt, translation, float(method.GetMetricValue())


# The second start is tilted the way heads most often lie in the camera (chin down) and turned a little.
SECOND_START_DEG = (12.0, 0.0, 6.0)
QC_MAX_DISAGREEMENT_DEG = 2.0


@lru_cache(maxsize=1)
def brain_mask_dilated() -> np.ndarray:
    from scipy import ndimage

    return ndimage.binary_dilation(brain_mask_canonical(0.2), iterations=2)


def align_to_acpc(volume: Volume, method: str = "template", landmarks: dict | None = None) -> Aligned:
    """Align ``volume`` to AC-PC space.

    ``method="template"``: rigid registration to the perfusion template (correlation metric, so the global
    CBF level and the stress increase do not matter; initialised by the centres of mass).
    ``method="landmarks"``: ``landmarks`` maps ``"AC"``, ``"PC"``, ``"MID"`` to world LPS points (mm).
    """
    disagreement = 0.0
    if method == "template":
        # Two starts: when a cheap coarse run from a second start lands on the same pose, the answer is not a
        # local optimum of the first start. When it does not, refine it fully and keep the better fit.
        rotation, translation, metric = _register(volume)
        coarse = _register(volume, SECOND_START_DEG, coarse_only=True)
        disagreement = _angle_between(rotation, coarse[0])
        if disagreement > QC_MAX_DISAGREEMENT_DEG:
            second = _register(volume, SECOND_START_DEG)
            disagreement = _angle_between(rotation, second[0])
            if second[2] < metric:
                rotation, translation, metric = second
    elif method == "landmarks":
        if not landmarks or not {"AC", "PC", "MID"} <= set(landmarks):
            raise SpectInputError(None, "landmark alignment needs AC, PC and MID points")
        rotation, translation = landmark_frame(landmarks["AC"], landmarks["PC"], landmarks["MID"])
    else:
        raise ArgumentError(f"unknown alignment method {method!r}; expected 'template' or 'landmarks'")
    array = resample_to_canonical(volume, rotation, translation)
    angles = rotation_angles(rotation)
    similarity = _similarity(array)
    return Aligned(array, rotation, translation, angles, similarity, method, _qc(angles, similarity, disagreement))
