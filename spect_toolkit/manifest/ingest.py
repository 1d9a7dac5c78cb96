"""Ingest: hospital export + clinicians' labels -> aligned volumes, labelled slice manifest, slice store, report.

Three steps, each a function: :func:`plan_ingest` matches the export's series with the label rows,
:func:`process_volume` reads, aligns and cuts one series (in worker processes), :func:`assemble` turns the
results into the manifest and the slice store, and :func:`write_outputs` writes them.

Identifiers never leave this module in clear: the manifest and the report carry keyed hashes only, the NIfTI
files are named by the series hash, and the QC pictures carry hashes in their titles.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..align import Aligned, align_to_acpc
from ..dicom import scan
from ..dicom.reader import read_volume
from ..dicom.scan import IGNORED, OK
from ..errors import DicomInputError, SchemaError, SpectInputError
from ..levels import LevelSlice, level_slices
from ..progress import TimedOut, map_with_progress
from ..pseudonym import Pseudonymizer, project_pseudonymizer
from ..template import CANONICAL_GRID
from ..vocabulary import LEVELS, SLICE_SHAPE, parse_levels
from .schema import LABELS, LANDMARKS, MANIFEST
from .store import STORE_NAME, load_table, store_digest, write_atomically

REPORT_COLUMNS = [
    "series_key",
    "patient_key",
    "study_key",
    "condition",
    "pattern",
    "path",
    "n_files",
    "outcome",
    "used",
    "reason",
    "alignment",
    "pitch_deg",
    "roll_deg",
    "yaw_deg",
    "ac_x_mm",
    "ac_y_mm",
    "ac_z_mm",
    "similarity",
    "qc_flag",
    "slices",
]
OUTPUT_NAMES = ("manifest.parquet", "manifest.csv", STORE_NAME, "ingest_report.csv", "volumes", "qc")
VOLUME_TIME_LIMIT_S = 600.0  # a volume aligns in seconds; only a stuck registration takes this long


@dataclass(frozen=True)
class IngestResult:
    manifest: Path
    report: Path
    store: Path
    qc_pages: list[Path]
    volumes_used: int
    series_skipped: int  # series or files that could have been a volume and are not used
    slices: int
    files_ignored: int = 0  # files that are no image input (DICOMDIR, text, viewer programs)


@dataclass(frozen=True)
class VolumeJob:
    """One labelled, usable series to align and cut."""

    series_key: str
    patient_key: str
    study_key: str
    condition: str
    pattern: str
    side: str
    files: tuple[str, ...]
    landmarks: dict | None
    levels: tuple[str, ...]
    out: str


@dataclass(frozen=True)
class VolumeSlices:
    """A volume aligned and cut: its pose, its slices ``(n, 3, 64, 64)`` [below, slice, above], its NIfTI."""

    series_key: str
    aligned: Aligned
    unit: str
    chosen: list[LevelSlice]
    stack: np.ndarray
    volume_path: str


@dataclass(frozen=True)
class VolumeFailure:
    series_key: str
    reason: str


@dataclass
class IngestPlan:
    """The report's rows (one per series or stray file) and the volumes to process."""

    report: list[dict] = field(default_factory=list)
    jobs: list[VolumeJob] = field(default_factory=list)


def ingest(
    export_dir: str | Path,
    labels: str | Path,
    out: str | Path,
    levels: tuple[str, ...] | str = LEVELS,
    landmarks: str | Path | None = None,
    key: str | Path | None = None,
    jobs: int = 1,
    show_progress: bool = False,
    overwrite: bool = False,
    volume_time_limit_s: float = VOLUME_TIME_LIMIT_S,
) -> IngestResult:
    """Turn an export into ``out/manifest.parquet`` (+ ``.csv``), ``slices.npy``, ``volumes/*.nii.gz``,
    ``ingest_report.csv`` and ``qc/*.png``.

    Label rows that match no series of the export are an error listing them (fix the labels first), and so is a
    row that matches several series. Series without a label, unusable series (with or without a label) and failed
    alignments are reported and skipped; the batch goes on. ``key`` is the project's pseudonym key (default: see
    :mod:`spect_toolkit.pseudonym`). An output folder that already holds an ingest is refused unless ``overwrite``.
    """
    out = Path(out)
    levels = parse_levels(levels)
    pseudonymize = project_pseudonymizer(key, reading=export_dir)
    by_label = _keyed(load_table(labels, LABELS), pseudonymize, Path(labels))
    by_landmark = _keyed(load_table(landmarks, LANDMARKS), pseudonymize, Path(landmarks)) if landmarks else {}
    index = scan(export_dir, pseudonymize, show_progress=show_progress)
    if not (index.outcome != IGNORED).any():
        raise DicomInputError(export_dir, f"no DICOM image found among its {int(index.n_files.sum())} file(s)")
    plan = plan_ingest(index, by_label, by_landmark, levels, Path(export_dir), out, Path(labels))
    with _exclusive(out, overwrite):
        (out / "volumes").mkdir(parents=True, exist_ok=True)
        results = map_with_progress(
            process_volume,
            plan.jobs,
            jobs,
            "ingest",
            show_progress,
            initializer=_single_threaded,
            timeout_s=volume_time_limit_s,
        )
        results = [
            VolumeFailure(job.series_key, f"alignment did not finish within {r.seconds:.0f} s")
            if isinstance(r, TimedOut)
            else r
            for job, r in zip(plan.jobs, results)
        ]
        manifest, store = assemble(plan, results)
        return write_outputs(out, manifest, store, plan.report)


