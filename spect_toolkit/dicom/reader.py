"""Read NM (and NM-like) SPECT series into :class:`Volume` with the geometry built from the tags themselves.

The facts this module is built around (see docs/dicom.md):

- a reconstructed SPECT volume is usually one NM multi-frame object, Image Type value 3 ``RECON TOMO``, frames
  indexed by the Slice Vector (0054,0080);
- its Image Orientation/Position (Patient) sit in item 1 of the Detector Information Sequence (0054,0022); some
  vendors put them at the top level instead;
- Spacing Between Slices (0018,0088) is signed: negative means the frames run against the slice normal;
- NM has no Modality LUT: the physical scale comes from Rescale Slope/Intercept or a Real World Value Mapping.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import MediaStorageDirectoryStorage

from ..errors import DicomInputError
from ..vocabulary import CBF_UNIT
from .volume import SeriesInfo, Volume

TOMO_TYPES = ("RECON TOMO", "RECON GATED TOMO")
STRESS_WORDS = ("STRESS", "ACZ", "ACETAZOLAMIDE", "DIAMOX", "CHALLENGE")
REST_WORDS = ("REST", "BASELINE")


class NotImageInput(DicomInputError):
    """A file that is no image input at all (a DICOMDIR, a text file, a viewer program on the medium): listed in
    the index as ignored, not counted as lost input."""


def read_header(path: str | Path, pixels: bool = True) -> Dataset:
    """Read a DICOM file, or raise :class:`DicomInputError` saying why it is not one we can use.

    With ``pixels=False`` the pixel data is checked (present, long enough) without being read: it stays deferred
    and is read only if touched. Indexing keeps :func:`series_header` of it, so memory stays flat in the number of
    files.
    """
    path = Path(path)
    try:
        # Deferred values are read only when touched; the pixel data never is while indexing.
        ds = pydicom.dcmread(path, defer_size=None if pixels else "1 KB")
    except InvalidDicomError:
        raise NotImageInput(path, "not a DICOM file (no DICM preamble or file meta header)") from None
    except (OSError, EOFError, ValueError, KeyError, TypeError) as exc:
        raise DicomInputError(path, f"unreadable or truncated DICOM: {exc}") from None
    if str(getattr(ds.get("file_meta", None), "MediaStorageSOPClassUID", "")) == MediaStorageDirectoryStorage:
        raise NotImageInput(path, "DICOMDIR (the media's directory, not an image)")
    if "PixelData" not in ds:
        # an NM or PET object without pixels is a broken volume; a report or presentation state is no image at all
        kind = DicomInputError if _text(ds, "Modality") in ("NM", "PT") else NotImageInput
        raise kind(path, f"DICOM without pixel data (no (7FE0,0010); modality {_text(ds, 'Modality') or 'missing'})")
    try:
        expected = int(ds.Rows) * int(ds.Columns) * int(ds.get("NumberOfFrames", 1) or 1) * int(ds.BitsAllocated) // 8
        expected *= int(ds.get("SamplesPerPixel", 1))
    except (AttributeError, TypeError, ValueError):
        raise DicomInputError(path, "image pixel description (Rows, Columns, Bits Allocated) missing") from None
    if "TransferSyntaxUID" in getattr(ds, "file_meta", {}) and not ds.file_meta.TransferSyntaxUID.is_compressed:
        stored = _pixel_data_length(ds)
        if stored < expected:
            raise DicomInputError(path, f"truncated: pixel data has {stored} of {expected} bytes")
    return ds


def _has_signal(ds: Dataset) -> bool:
    """Whether any stored pixel is non-zero; ``True`` when that would need decompressing (ingest checks then)."""
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is None or syntax.is_compressed:
        return True
    return bool(np.frombuffer(ds.PixelData, np.uint8).any())


# What scan and describe_series read; keeping only these makes an indexed file cost a few hundred bytes.
SERIES_HEADER_KEYWORDS = (
    "SOPClassUID",
    "SOPInstanceUID",
    "Modality",
    "PatientID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "AccessionNumber",
    "SeriesDescription",
    "ProtocolName",
    "ImageComments",
    "ImageType",
    "Rows",
    "Columns",
    "BitsAllocated",
    "SamplesPerPixel",
    "NumberOfFrames",
    "PixelSpacing",
    "SliceThickness",
    "SpacingBetweenSlices",
    "ImageOrientationPatient",
    "ImagePositionPatient",
    "FrameIncrementPointer",
    "SliceVector",
    "RescaleSlope",
    "RescaleIntercept",
    "RescaleType",
    "Units",
    "RealWorldValueMappingSequence",
)


def series_header(ds: Dataset) -> Dataset:
    """A copy of ``ds`` with only :data:`SERIES_HEADER_KEYWORDS` and the geometry of the first detector item."""
    header = Dataset()
    for keyword in SERIES_HEADER_KEYWORDS:
        if keyword in ds:
            header[keyword] = ds[keyword]
    detectors = ds.get("DetectorInformationSequence")
    if detectors:
        item = Dataset()
        for keyword in ("ImageOrientationPatient", "ImagePositionPatient"):
            if keyword in detectors[0]:
                item[keyword] = detectors[0][keyword]
        header.DetectorInformationSequence = [item]
    header.file_meta = ds.file_meta
    header.filename = ds.filename
    return header


def _pixel_data_length(ds: Dataset) -> int:
    """Bytes of native pixel data, without loading a deferred value."""
    element = ds.get_item("PixelData")
    value = element.value
    if value is None:  # deferred: the header gave the length
        return int(element.length)
    return len(value)


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword, "")
    return str(value) if value is not None else ""


def condition_of(ds: Dataset) -> str:
    """rest / stress from the series' own words (description, protocol, comments); ``unknown`` otherwise."""
    words = " ".join(_text(ds, k) for k in ("SeriesDescription", "ProtocolName", "ImageComments")).upper()
    if any(w in words for w in STRESS_WORDS):
        return "stress"
    if any(w in words for w in REST_WORDS):
        return "rest"
    return "unknown"


