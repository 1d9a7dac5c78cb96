"""The in-memory SPECT volume: voxels in physical units plus geometry in DICOM patient space (LPS, mm)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class SeriesInfo:
    """Header facts about a series. Identifiers are in clear here; only ingest sees them, and hashes them."""

    patient_id: str
    study_instance_uid: str
    series_instance_uid: str
    accession_number: str
    modality: str
    sop_class_uid: str
    condition: str  # "rest", "stress" or "unknown"
    description: str
    layout: str  # "multiframe" or "per-slice"
    geometry_source: str  # "detector-sequence", "top-level"
    files: tuple[str, ...] = ()


@dataclass(frozen=True)
class Volume:
    """A scalar volume: ``array[k, j, i]`` is voxel ``(i, j, k)``, at ``origin + direction @ ((i, j, k) * spacing)``.

    ``direction`` holds the unit vectors of the column (i), row (j) and slice (k) index axes as its columns,
    exactly as SimpleITK does, so ``array`` equals ``sitk.GetArrayFromImage(volume.to_sitk())``.
    """

    array: np.ndarray
    origin: tuple[float, float, float]
    spacing: tuple[float, float, float]
    direction: np.ndarray
    unit: str
    scale_source: str  # "rescale", "rwvm" or "none"
    info: SeriesInfo | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.array.ndim != 3:
            raise ValueError(f"a volume needs a 3-D array, got shape {self.array.shape}")
        direction = np.asarray(self.direction, dtype=float)
        if direction.shape != (3, 3) or not np.allclose(direction.T @ direction, np.eye(3), atol=1e-4):
            raise ValueError("direction must be a 3x3 orthonormal matrix")
        if min(self.spacing) <= 0:
            raise ValueError(f"spacing must be positive, got {self.spacing}")

    def index_to_world(self, ijk: np.ndarray) -> np.ndarray:
        """World LPS positions of continuous voxel indices ``(..., 3)`` given as ``(i, j, k)``."""
        return np.asarray(ijk) * np.asarray(self.spacing) @ np.asarray(self.direction).T + np.asarray(self.origin)

    def world_points(self) -> np.ndarray:
        """World position of every voxel, shape ``(nz, ny, nx, 3)``, aligned with ``array``."""
        nz, ny, nx = self.array.shape
        k, j, i = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
        return self.index_to_world(np.stack([i, j, k], axis=-1))

    def to_sitk(self):
        import SimpleITK as sitk

        image = sitk.GetImageFromArray(np.ascontiguousarray(self.array, dtype=np.float32))
        image.SetOrigin(tuple(float(v) for v in self.origin))
        image.SetSpacing(tuple(float(v) for v in self.spacing))
        image.SetDirection(tuple(float(v) for v in np.asarray(self.direction).ravel()))
        return image

    @classmethod
    def from_sitk(cls, image, unit: str = "", scale_source: str = "none", info: SeriesInfo | None = None) -> Volume:
        import SimpleITK as sitk

        return cls(
            array=sitk.GetArrayFromImage(image).astype(np.float32),
            origin=tuple(image.GetOrigin()),
            spacing=tuple(image.GetSpacing()),
            direction=np.array(image.GetDirection()).reshape(3, 3),
            unit=unit,
            scale_source=scale_source,
            info=info,
        )
