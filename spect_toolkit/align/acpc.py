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

# QC flags a volume when two registration starts disagree, when its pose is outside what a head in a SPECT camera
# does, when a second registration of the aligned volume still finds it turned or shifted (the alignment is off),
# or when it does not look like a brain outside its defects (wrong anatomy, gross failure). The residual bars lie
# halfway between the registration's own scatter (under 1 degree, 1 mm) and a misalignment worth a look (5 degrees).
QC_MAX_ANGLE_DEG = 30.0
QC_MAX_RESIDUAL_DEG = 2.5
QC_MAX_RESIDUAL_MM = 4.0
QC_MIN_SIMILARITY = 0.60
QC_MAX_DISAGREEMENT_DEG = 2.0
# A brain voxel below this share of the template's level (scaled to the volume) counts as defect and is left out
# of the registration: a unilateral defect otherwise pulls the head toward the healthy side by several mm.
DEFECT_RATIO = 0.85
DEFECT_PASSES = 2
# The second start is tilted the way heads most often lie in the camera (chin down) and turned a little.
SECOND_START_DEG = (12.0, 0.0, 6.0)


@dataclass(frozen=True)
class QualityCheck:
    """What QC measured on one aligned volume, and its verdict."""

    flag: str  # "ok" or why a person should look, with the values that decided it
    similarity: float  # correlation with the template inside the brain, defect voxels left out
    residual_deg: float  # rotation a second registration of the aligned volume still finds
    residual_mm: float  # shift of the AC that second registration still finds
    defect_share: float  # share of brain voxels treated as defect


@dataclass(frozen=True)
class Aligned:
    array: np.ndarray  # (z, row, col) on CANONICAL_GRID, in the volume's unit
    rotation: np.ndarray  # AC-PC directions to scanner directions
    translation: np.ndarray  # scanner (world) position of the AC, mm
    angles_deg: tuple[float, float, float]  # pitch (about x), roll (about y), yaw (about z); see rotation_angles
    similarity: float  # correlation with the template inside the brain mask, defect voxels left out
    method: str  # "template" or "landmarks"
    qc_flag: str  # "ok" or why a person should look
    qc: QualityCheck | None = None

    def transform_error(self, rotation: np.ndarray, translation: np.ndarray) -> tuple[float, float]:
        """(rotation error in degrees, AC position error in mm) against a known pose."""
        delta = Rotation.from_matrix(np.asarray(rotation).T @ self.rotation)
        return float(np.degrees(delta.magnitude())), float(np.linalg.norm(self.translation - np.asarray(translation)))


def rotation_angles(rotation: np.ndarray) -> tuple[float, float, float]:
    """(pitch, roll, yaw) in degrees with ``R = Rx(pitch) @ Ry(roll) @ Rz(yaw)``: applied to a vector, the yaw
    (about z, superior) acts first, then the roll (about y, posterior), then the pitch (about x, left). The same
    order as the phantom's poses; :func:`rotation_from_angles` is the inverse."""
    yaw, roll, pitch = Rotation.from_matrix(rotation).as_euler("zyx", degrees=True)
    return float(pitch), float(roll), float(yaw)


def rotation_from_angles(pitch: float, roll: float, yaw: float) -> np.ndarray:
    """``Rx(pitch) @ Ry(roll) @ Rz(yaw)`` from angles in degrees (scipy's extrinsic "zyx")."""
    return Rotation.from_euler("zyx", [yaw, roll, pitch], degrees=True).as_matrix()


