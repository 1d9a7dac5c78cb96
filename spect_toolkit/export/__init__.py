"""Generated slices out to the clinic: Secondary Capture DICOM (with a DICOMDIR) and push to a PACS."""

from ..dicom.writing import MAX_STORED
from .secondary_capture import ExportResult, export_samples, to_stored

__all__ = ["export_samples", "ExportResult", "to_stored", "MAX_STORED"]
