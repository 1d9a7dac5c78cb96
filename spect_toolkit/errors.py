"""Errors that name the input and the problem, so a user can fix the file rather than read a traceback."""

from __future__ import annotations

from pathlib import Path


class SpectInputError(ValueError):
    """An input (file, series, table) that the toolkit cannot use, with the reason."""

    def __init__(self, source: str | Path | None, problem: str):
        self.source = str(source) if source is not None else None
        self.problem = problem
        super().__init__(f"{self.source}: {problem}" if self.source else problem)


class DicomInputError(SpectInputError):
    """A DICOM file or series that cannot be read as a SPECT volume."""


class SchemaError(SpectInputError):
    """A table (series index, manifest, labels) that lacks a column or holds a value it may not."""
