"""DICOM writing helpers shared by every writer of the toolkit (Secondary Capture export, phantom exports):
the Patient and General Study modules, the 16-bit grey Image Pixel module, and file meta + save."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydicom import uid
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian

from ..errors import ArgumentError

MAX_STORED = 65535
"""Largest stored value of the unsigned 16-bit images the toolkit writes."""

TRANSFER_SYNTAXES = {
    "explicit": uid.ExplicitVRLittleEndian,
    "implicit": uid.ImplicitVRLittleEndian,
    "deflated": uid.DeflatedExplicitVRLittleEndian,
    "rle": uid.RLELossless,
    "jpeg-lossless": uid.JPEGLosslessSV1,
    "jpeg-ls": uid.JPEGLSLossless,
    "jpeg-ls-near": uid.JPEGLSNearLossless,
    "jpeg2000": uid.JPEG2000Lossless,
}
"""The transfer syntaxes hospital exports use, by the short names ``spect phantom --transfer-syntax`` takes."""

JPEG_LS_NEAR = 2
"""Largest error per stored value of the near-lossless JPEG-LS the toolkit writes (the NEAR parameter)."""


def transfer_syntax(name: str) -> UID:
    """The UID of a short name of :data:`TRANSFER_SYNTAXES`."""
    if name not in TRANSFER_SYNTAXES:
        raise ArgumentError(f"unknown transfer syntax {name!r}; choose {', '.join(TRANSFER_SYNTAXES)}")
    return TRANSFER_SYNTAXES[name]


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
    """Write ``ds`` as a DICOM Part 10 file (preamble, file meta) at ``path``, creating its folder; compressed
    syntaxes encode the pixel data (JPEG Lossless through GDCM, which alone among the plugins writes it)."""
    path = Path(path)
    syntax = UID(str(transfer_syntax))
    path.parent.mkdir(parents=True, exist_ok=True)
    if syntax == uid.JPEGLosslessSV1:
        attach_file_meta(ds, ExplicitVRLittleEndian)
        ds.save_as(path, enforce_file_format=True)
        _gdcm_transcode(path, syntax)
        return path
    if syntax.is_compressed:
        attach_file_meta(ds, ExplicitVRLittleEndian)  # pydicom compresses from a known native state
        options = {"jls_error": JPEG_LS_NEAR} if syntax == uid.JPEGLSNearLossless else {}
        ds.compress(syntax, **options)
    attach_file_meta(ds, syntax)
    ds.save_as(path, enforce_file_format=True)
    return path


def _gdcm_transcode(path: Path, syntax: UID) -> None:
    import gdcm

    reader = gdcm.ImageReader()
    reader.SetFileName(str(path))
    if not reader.Read():
        raise OSError(f"{path}: GDCM cannot read the file it is to compress")
    change = gdcm.ImageChangeTransferSyntax()
    change.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.JPEGLosslessProcess14_1))
    change.SetInput(reader.GetImage())
    if not change.Change():
        raise OSError(f"{path}: GDCM could not encode {syntax.name}")
    writer = gdcm.ImageWriter()
    writer.SetFileName(str(path))
    writer.SetFile(reader.GetFile())
    writer.SetImage(change.GetOutput())
    if not writer.Write():
        raise OSError(f"{path}: GDCM could not write {syntax.name}")
