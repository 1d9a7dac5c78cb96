"""Walk an export, group files into series, and account for every file: usable, or skipped with a reason."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pandas as pd

from ..errors import DicomInputError
from ..progress import progress_bar
from ..pseudonym import Pseudonymizer
from ..schema import Column, Schema
from ..vocabulary import SLICE_SHAPE
from .reader import (
    FileFrames,
    NotImageInput,
    condition_of,
    describe_frames,
    read_header,
    series_header,
)

OK, SKIPPED, IGNORED = "ok", "skipped", "ignored"
OUTCOMES = (OK, SKIPPED, IGNORED)

SERIES_INDEX = Schema(
    "series index",
    (
        Column("series_key", "string", "keyed hash of the Series Instance UID (empty for a file outside any series)"),
        Column("patient_key", "string", "keyed hash of the Patient ID"),
        Column("study_key", "string", "keyed hash of the Study Instance UID"),
        Column("accession_key", "string", "keyed hash of the Accession Number (labels are matched on it)"),
        Column("modality", "string", "Modality (0008,0060)"),
        Column("sop_class", "string", "SOP Class UID"),
        Column("condition", "string", "from the series description/protocol", ("rest", "stress", "unknown", "")),
        Column("rows", "int", "matrix rows (0 if unknown)"),
        Column("columns", "int", "matrix columns (0 if unknown)"),
        Column("slices", "int", "number of slices (0 if unknown)"),
        Column("spacing_x_mm", "float", "spacing along a row (patient x for axial)"),
        Column("spacing_y_mm", "float", "spacing along a column"),
        Column("spacing_z_mm", "float", "spacing between slices, along the slice normal"),
        Column("orientation", "string", "Image Orientation (Patient), six values"),
        Column("geometry_source", "string", "where position and orientation were found"),
        Column("layout", "string", "multiframe or per-slice"),
        Column("scale_source", "string", "where the physical scale came from", ("rescale", "rwvm", "none", "")),
        Column("unit", "string", "physical unit of the voxel values"),
        Column("n_files", "int", "files in this row"),
        Column("path", "string", "series folder or file, relative to the scanned folder"),
        Column("files", "string", "the files, ';'-separated, relative to the scanned folder"),
        Column(
            "outcome",
            "string",
            "ok; skipped (could have been a volume, is not usable); ignored (no image input: "
            "DICOMDIR, text, viewer files)",
            OUTCOMES,
        ),
        Column("status", "string", "'ok', or the reason the series or file cannot be used"),
    ),
)


def _empty_row() -> dict:
    row = dict.fromkeys(SERIES_INDEX.names, "")
    row.update(
        rows=0,
        columns=0,
        slices=0,
        spacing_x_mm=float("nan"),
        spacing_y_mm=float("nan"),
        spacing_z_mm=float("nan"),
        n_files=1,
    )
    return row


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _usability(layout) -> str:
    if (layout.rows, layout.columns) != SLICE_SHAPE:
        return f"matrix {layout.rows}x{layout.columns} is not the {SLICE_SHAPE[0]}x{SLICE_SHAPE[1]} QSPECT matrix"
    return OK


def _member_path(member: FileFrames | DicomInputError) -> str:
    return member.path if isinstance(member, FileFrames) else str(member.source)


def scan(path: str | Path, pseudonymize: Pseudonymizer | None = None, show_progress: bool = False) -> pd.DataFrame:
    """Index every file under ``path``: one row per series (usable or not) and one per file outside any series.

    Identifiers appear only as keyed hashes (``pseudonymize``; a random key for this call if none is given).
    The ``n_files`` column sums to the number of files found, so nothing goes unreported.
    """
    root = Path(path)
    if not root.exists():
        raise DicomInputError(root, "no such file or folder")
    pseudonymize = pseudonymize or Pseudonymizer()
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    if not files:
        raise DicomInputError(root, "the folder holds no files")
    base = root.parent if root.is_file() else root
    rows: list[dict] = []
    # Per series: the first file's slim header, and each file's frames (or why its geometry is unusable).
    firsts: dict[str, object] = {}
    groups: dict[str, list] = defaultdict(list)
    with progress_bar("scan", total=len(files), enabled=show_progress) as advance:
        for file in files:
            try:
                ds = read_header(file, pixels=False)
            except DicomInputError as exc:
                rows.append(
                    {
                        **_empty_row(),
                        "path": _relative(file, base),
                        "files": _relative(file, base),
                        "outcome": IGNORED if isinstance(exc, NotImageInput) else SKIPPED,
                        "status": exc.problem,
                    }
                )
            else:
                uid = str(ds.get("SeriesInstanceUID", "")) or f"no-series-uid:{file}"
                if uid not in firsts:  # a slim copy: the full header of every file would grow with the export
                    firsts[uid] = series_header(ds)
                groups[uid].append(FileFrames.or_reason(ds, str(file)))
            advance()

    for uid, members in groups.items():
        members.sort(key=_member_path)
        paths = [_member_path(m) for m in members]
        first = firsts[uid]
        folder = Path(paths[0]).parent
        row = _empty_row()
        row.update(
            series_key=pseudonymize("series", uid),
            patient_key=pseudonymize("patient", str(first.get("PatientID", ""))),
            study_key=pseudonymize("study", str(first.get("StudyInstanceUID", ""))),
            accession_key=pseudonymize("accession", str(first.get("AccessionNumber", ""))),
            modality=str(first.get("Modality", "")),
            sop_class=str(first.get("SOPClassUID", "")),
            rows=int(first.get("Rows", 0) or 0),
            columns=int(first.get("Columns", 0) or 0),
            condition=condition_of(first),
            n_files=len(members),
            path=_relative(folder if len(members) > 1 else Path(paths[0]), base),
            files=";".join(_relative(Path(p), base) for p in paths),
        )
        try:
            layout = describe_frames(first, members)
        except DicomInputError as exc:
            row.update(outcome=SKIPPED, status=exc.problem)
        else:
            row.update(
                condition=layout.info.condition,
                slices=layout.slices,
                spacing_x_mm=layout.spacing[0],
                spacing_y_mm=layout.spacing[1],
                spacing_z_mm=layout.spacing[2],
                orientation="\\".join(f"{v:.4g}" for v in layout.direction[:, :2].T.ravel()),
                geometry_source=layout.info.geometry_source,
                layout=layout.info.layout,
                scale_source=layout.scale_source,
                unit=layout.unit,
                status=_usability(layout),
            )
            row["outcome"] = OK if row["status"] == OK else SKIPPED
        rows.append(row)
    table = pd.DataFrame(rows, columns=SERIES_INDEX.names)
    table = table.sort_values(["outcome", "path"], key=lambda s: s.map(OUTCOMES.index) if s.name == "outcome" else s)
    return SERIES_INDEX.validate(table.reset_index(drop=True))
