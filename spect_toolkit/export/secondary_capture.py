"""Generated slices as Secondary Capture DICOM: clearly synthetic, never a real patient, PACS-ready.

Built with pydicom directly rather than highdicom's ``SCImage``: the object is small and every attribute is
fixed here, and one prepared dataset copied per slice keeps export well above 500 files per second, where
building and validating a full IOD object per slice does not.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import SecondaryCaptureImageStorage, generate_uid

from .. import __version__
from ..dicom.writing import MAX_STORED, PatientStudy, attach_file_meta, set_grey16_pixels, set_patient_study, write_file
from ..errors import SpectInputError
from ..progress import progress_bar
from ..samples import Samples, load_samples
from ..template import CANONICAL_SPACING_MM
from ..vocabulary import LEVELS, PATTERNS

DEFAULT_STUDY = "SYNTHETIC 123I-IMP BRAIN PERFUSION (FastGAN)"


@dataclass(frozen=True)
class ExportResult:
    folder: Path
    files: list[Path]
    series: dict[tuple[str, str], str]  # (level, pattern) -> Series Instance UID
    patient_id: str
    study_uid: str
    dicomdir: Path | None


def _synthetic_identity() -> tuple[str, str]:
    """A patient that cannot be mistaken for a real one and links to no training patient (fresh random tag)."""
    tag = secrets.token_hex(4).upper()
    return f"SYNTHETIC^SPECT^{tag}", f"SYN-{tag}"


def _study_dataset(study_description: str, pixel_spacing: float, samples: Samples) -> Dataset:
    now = dt.datetime.now()
    name, patient_id = _synthetic_identity()
    ds = Dataset()
    date, time = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    set_patient_study(
        ds,
        PatientStudy(
            patient_name=name,
            patient_id=patient_id,
            birth_date="",
            sex="O",
            study_uid=generate_uid(),
            study_date=date,
            study_time=time,
            accession_number="",
            referring_physician="",
            study_id="SYN",
            study_description=study_description,
        ),
    )
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SeriesDate = ds.ContentDate = ds.InstanceCreationDate = date
    ds.SeriesTime = ds.ContentTime = ds.InstanceCreationTime = time
    ds.Modality = "NM"
    ds.BodyPartExamined = "BRAIN"
    ds.ConversionType = "SYN"
    ds.Manufacturer = "spect-toolkit"
    ds.SecondaryCaptureDeviceManufacturer = "spect-toolkit"
    ds.SecondaryCaptureDeviceManufacturerModelName = "conditional FastGAN"
    ds.SecondaryCaptureDeviceSoftwareVersions = __version__
    ds.SoftwareVersions = f"spect-toolkit {__version__}"
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.BurnedInAnnotation = "NO"
    ds.SyntheticData = "YES"
    ds.LossyImageCompression = "00"
    ds.PatientOrientation = ["L", "P"]  # rows run anterior to posterior, columns right to left (radiological)
    ds.PixelSpacing = [f"{pixel_spacing:.6g}", f"{pixel_spacing:.6g}"]
    set_grey16_pixels(ds, *samples.images.shape[1:])
    # slices are normalised to their maximum: the full range shows the brain, the upper half its cortex
    ds.WindowCenter = str(MAX_STORED // 2)
    ds.WindowWidth = str(MAX_STORED)
    ds.VOILUTFunction = "LINEAR"
    return ds


def to_stored(image: np.ndarray) -> np.ndarray:
    """[0, 1] floats to the stored 16-bit values (quantisation step 1/65535)."""
    return np.clip(np.rint(image * MAX_STORED), 0, MAX_STORED).astype(np.uint16)


def export_samples(
    samples: Samples | str | Path,
    out: str | Path,
    study_description: str = DEFAULT_STUDY,
    pixel_spacing: float = CANONICAL_SPACING_MM,
    dicomdir: bool = False,
    show_progress: bool = False,
    overwrite: bool = False,
) -> ExportResult:
    """Write one Secondary Capture object per slice under ``out/SNNN/INNNNN`` (one series per level and
    pattern, instance numbers in sample order within a series). With ``dicomdir`` the tree is written as a
    DICOM File-set instead (``DICOMDIR`` plus ``PT000000/ST000000/SE00000N/IM00000N``) for media viewers.

    A folder that already holds files is refused unless ``overwrite``, which replaces an earlier export completely
    (and refuses a folder holding anything an export does not write). The export is written beside ``out`` and
    moved into place when whole, so a killed export leaves no half-written folder."""
    if not isinstance(samples, Samples):
        samples = load_samples(samples)
    final = Path(out)
    _check_target(final, overwrite)
    out = final.with_name(f".{final.name}.partial")
    if out.exists():
        shutil.rmtree(out)  # left by a killed export
    base = _study_dataset(study_description, pixel_spacing, samples)
    conditions = sorted(
        {(str(lv), str(p)) for lv, p in zip(samples.level, samples.pattern)},
        key=lambda c: (LEVELS.index(c[0]), PATTERNS.index(c[1])),
    )
    series_uid = {c: generate_uid() for c in conditions}
    counters = dict.fromkeys(conditions, 0)
    files: list[Path] = []
    fileset = None
    if dicomdir:
        from pydicom.fileset import FileSet

        fileset = FileSet()
        fileset.ID = "SYNTHETIC"
    provenance = (
        f"generated by spect-toolkit {__version__} conditional FastGAN; config {samples.config_hash}; "
        f"checkpoint epoch {samples.epoch if samples.epoch is not None else 'unknown'}; seed {samples.seed}"
    )
    with progress_bar("export", total=len(samples.images), enabled=show_progress) as advance:
        sides = samples.side if samples.side is not None else ["none"] * len(samples.images)
        for image, level, pattern, side in zip(samples.images, samples.level, samples.pattern, sides):
            condition = (str(level), str(pattern))
            asked = f"{level} {pattern}{SIDE_WORDS[str(side)]}"  # the side where the model was asked for one
            number = conditions.index(condition) + 1
            counters[condition] += 1
            ds = base.copy()
            ds.SeriesInstanceUID = series_uid[condition]
            ds.SeriesNumber = number
            ds.SeriesDescription = f"SYNTHETIC 123I-IMP CBF - {condition[0]} - {condition[1]}"
            ds.InstanceNumber = counters[condition]
            ds.SOPInstanceUID = generate_uid()
            ds.DerivationDescription = f"{provenance}; condition {asked}"
            ds.ImageComments = f"SYNTHETIC IMAGE, NOT A PATIENT. {asked}"
            ds.PixelData = to_stored(image).tobytes()
            if fileset is not None:
                fileset.add(attach_file_meta(ds))
            else:
                files.append(write_file(ds, out / f"S{number:03d}" / f"I{counters[condition]:05d}"))
            advance()
    if fileset is not None:
        # pydicom's File-set writes the instances itself, in the media layout the DICOMDIR records
        fileset.write(out)
    if final.exists():
        shutil.rmtree(final)
    os.replace(out, final)
    if fileset is not None:
        files = sorted(p for p in (final / "PT000000").rglob("*") if p.is_file())
    else:
        files = [final / f.relative_to(out) for f in files]
    dicomdir_path = final / "DICOMDIR" if fileset is not None else None
    return ExportResult(final, files, series_uid, str(base.PatientID), str(base.StudyInstanceUID), dicomdir_path)


SIDE_WORDS = {"L": ", left side", "R": ", right side", "none": ""}
_EXPORT_FILE = re.compile(r"^(S\d{3}/I\d{5}|DICOMDIR|PT\d{6}(/.*)?)$")


def _check_target(out: Path, overwrite: bool) -> None:
    """Refuse a non-empty ``out`` unless ``overwrite``; never replace a folder holding other things than an export."""
    if not out.exists():
        return
    if not out.is_dir():
        raise SpectInputError(out, "exists and is not a folder")
    present = [p for p in out.rglob("*") if p.is_file()]
    if not present:
        return
    if not overwrite:
        raise SpectInputError(
            out,
            f"already holds {len(present)} file(s); choose an empty folder or pass --overwrite "
            "to replace the earlier export",
        )
    foreign = [p for p in present if not _EXPORT_FILE.match(p.relative_to(out).as_posix())]
    if foreign:
        raise SpectInputError(
            out,
            f"--overwrite replaces only an earlier export, and this folder also holds "
            f"{foreign[0].relative_to(out)} ({len(foreign)} such file(s))",
        )