def _geometry_item(ds: Dataset) -> tuple[Dataset, str]:
    """Where the orientation and position live: Detector Information Sequence item 1, else the top level."""
    detectors = ds.get("DetectorInformationSequence")
    if detectors and "ImageOrientationPatient" in detectors[0] and "ImagePositionPatient" in detectors[0]:
        return detectors[0], "detector-sequence"
    if "ImageOrientationPatient" in ds and "ImagePositionPatient" in ds:
        return ds, "top-level"
    raise DicomInputError(
        ds.filename if hasattr(ds, "filename") else None,
        "missing geometry: no Image Orientation/Position (Patient) in the Detector Information Sequence "
        "or at the top level",
    )


def _orientation(item: Dataset, source) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    iop = np.array([float(v) for v in item.ImageOrientationPatient])
    if iop.size != 6:
        raise DicomInputError(source, f"Image Orientation (Patient) has {iop.size} values, expected 6")
    row, col = iop[:3], iop[3:]
    if abs(np.linalg.norm(row) - 1) > 1e-3 or abs(np.linalg.norm(col) - 1) > 1e-3 or abs(row @ col) > 1e-3:
        raise DicomInputError(source, f"Image Orientation (Patient) {iop.tolist()} is not two orthonormal vectors")
    return row, col, np.cross(row, col)


def _pixel_spacing(ds: Dataset, source) -> tuple[float, float]:
    if "PixelSpacing" not in ds:
        raise DicomInputError(source, "missing geometry: no Pixel Spacing (0028,0030)")
    between_rows, between_cols = (float(v) for v in ds.PixelSpacing)
    return between_cols, between_rows  # (along a row = x index, along a column = y index)


def scale_of(ds: Dataset) -> tuple[float, float, str, str]:
    """(slope, intercept, source, unit): Real World Value Mapping first, then Rescale, else raw counts."""
    mappings = ds.get("RealWorldValueMappingSequence")
    if mappings:
        item = mappings[0]
        if "RealWorldValueSlope" in item:
            unit = ""
            units = item.get("MeasurementUnitsCodeSequence")
            if units:
                unit = str(units[0].get("CodeMeaning", "") or units[0].get("CodeValue", ""))
            return float(item.RealWorldValueSlope), float(item.get("RealWorldValueIntercept", 0.0)), "rwvm", unit
    if "RescaleSlope" in ds:
        unit = _text(ds, "Units") or (CBF_UNIT if _text(ds, "RescaleType").upper() == "CBF" else "")
        return float(ds.RescaleSlope), float(ds.get("RescaleIntercept", 0.0)), "rescale", unit or "unknown"
    return 1.0, 0.0, "none", "counts"


def checked_scale(ds: Dataset, source) -> tuple[float, float, str, str]:
    """:func:`scale_of`, refusing a slope or intercept that would turn every voxel into NaN, infinity or zero."""
    slope, intercept, scale_source, unit = scale_of(ds)
    name = {"rwvm": "Real World Value Slope", "rescale": "Rescale Slope"}.get(scale_source, "slope")
    if not np.isfinite(slope) or slope == 0.0:
        raise DicomInputError(source, f"{name} is {slope}: the physical scale is unusable")
    if not np.isfinite(intercept):
        raise DicomInputError(
            source, f"{name.replace('Slope', 'Intercept')} is {intercept}: the physical scale is unusable"
        )
    return slope, intercept, scale_source, unit


