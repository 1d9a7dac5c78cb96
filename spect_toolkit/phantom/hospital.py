"""Write phantom volumes the way a hospital exports them: NM Image Storage, Siemens-like headers, fake patients.

The layouts are the ones readers meet in the field:

- ``multiframe``: one NM multi-frame ``RECON TOMO`` object, geometry in the Detector Information Sequence,
  positive Spacing Between Slices (the common case);
- ``negative-spacing``: the same with frames running superior to inferior and a negative spacing;
- ``top-level``: geometry only at the top level of the dataset (some vendors and converters do this);
- ``per-slice``: one single-frame NM file per slice, geometry at the top level, file names not in slice order.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    NuclearMedicineImageStorage,
    generate_uid,
)

from .. import __version__
from ..dicom.writing import PatientStudy, set_grey16_pixels, set_patient_study, transfer_syntax, write_file
from ..errors import ArgumentError
from ..template import Grid
from ..vocabulary import CBF_UNIT

LAYOUTS = ("multiframe", "negative-spacing", "top-level", "per-slice")
SCALES = ("rescale", "rwvm")
_UCUM_CBF = "ml/(100.g.min)"

SERIES_DESCRIPTION = {"rest": "QSPECT DTARG REST CBF", "stress": "QSPECT DTARG ACZ STRESS CBF"}

_FAMILY = [
    "TANAKA",
    "SATO",
    "SUZUKI",
    "TAKAHASHI",
    "WATANABE",
    "ITO",
    "YAMAMOTO",
    "NAKAMURA",
    "KOBAYASHI",
    "KATO",
    "YOSHIDA",
    "YAMADA",
    "SASAKI",
    "MATSUMOTO",
    "INOUE",
    "KIMURA",
    "HAYASHI",
    "SHIMIZU",
    "MUELLER",
    "SCHMIDT",
    "WERNER",
    "FISCHER",
    "WEBER",
    "MEYER",
    "WAGNER",
    "BECKER",
    "HOFFMANN",
]
_GIVEN = {
    "F": ["HANAKO", "YUKI", "AIKO", "EMI", "KEIKO", "ANNA", "MARIA", "SABINE", "PETRA", "MIKA"],
    "M": ["TARO", "HIROSHI", "KENJI", "TAKESHI", "ISAMU", "JONAS", "MARKUS", "STEFAN", "KLAUS", "SHO"],
}


@dataclass(frozen=True)
class FakePatient:
    """A plausible but invented identity; the phantom's privacy tests look for exactly these values."""

    name: str
    patient_id: str
    birth_date: str
    sex: str
    accession_number: str
    study_date: str
    study_uid: str
    frame_of_reference_uid: str

    @classmethod
    def draw(cls, rng: np.random.Generator, seed: int, index: int) -> FakePatient:
        sex = str(rng.choice(["F", "M"], p=[0.384, 0.616]))  # the paper's cohort was 38 % female
        age = int(np.clip(rng.normal(61, 16.4), 20, 92))
        study = dt.date(2021, 1, 4) + dt.timedelta(days=int(rng.integers(0, 700)))
        birth = study - dt.timedelta(days=int(age * 365.25 + rng.integers(0, 365)))
        entropy = [f"spect-toolkit-phantom-{seed}-{index}"]
        return cls(
            name=f"{rng.choice(_FAMILY)}^{rng.choice(_GIVEN[sex])}",
            patient_id=f"{int(rng.integers(10**7, 10**8))}",
            birth_date=birth.strftime("%Y%m%d"),
            sex=sex,
            accession_number=f"A{int(rng.integers(10**8, 10**9))}",
            study_date=study.strftime("%Y%m%d"),
            study_uid=generate_uid(entropy_srcs=entropy + ["study"]),
            frame_of_reference_uid=generate_uid(entropy_srcs=entropy + ["for"]),
        )


def quantise(volume: np.ndarray) -> tuple[np.ndarray, float]:
    """Unsigned 16-bit values and the slope that maps them back to physical units."""
    peak = float(volume.max())
    slope = peak / 60000.0 if peak > 0 else 1.0
    return np.clip(np.rint(volume / slope), 0, 65535).astype(np.uint16), slope