def _label_key(pseudonymize: Pseudonymizer, patient_id: str, accession: str, condition: str) -> tuple[str, str, str]:
    return pseudonymize("patient", patient_id), pseudonymize("accession", accession), condition


def _keyed(table: pd.DataFrame, pseudonymize: Pseudonymizer, source: Path) -> dict:
    out = {}
    for _, row in table.iterrows():
        key = _label_key(pseudonymize, row.patient_id, row.accession_number, row.condition)
        if key in out:
            raise SchemaError(
                source, f"two rows for patient {row.patient_id}, accession {row.accession_number}, {row.condition}"
            )
        out[key] = row
    return out


def _landmarks_for(table: dict, key) -> dict | None:
    row = table.get(key)
    if row is None:
        return None
    return {name: np.array([row[f"{name.lower()}_{a}"] for a in "xyz"], dtype=float) for name in ("AC", "PC", "MID")}


def plan_ingest(
    index: pd.DataFrame,
    by_label: dict,
    by_landmark: dict,
    levels: tuple[str, ...],
    root: Path,
    out: Path,
    labels_path: Path,
) -> IngestPlan:
    """Match every series of ``index`` with its label row; the report's rows and the volumes to process."""
    label_key = index.apply(lambda r: (r.patient_key, r.accession_key, r.condition), axis=1) if len(index) else []
    series_of_label: dict = {}
    for (_, row), key in zip(index.iterrows(), label_key):
        if row.series_key and key in by_label:
            series_of_label.setdefault(key, []).append(row.path)
    several = {k: paths for k, paths in series_of_label.items() if len(paths) > 1}
    if several:
        listing = "; ".join(
            f"{by_label[k].patient_id}/{by_label[k].accession_number}/{k[2]}: {', '.join(paths)}"
            for k, paths in several.items()
        )
        raise SchemaError(
            labels_path, f"{len(several)} label row(s) match several series each (which one is meant?): {listing}"
        )
    unmatched = [row for key, row in by_label.items() if key not in series_of_label]
    if unmatched:
        listing = "; ".join(f"{r.patient_id}/{r.accession_number}/{r.condition}" for r in unmatched[:20])
        more = f" and {len(unmatched) - 20} more" if len(unmatched) > 20 else ""
        raise SchemaError(
            labels_path,
            f"{len(unmatched)} label row(s) match no usable series (no series of the "
            f"export has that patient, accession and condition): {listing}{more}",
        )

    plan = IngestPlan()
    for (_, row), key in zip(index.iterrows(), label_key):
        entry = {
            c: row.get(c, "")
            for c in ("series_key", "patient_key", "study_key", "condition", "path", "n_files", "outcome")
        }
        label = by_label.get(key) if row.series_key else None
        entry.update(used=False, pattern=label.pattern if label is not None else "", reason="")
        plan.report.append(entry)
        if row.status != OK:
            entry["reason"] = row.status
        elif label is None:
            entry["reason"] = (
                "no label: condition not found in the series description"
                if row.condition == "unknown"
                else "no label row for this series"
            )
        else:
            plan.jobs.append(
                VolumeJob(
                    row.series_key,
                    row.patient_key,
                    row.study_key,
                    row.condition,
                    label.pattern,
                    label.side,
                    tuple(str(root / f) for f in row.files.split(";")),
                    _landmarks_for(by_landmark, key),
                    levels,
                    str(out),
                )
            )
    return plan


def process_volume(job: VolumeJob) -> VolumeSlices | VolumeFailure:
    """Read, align, cut and save one series; never raises (a failure becomes the report's reason)."""
    import SimpleITK as sitk

    try:
        volume = read_volume([Path(f) for f in job.files])
        if job.landmarks is not None:
            aligned = align_to_acpc(volume, "landmarks", job.landmarks)
        else:
            aligned = align_to_acpc(volume, "template")
    except SpectInputError as exc:
        return VolumeFailure(job.series_key, exc.problem)
    except Exception as exc:  # noqa: BLE001 - one bad series must not stop the batch
        return VolumeFailure(job.series_key, f"{type(exc).__name__}: {exc}")
    image = sitk.GetImageFromArray(aligned.array)
    image.SetOrigin(CANONICAL_GRID.origin)
    image.SetSpacing(CANONICAL_GRID.spacing)
    volume_path = Path("volumes") / f"{job.series_key}.nii.gz"
    target = Path(job.out) / volume_path
    partial = target.with_name(target.name + ".partial.nii.gz")  # renamed when whole: no half-written volume
    sitk.WriteImage(image, str(partial), useCompression=True)
    os.replace(partial, target)
    chosen = level_slices(job.levels)
    stack = np.stack([aligned.array[[s.below, s.z_index, s.above]] for s in chosen]).astype(np.float32)
    return VolumeSlices(job.series_key, aligned, volume.unit, chosen, stack, str(volume_path))


