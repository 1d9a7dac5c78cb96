"""DICOM writing helpers shared by every writer of the toolkit (Secondary Capture export, phantom exports):
the Patient and General Study modules, the 16-bit grey Image Pixel module, and file meta + save."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, UID

MAX_STORED = 65535
"""Largest stored value of the unsigned 16-bit images the toolkit writes."""


@dataclass(frozen=True)
class PatientStudy:
    """Who and which study a written object belongs to (always an invented identity in this toolkit)."""

    patient_name: str
    patient_id: str
    birth_date: str
    sex: str
    study_uid: str
    study_date: str
    study_time: str
    accession_number: str
    referring_physician: str
    study_id: str
    study_description: str


def set_patient_study(ds: Dataset, who: PatientStudy) -> None:
    """Fill the Patient and General Study modules (and the character set they are written in)."""
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = who.patient_name
    ds.PatientID = who.patient_id
    ds.PatientBirthDate = who.birth_date
    ds.PatientSex = who.sex
    ds.StudyInstanceUID = who.study_uid
    ds.StudyDate = who.study_date
    ds.StudyTime = who.study_time
    ds.AccessionNumber = who.accession_number
    ds.ReferringPhysicianName = who.referring_physician
    ds.StudyID = who.study_id
    ds.StudyDescription = who.study_description


def set_grey16_pixels(ds: Dataset, rows: int, columns: int) -> None:
    """Image Pixel module attributes of unsigned 16-bit MONOCHROME2 images (the pixel data itself is the caller's)."""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = int(rows), int(columns)
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0


def attach_file_meta(ds: Dataset, transfer_syntax: str | UID = ExplicitVRLittleEndian) -> Dataset:
    """Give ``ds`` the file meta information of a Part 10 file in ``transfer_syntax``; returns ``ds``."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = UID(str(transfer_syntax))
    ds.file_meta = meta
    return ds


def write_file(ds: Dataset, path: str | Path, transfer_syntax: str | UID = ExplicitVRLittleEndian) -> Path:
    """Write ``ds`` as a DICOM Part 10 file (preamble, file meta) at ``path``, creating its folder."""
    path = Path(path)
    attach_file_meta(ds, transfer_syntax)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path