def _multiframe_positions(ds: Dataset, item: Dataset, normal: np.ndarray, source) -> np.ndarray:
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    first = np.array([float(v) for v in item.ImagePositionPatient])
    spacing = ds.get("SpacingBetweenSlices")
    if spacing is None or str(spacing) == "":
        spacing = ds.get("SliceThickness")
    if n_frames > 1 and (spacing is None or str(spacing) == "" or float(spacing) == 0.0):
        raise DicomInputError(source, "missing geometry: neither Spacing Between Slices nor Slice Thickness")
    step = float(spacing) if n_frames > 1 else 0.0
    slice_numbers = np.arange(1, n_frames + 1)
    pointer = ds.get("FrameIncrementPointer")
    pointers = pointer if isinstance(pointer, Sequence) and not isinstance(pointer, str) else [pointer]
    if pointer is not None and pydicom.tag.Tag(0x0054, 0x0080) in [pydicom.tag.Tag(p) for p in pointers]:
        vector = np.array([int(v) for v in np.atleast_1d(ds.SliceVector)])
        if vector.size != n_frames:
            raise DicomInputError(source, f"Slice Vector has {vector.size} entries for {n_frames} frames")
        slice_numbers = vector
    return first + np.outer((slice_numbers - 1) * step, normal)


def check_tomographic(ds: Dataset, source) -> None:
    modality = _text(ds, "Modality")
    if modality not in ("NM", "PT"):
        raise DicomInputError(source, f"modality {modality or 'missing'} is not a SPECT volume (expected NM)")
    image_type = [str(v).upper() for v in ds.get("ImageType", [])]
    if modality == "NM" and (len(image_type) < 3 or image_type[2] not in TOMO_TYPES):
        kind = image_type[2] if len(image_type) > 2 else "missing"
        raise DicomInputError(
            source, f"NM image is not a reconstructed tomogram (Image Type value 3 is {kind}, expected RECON TOMO)"
        )


@dataclass(frozen=True)
class SeriesLayout:
    """Header-only description of a series: what ``scan`` reports and ``read_volume`` builds on."""

    info: SeriesInfo
    rows: int
    columns: int
    slices: int
    origin: np.ndarray
    spacing: tuple[float, float, float]
    direction: np.ndarray
    order: list[tuple[int, int]]  # (dataset index, frame index) in ascending slice position
    scale_source: str
    unit: str


@dataclass(frozen=True)
class FileFrames:
    """One file's share of a series: its matrix, orientation and frame positions (a few hundred bytes, so that
    an index of many thousand files stays small)."""

    path: str
    rows: int
    columns: int
    row: np.ndarray  # direction along a row, LPS
    col: np.ndarray  # direction along a column, LPS
    positions: np.ndarray  # (frames, 3) position of each frame's first voxel, LPS mm
    has_signal: bool = True  # False when every stored pixel is zero (known for native pixel data only)

    @classmethod
    def of(cls, ds: Dataset, path: str) -> FileFrames:
        """Read from a header; raises :class:`DicomInputError` naming ``path`` when its geometry is unusable."""
        item, _ = _geometry_item(ds)
        row, col, normal = _orientation(item, path)
        return cls(
            str(path),
            int(ds.Rows),
            int(ds.Columns),
            row,
            col,
            _multiframe_positions(ds, item, normal, path),
            _has_signal(ds),
        )

    @classmethod
    def or_reason(cls, ds: Dataset, path: str) -> FileFrames | DicomInputError:
        """:meth:`of`, or the reason it fails, for :func:`describe_frames` to raise in its own order."""
        try:
            return cls.of(ds, path)
        except DicomInputError as exc:
            return exc


def series_source(paths: list[str]) -> str:
    return str(paths[0]) if len(paths) == 1 else str(Path(paths[0]).parent)


def describe_series(datasets: list[Dataset], paths: list[str]) -> SeriesLayout:
    """Validate one series' headers and work out its geometry; raise :class:`DicomInputError` if unusable."""
    return describe_frames(datasets[0], [FileFrames.or_reason(ds, str(path)) for ds, path in zip(datasets, paths)])