def assemble(plan: IngestPlan, results: list[VolumeSlices | VolumeFailure]) -> tuple[pd.DataFrame, np.ndarray]:
    """The manifest (one row per slice, checked against its schema) and the slice store; fills the report in."""
    report_by_key = {r["series_key"]: r for r in plan.report if r["series_key"]}
    rows, stacks = [], []
    for job, result in zip(plan.jobs, results):
        entry = report_by_key[job.series_key]
        if isinstance(result, VolumeFailure):
            entry.update(outcome="skipped", reason=result.reason)
            continue
        aligned = result.aligned
        pitch, roll, yaw = aligned.angles_deg
        ac_x, ac_y, ac_z = aligned.translation
        entry.update(
            used=True,
            alignment=aligned.method,
            pitch_deg=pitch,
            roll_deg=roll,
            yaw_deg=yaw,
            ac_x_mm=ac_x,
            ac_y_mm=ac_y,
            ac_z_mm=ac_z,
            similarity=aligned.similarity,
            qc_flag=aligned.qc_flag,
            slices=len(result.chosen),
        )
        for chosen, stack in zip(result.chosen, result.stack):
            rows.append(
                {
                    "slice_id": f"{job.series_key}-{chosen.level}-{chosen.z_index:02d}",
                    "patient_key": job.patient_key,
                    "study_key": job.study_key,
                    "series_key": job.series_key,
                    "condition": job.condition,
                    "level": chosen.level,
                    "pattern": job.pattern,
                    "side": job.side,
                    "z_index": chosen.z_index,
                    "z_mm": chosen.z_mm,
                    "neighbour_below": chosen.below,
                    "neighbour_above": chosen.above,
                    "store_index": len(stacks),
                    "volume_path": result.volume_path,
                    "unit": result.unit,
                    "alignment": aligned.method,
                    "pitch_deg": pitch,
                    "roll_deg": roll,
                    "yaw_deg": yaw,
                    "similarity": aligned.similarity,
                    "qc_flag": aligned.qc_flag,
                }
            )
            stacks.append(stack)
    store = np.stack(stacks) if stacks else np.zeros((0, 3, *SLICE_SHAPE), np.float32)
    digest = store_digest(store)
    for row in rows:
        row["store_digest"] = digest
    return MANIFEST.validate(pd.DataFrame(rows, columns=MANIFEST.required)), store


def write_outputs(out: Path, manifest: pd.DataFrame, store: np.ndarray, report: list[dict]) -> IngestResult:
    """Write the store, the manifests and the report, each whole or not at all (temporary file, then rename);
    the manifest names its store's digest, so a store and manifest of different runs are refused when loaded."""
    from .qc import write_qc_pages

    write_atomically(out / STORE_NAME, lambda path: np.save(path, store))
    write_atomically(out / "manifest.parquet", lambda path: manifest.to_parquet(path, index=False))
    write_atomically(out / "manifest.csv", lambda path: manifest.to_csv(path, index=False))
    report_table = pd.DataFrame(report).reindex(columns=REPORT_COLUMNS)
    write_atomically(out / "ingest_report.csv", lambda path: report_table.to_csv(path, index=False))
    pages = write_qc_pages(manifest, store, out / "qc")
    used = report_table.used.astype(bool)
    ignored = report_table.outcome.eq(IGNORED)
    return IngestResult(
        out / "manifest.parquet",
        out / "ingest_report.csv",
        out / STORE_NAME,
        pages,
        int(used.sum()),
        int((~used & ~ignored).sum()),
        len(manifest),
        int(report_table.loc[ignored, "n_files"].sum()),
    )


@contextmanager
def _exclusive(out: Path, overwrite: bool):
    """Hold ``out`` for this ingest alone (an OS lock, released even when the process is killed), refuse a folder
    that holds another ingest unless ``overwrite``, and then clear the old outputs so nothing stale stays."""
    import fcntl

    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".ingest.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SpectInputError(out, "another ingest is writing into this folder right now") from None
        existing = [name for name in OUTPUT_NAMES if (out / name).exists()]
        if existing and not overwrite:
            raise SpectInputError(
                out,
                f"already holds an ingest ({', '.join(existing)}); choose another folder "
                "or pass --overwrite to replace it",
            )
        for name in existing:
            if (out / name).is_dir():
                shutil.rmtree(out / name)
            else:
                (out / name).unlink()
        yield


def _single_threaded() -> None:
    """One ITK thread per worker process: the processes already fill the cores."""
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)


__all__ = [
    "ingest",
    "IngestResult",
    "plan_ingest",
    "process_volume",
    "assemble",
    "write_outputs",
    "VolumeJob",
    "VolumeSlices",
    "VolumeFailure",
    "IngestPlan",
]