def _base_dataset(patient: FakePatient, condition: str, series_uid: str, series_number: int) -> Dataset:
    ds = Dataset()
    set_patient_study(
        ds,
        PatientStudy(
            patient_name=patient.name,
            patient_id=patient.patient_id,
            birth_date=patient.birth_date,
            sex=patient.sex,
            study_uid=patient.study_uid,
            study_date=patient.study_date,
            study_time="091500",
            accession_number=patient.accession_number,
            referring_physician="YAMADA^ICHIRO",
            study_id=patient.accession_number[-6:],
            study_description="BRAIN PERFUSION 123I-IMP QSPECT",
        ),
    )
    ds.SOPClassUID = NuclearMedicineImageStorage
    ds.SeriesDate = ds.ContentDate = patient.study_date
    ds.SeriesTime = ds.ContentTime = "093000" if condition == "rest" else "100500"
    ds.Modality = "NM"
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = series_number
    ds.SeriesDescription = SERIES_DESCRIPTION[condition]
    ds.ProtocolName = f"IMP DTARG {condition.upper()}"
    ds.FrameOfReferenceUID = patient.frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    ds.Manufacturer = "SIEMENS NM"
    ds.ManufacturerModelName = "Symbia T16"
    ds.InstitutionName = "PHANTOM GENERAL HOSPITAL"
    ds.StationName = "PHANTOM01"
    ds.SoftwareVersions = f"spect-toolkit phantom {__version__}"
    ds.ImageComments = "Synthetic phantom volume, not a patient"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "RECON TOMO", "EMISSION"]
    ds.PatientOrientationCodeSequence = Sequence()
    ds.PatientGantryRelationshipCodeSequence = Sequence()
    isotope = Dataset()
    isotope.Radiopharmaceutical = "123I-IMP"
    isotope.RadionuclideTotalDose = "222"
    nuclide = Dataset()
    nuclide.CodeValue = "C-114A4"
    nuclide.CodingSchemeDesignator = "SRT"
    nuclide.CodeMeaning = "^123^Iodine"
    isotope.RadionuclideCodeSequence = Sequence([nuclide])
    ds.RadiopharmaceuticalInformationSequence = Sequence([isotope])
    window = Dataset()
    window.EnergyWindowName = "I123"
    ds.EnergyWindowInformationSequence = Sequence([window])
    ds.ConvolutionKernel = "Butterworth"
    ds.NumberOfEnergyWindows = 1
    ds.NumberOfDetectors = 2
    ds.NumberOfRotations = 1
    ds.CountsAccumulated = 6000000
    rotation = Dataset()
    rotation.StartAngle = "0"
    rotation.AngularStep = "4"
    rotation.RotationDirection = "CW"
    rotation.ScanArc = "360"
    rotation.NumberOfFramesInRotation = 90
    rotation.ActualFrameDuration = 1333  # ms: 2 min a rotation over 90 views
    ds.RotationInformationSequence = Sequence([rotation])
    return ds


def _set_scale(ds: Dataset, slope: float, scale: str) -> None:
    if scale == "rescale":
        ds.RescaleSlope = f"{slope:.10g}"
        ds.RescaleIntercept = "0"
        ds.RescaleType = "CBF"
    elif scale == "rwvm":
        item = Dataset()
        item.RealWorldValueFirstValueMapped = 0
        item.RealWorldValueLastValueMapped = 65535
        item.RealWorldValueSlope = slope
        item.RealWorldValueIntercept = 0.0
        item.LUTExplanation = "Cerebral blood flow"
        item.LUTLabel = "CBF"
        unit = Dataset()
        unit.CodeValue = _UCUM_CBF
        unit.CodingSchemeDesignator = "UCUM"
        unit.CodeMeaning = CBF_UNIT
        item.MeasurementUnitsCodeSequence = Sequence([unit])
        ds.RealWorldValueMappingSequence = Sequence([item])
    else:
        raise ArgumentError(f"unknown scale {scale!r}; expected one of {SCALES}")


