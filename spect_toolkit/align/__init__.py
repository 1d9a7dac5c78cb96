"""AC-PC alignment: rigid registration to the perfusion template, or three landmarks; QC numbers per volume."""

from .acpc import QC_MAX_ANGLE_DEG, QC_MIN_SIMILARITY, Aligned, align_to_acpc, landmark_frame, rotation_angles
from .resample import resample_to_canonical, world_to_index

__all__ = [
    "Aligned",
    "align_to_acpc",
    "resample_to_canonical",
    "world_to_index",
    "landmark_frame",
    "rotation_angles",
    "QC_MAX_ANGLE_DEG",
    "QC_MIN_SIMILARITY",
]