def describe_frames(first: Dataset, files: list[FileFrames | DicomInputError]) -> SeriesLayout:
    """The series' layout from the header of its first file and every file's frames (or why a file's geometry is
    unusable, raised after the series-level checks)."""
    paths = [f.path if isinstance(f, FileFrames) else str(f.source) for f in files]
    source = series_source(paths)
    check_tomographic(first, source)
    for reason in (f for f in files if isinstance(f, DicomInputError)):
        raise reason
    rows, columns = int(first.Rows), int(first.Columns)
    _, geometry_source = _geometry_item(first)
    row, col = files[0].row, files[0].col
    normal = np.cross(row, col)
    spacing_x, spacing_y = _pixel_spacing(first, source)

    entries: list[tuple[float, np.ndarray, int, int]] = []  # (position along normal, position, file, frame)
    for d, file in enumerate(files):
        if file.rows != rows or file.columns != columns:
            raise DicomInputError(
                file.path, f"matrix {file.rows}x{file.columns} differs from the series' {rows}x{columns}"
            )
        if not (np.allclose(file.row, row, atol=1e-4) and np.allclose(file.col, col, atol=1e-4)):
            raise DicomInputError(file.path, "orientation differs from the rest of the series")
        for f, pos in enumerate(file.positions):
            entries.append((float(pos @ normal), pos, d, f))
    entries.sort(key=lambda e: e[0])
    along = np.array([e[0] for e in entries])
    if len(entries) < 2:
        raise DicomInputError(source, "a single slice is not a volume")
    steps = np.diff(along)
    step = float(np.median(steps))
    if step <= 1e-6:
        raise DicomInputError(source, "two or more slices share one position")
    if np.max(np.abs(steps - step)) > max(0.01 * step, 0.01):
        raise DicomInputError(source, f"slice spacing is not uniform ({steps.min():.3f} to {steps.max():.3f} mm)")
    positions = np.array([e[1] for e in entries])
    in_plane = positions - positions[0] - np.outer(along - along[0], normal)
    if np.max(np.abs(in_plane)) > 0.01 * step + 0.01:
        raise DicomInputError(source, "slices are not stacked along the slice normal (gantry tilt or shear)")
    _, _, scale_source, unit = checked_scale(first, source)
    if not any(f.has_signal for f in files):
        raise DicomInputError(source, "every stored pixel is zero: an empty volume")
    info = SeriesInfo(
        patient_id=_text(first, "PatientID"),
        study_instance_uid=_text(first, "StudyInstanceUID"),
        series_instance_uid=_text(first, "SeriesInstanceUID"),
        accession_number=_text(first, "AccessionNumber"),
        modality=_text(first, "Modality"),
        sop_class_uid=_text(first, "SOPClassUID"),
        condition=condition_of(first),
        description=_text(first, "SeriesDescription"),
        layout="multiframe" if len(files) == 1 else "per-slice",
        geometry_source=geometry_source,
        files=tuple(paths),
    )
    return SeriesLayout(
        info=info,
        rows=rows,
        columns=columns,
        slices=len(entries),
        origin=positions[0],
        spacing=(spacing_x, spacing_y, step),
        direction=np.column_stack([row, col, normal]),
        order=[(e[2], e[3]) for e in entries],
        scale_source=scale_source,
        unit=unit,
    )


def _physical_frames(ds: Dataset) -> np.ndarray:
    pixels = ds.pixel_array.astype(np.float32)
    if pixels.ndim == 2:
        pixels = pixels[None]
    slope, intercept, _, _ = scale_of(ds)
    return pixels * np.float32(slope) + np.float32(intercept)


def check_values(array: np.ndarray, source) -> None:
    """Refuse voxel values no registration or statistic can use: NaN or infinite, or all zero."""
    finite = np.isfinite(array)
    if not finite.all():
        raise DicomInputError(source, f"{int((~finite).sum())} voxels are NaN or infinite after the physical scale")
    if not array.any():
        raise DicomInputError(source, "every voxel is zero: an empty volume")


def _as_files(path_or_files: str | Path | Sequence[str | Path]) -> list[Path]:
    if isinstance(path_or_files, (str, Path)):
        path = Path(path_or_files)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
            if not files:
                raise DicomInputError(path, "folder holds no files")
            return files
        if not path.exists():
            raise DicomInputError(path, "no such file or folder")
        return [path]
    files = [Path(p) for p in path_or_files]
    if not files:
        raise DicomInputError(None, "empty list of files")
    return files


def read_volume(path_or_files: str | Path | Sequence[str | Path]) -> Volume:
    """Read one SPECT series: a multi-frame file, a folder holding one series, or a list of files of one series.

    Voxel values come back in the physical unit (``volume.unit``), stacked so that the slice axis points along
    the slice normal whatever the sign of the Spacing Between Slices.
    """
    files = _as_files(path_or_files)
    datasets = [read_header(f) for f in files]
    series = {str(ds.get("SeriesInstanceUID", "")) for ds in datasets}
    if len(series) > 1:
        raise DicomInputError(
            files[0].parent if len(files) > 1 else files[0],
            f"{len(series)} series found; read_volume takes one series (use scan() to list them)",
        )
    layout = describe_series(datasets, [str(f) for f in files])
    frames = [_physical_frames(ds) for ds in datasets]
    array = np.stack([frames[d][f] for d, f in layout.order]).astype(np.float32)
    check_values(array, series_source([str(f) for f in files]))
    return Volume(
        array=array,
        origin=tuple(float(v) for v in layout.origin),
        spacing=layout.spacing,
        direction=layout.direction,
        unit=layout.unit,
        scale_source=layout.scale_source,
        info=layout.info,
    )