def _detector_item() -> Dataset:
    item = Dataset()
    item.CollimatorType = "PARA"
    item.CollimatorGridName = "LEHR"
    return item


def _file_dataset(ds: Dataset, path: Path, syntax: str) -> None:
    write_file(ds, path, transfer_syntax(syntax))


def write_nm_volume(
    folder: Path,
    volume: np.ndarray,
    grid: Grid,
    patient: FakePatient,
    condition: str,
    series_number: int,
    layout: str = "multiframe",
    scale: str = "rescale",
    rng: np.random.Generator | None = None,
    syntax: str = "explicit",
) -> tuple[str, list[Path]]:
    """Write one reconstructed volume ``(z, y, x)`` on an identity-direction grid; return (series UID, files)."""
    if layout not in LAYOUTS:
        raise ArgumentError(f"unknown layout {layout!r}; expected one of {LAYOUTS}")
    entropy = [patient.study_uid, condition]
    series_uid = generate_uid(entropy_srcs=entropy + ["series"])
    stored, slope = quantise(volume)
    nz = stored.shape[0]
    sx, sy, sz = grid.spacing
    base = _base_dataset(patient, condition, series_uid, series_number)
    set_grey16_pixels(base, stored.shape[1], stored.shape[2])
    base.PixelSpacing = [f"{sy:.6g}", f"{sx:.6g}"]  # row spacing (between rows), column spacing
    base.SliceThickness = f"{sz:.6g}"
    orientation = ["1", "0", "0", "0", "1", "0"]
    _set_scale(base, slope, scale)
    files: list[Path] = []

    if layout == "per-slice":
        order = (rng or np.random.default_rng(0)).permutation(nz)  # file names must not give the slice order
        for file_number, k in enumerate(order, start=1):
            ds = base.copy()
            ds.SOPInstanceUID = generate_uid(entropy_srcs=entropy + [str(k)])
            ds.InstanceNumber = int(k) + 1
            ds.ImagePositionPatient = [f"{v:.6g}" for v in (grid.origin[0], grid.origin[1], grid.origin[2] + k * sz)]
            ds.ImageOrientationPatient = orientation
            ds.SliceLocation = f"{grid.origin[2] + k * sz:.6g}"
            ds.NumberOfFrames = 1
            ds.FrameIncrementPointer = pydicom.tag.Tag(0x0054, 0x0080)
            ds.SliceVector = [1]
            ds.NumberOfSlices = 1
            ds.SpacingBetweenSlices = f"{sz:.6g}"
            ds.DetectorInformationSequence = Sequence([_detector_item()])
            ds.PixelData = stored[k].tobytes()
            path = folder / f"IM{file_number:05d}.dcm"
            _file_dataset(ds, path, syntax)
            files.append(path)
        return series_uid, files

    ds = base
    ds.SOPInstanceUID = generate_uid(entropy_srcs=entropy + ["volume"])
    ds.InstanceNumber = 1
    ds.NumberOfFrames = nz
    ds.FrameIncrementPointer = pydicom.tag.Tag(0x0054, 0x0080)
    ds.SliceVector = list(range(1, nz + 1))
    ds.NumberOfSlices = nz
    first = np.array(grid.origin, dtype=float)
    frames = stored
    spacing = sz
    if layout == "negative-spacing":
        # frames from the top of the head down: first frame is the most superior, spacing along the normal < 0
        frames = stored[::-1]
        first = first + np.array([0.0, 0.0, (nz - 1) * sz])
        spacing = -sz
    ds.SpacingBetweenSlices = f"{spacing:.6g}"
    detector = _detector_item()
    if layout == "top-level":
        ds.ImageOrientationPatient = orientation
        ds.ImagePositionPatient = [f"{v:.6g}" for v in first]
    else:
        detector.ImageOrientationPatient = orientation
        detector.ImagePositionPatient = [f"{v:.6g}" for v in first]
    ds.DetectorInformationSequence = Sequence([detector])
    ds.PixelData = np.ascontiguousarray(frames).tobytes()
    path = folder / "IM00001.dcm"
    _file_dataset(ds, path, syntax)
    return series_uid, [path]