def landmark_frame(
    ac: np.ndarray, pc: np.ndarray, midline: np.ndarray, source: str | None = None
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


@lru_cache(maxsize=1)
def brain_mask_dilated() -> np.ndarray:
    from scipy import ndimage

    return ndimage.binary_dilation(brain_mask_canonical(0.2), iterations=2)


def defect_mask(array: np.ndarray) -> np.ndarray:
    """Brain voxels of an aligned volume far below the template's pattern (perfusion defects), dilated by two
    voxels to take in the defect's penumbra.

    The template is scaled to the volume by the median ratio inside the brain, so the global CBF level and the
    acetazolamide increase do not matter; a voxel counts as defect below :data:`DEFECT_RATIO` of its scaled
    template value.
    """
    from scipy import ndimage

    brain = brain_mask_canonical()
    template = perfusion_template()
    scale = float(np.median(array[brain] / template[brain]))
    if not np.isfinite(scale) or scale <= 0:
        return np.zeros_like(brain)
    low = brain & (array < DEFECT_RATIO * scale * template)
    return ndimage.binary_dilation(low, iterations=2) & brain_mask_dilated()


def similarity(array: np.ndarray, defect: np.ndarray | None = None) -> float:
    """Pearson correlation with the template inside the brain mask, ``defect`` voxels left out."""
    mask = brain_mask_canonical() if defect is None else brain_mask_canonical() & ~defect
    a, b = array[mask], perfusion_template()[mask]
    if a.size < 2 or a.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def _angle_between(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(Rotation.from_matrix(a.T @ b).magnitude()))


def _registration(fixed, mask, shrink: list[int], sigmas: list[float]):
    import SimpleITK as sitk

    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsCorrelation()
    method.SetMetricSamplingStrategy(method.RANDOM)
    method.SetMetricSamplingPercentage(0.3, seed=1)  # fixed seed: the same volume always aligns the same way
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=2.0, minStep=1e-3, numberOfIterations=150, relaxationFactor=0.6, gradientMagnitudeTolerance=1e-8
    )
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel(shrink)
    method.SetSmoothingSigmasPerLevel(sigmas)
    method.SetMetricFixedMask(mask)
    return method


@dataclass(frozen=True)
class _Pose:
    rotation: np.ndarray
    translation: np.ndarray
    metric: float


def _register(
    moving,
    start: tuple[float, float, float] | _Pose = (0.0, 0.0, 0.0),
    coarse_only: bool = False,
    defect: np.ndarray | None = None,
) -> _Pose:
    """Rigid pose from a 9-parameter registration of the SimpleITK image ``moving`` to the perfusion template
    (correlation, inside the dilated brain mask less ``defect``), started from the centres of mass turned by
    ``start`` (pitch, roll, yaw in degrees) or from a pose found before."""
    import SimpleITK as sitk

    fixed = sitk.GetImageFromArray(perfusion_template())
    fixed.CopyInformation(CANONICAL_GRID.reference_image())
    # Head size is fitted too (rotation, shift, scale per axis), so that a larger or flatter head does not tilt
    # the rigid answer; the rotation is the polar factor of the fitted matrix.
    transform = sitk.CenteredTransformInitializer(
        fixed, moving, sitk.ScaleVersor3DTransform(), sitk.CenteredTransformInitializerFilter.MOMENTS
    )
    if isinstance(start, _Pose):
        # q -> R (q - c) + c + T equals q -> R q + t for T = R c + t - c
        centre = np.array(transform.GetCenter())
        rotvec = Rotation.from_matrix(start.rotation).as_rotvec()
        angle = float(np.linalg.norm(rotvec))
        if angle > 0:
            transform.SetRotation(tuple(rotvec / angle), angle)
        transform.SetTranslation(tuple(start.rotation @ centre + start.translation - centre))
    elif any(start):
        rotvec = Rotation.from_matrix(rotation_from_angles(*start)).as_rotvec()
        angle = float(np.linalg.norm(rotvec))
        transform.SetRotation(tuple(rotvec / angle), angle)
    region = brain_mask_dilated() if defect is None else brain_mask_dilated() & ~defect
    mask = sitk.GetImageFromArray(region.astype(np.uint8))
    mask.CopyInformation(fixed)
    method = _registration(fixed, mask, [2] if coarse_only else [2, 1], [1.0] if coarse_only else [1.0, 0.0])
    method.SetInitialTransform(transform, inPlace=True)
    method.Execute(fixed, moving)
    matrix = np.array(transform.GetMatrix()).reshape(3, 3)
    centre = np.array(transform.GetCenter())
    translation = matrix @ (-centre) + centre + np.array(transform.GetTranslation())
    u, _, vt = np.linalg.svd(matrix)
    return _Pose(u @ vt, translation, float(method.GetMetricValue()))


def _canonical_image(array: np.ndarray):
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.ascontiguousarray(array, dtype=np.float32))
    image.CopyInformation(CANONICAL_GRID.reference_image())
    return image


def shown(value: float, limit: float) -> str:
    """``value`` with as many decimals (1 to 4) as it takes not to print like ``limit``: a flag never reads
    "0.60 below 0.60"."""
    for decimals in range(1, 5):
        text = f"{value:.{decimals}f}"
        if text != f"{limit:.{decimals}f}":
            return text
    return f"{value:.6g}"


