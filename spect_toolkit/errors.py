"""Errors that name the input and the problem, so a user can fix the file or the argument rather than read a
traceback. The CLI maps each kind to its exit code (see ``cli.py``): every :class:`SpectError` is exit 1 with its
message, except :class:`ArgumentError`, a usage error, which is exit 2."""

from __future__ import annotations

from pathlib import Path


class SpectError(Exception):
    """Any error the toolkit reports to its user in words."""


class ArgumentError(SpectError, ValueError):
    """A function or command argument that is not allowed (unknown level, bad split name, wrong option mix)."""


class SpectInputError(SpectError, ValueError):
    """An input (file, series, table, run folder) that the toolkit cannot use, with the reason."""

    def __init__(self, source: str | Path | None, problem: str):
        self.source = str(source) if source is not None else None
        self.problem = problem
        super().__init__(f"{self.source}: {problem}" if self.source else problem)


class DicomInputError(SpectInputError):
    """A DICOM file or series that cannot be read as a SPECT volume."""


class SchemaError(SpectInputError):
    """A table (series index, manifest, labels) or data file that lacks a column or holds a value it may not."""