def quality_check(
    volume: Volume,
    rotation: np.ndarray,
    translation: np.ndarray,
    disagreement: float = 0.0,
    array: np.ndarray | None = None,
) -> QualityCheck:
    """Check a pose of ``volume``: resample it into AC-PC space and register that to the template once more
    (defects left out). A right pose leaves nothing to correct; a wrong one leaves its error as the residual."""
    if array is None:  # the caller may have resampled at this pose already
        array = resample_to_canonical(volume, rotation, translation)
    defect = defect_mask(array)
    residual = _register(_canonical_image(array), coarse_only=True, defect=defect)  # coarse: 5 deg shows at 8.8 mm
    residual_deg = float(np.degrees(Rotation.from_matrix(residual.rotation).magnitude()))
    residual_mm = float(np.linalg.norm(residual.translation))
    score = similarity(array, defect)
    share = float(defect[brain_mask_canonical()].mean())
    angles = rotation_angles(rotation)
    worst = max(abs(a) for a in angles)
    if disagreement > QC_MAX_DISAGREEMENT_DEG:
        value = shown(disagreement, QC_MAX_DISAGREEMENT_DEG)
        flag = f"unstable registration: two starts disagree by {value} deg (limit {QC_MAX_DISAGREEMENT_DEG})"
    elif worst > QC_MAX_ANGLE_DEG:
        value = shown(worst, QC_MAX_ANGLE_DEG)
        flag = f"head rotated {value} deg, beyond the {QC_MAX_ANGLE_DEG:.0f} deg a head lies in a camera"
    elif residual_deg > QC_MAX_RESIDUAL_DEG or residual_mm > QC_MAX_RESIDUAL_MM:
        turn, shift = shown(residual_deg, QC_MAX_RESIDUAL_DEG), shown(residual_mm, QC_MAX_RESIDUAL_MM)
        flag = (
            f"misaligned: a second registration still turns it {turn} deg and shifts it {shift} mm "
            f"(limits {QC_MAX_RESIDUAL_DEG} deg, {QC_MAX_RESIDUAL_MM} mm)"
        )
    elif score < QC_MIN_SIMILARITY:
        value = shown(score, QC_MIN_SIMILARITY)
        flag = f"not brain-like: correlation with the template outside defects {value}, below {QC_MIN_SIMILARITY}"
    else:
        flag = "ok"
    return QualityCheck(flag, score, residual_deg, residual_mm, share)


def align_to_acpc(volume: Volume, method: str = "template", landmarks: dict | None = None) -> Aligned:
    """Align ``volume`` to AC-PC space.

    ``method="template"``: rigid registration to the perfusion template (correlation metric, so the global
    CBF level and the stress increase do not matter; initialised by the centres of mass), then once more with the
    voxels far below the template (defects) left out, so that a defect does not pull the head sideways.
    ``method="landmarks"``: ``landmarks`` maps ``"AC"``, ``"PC"``, ``"MID"`` to world LPS points (mm).
    """
    disagreement = 0.0
    if method == "template":
        moving = volume.to_sitk()
        # Two starts: when a cheap coarse run from a second start lands on the same pose, the answer is not a
        # local optimum of the first start. When it does not, refine it fully and keep the better fit.
        pose = _register(moving)
        coarse = _register(moving, SECOND_START_DEG, coarse_only=True)
        disagreement = _angle_between(pose.rotation, coarse.rotation)
        if disagreement > QC_MAX_DISAGREEMENT_DEG:
            second = _register(moving, SECOND_START_DEG)
            disagreement = _angle_between(pose.rotation, second.rotation)
            if second.metric < pose.metric:
                pose = second
        for _ in range(DEFECT_PASSES):  # each pass finds the defect on a better-aligned volume
            defect = defect_mask(resample_to_canonical(volume, pose.rotation, pose.translation))
            pose = _register(moving, pose, defect=defect)
        rotation, translation = pose.rotation, pose.translation
    elif method == "landmarks":
        if not landmarks or not {"AC", "PC", "MID"} <= set(landmarks):
            raise SpectInputError(None, "landmark alignment needs AC, PC and MID points")
        rotation, translation = landmark_frame(landmarks["AC"], landmarks["PC"], landmarks["MID"])
    else:
        raise ArgumentError(f"unknown alignment method {method!r}; expected 'template' or 'landmarks'")
    array = resample_to_canonical(volume, rotation, translation)
    qc = quality_check(volume, rotation, translation, disagreement, array)
    return Aligned(array, rotation, translation, rotation_angles(rotation), qc.similarity, method, qc.flag, qc)
