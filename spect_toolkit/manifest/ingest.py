"""Ingest: hospital export + clinicians' labels -> aligned volumes, labelled slice manifest, slice store, report.

Identifiers never leave this module in clear: the manifest and the report carry keyed hashes only, the NIfTI
files are named by the series hash, and the QC pictures carry hashes in their titles.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..align import align_to_acpc
from ..dicom import scan
from ..dicom.reader import read_volume
from ..errors import SchemaError
from ..levels import level_slices, parse_levels
from ..progress import map_with_progress
from ..pseudonym import Pseudonymizer, load_or_create_key
from ..template import CANONICAL_GRID, LEVELS
from . import LABELS, LANDMARKS, MANIFEST, STORE_NAME, load_table

REPORT_COLUMNS = ["series_key", "patient_key", "study_key", "condition", "pattern", "path", "n_files", "used",
                  "reason", "alignment", "pitch_deg", "roll_deg", "yaw_deg", "ac_x_mm", "ac_y_mm", "ac_z_mm",
                  "similarity", "qc_flag", "slices"]


@dataclass(frozen=True)
class IngestResult:
    manifest: Path
    report: Path
    store: Path
    qc_pages: list[Path]
    volumes_used: int
    series_skipped: int
    slices: int


@dataclass(frozen=True)
class _Task:
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


def _label_key(pseudonymize: Pseudonymizer, patient_id: str, accession: str, condition: str) -> tuple[str, str, str]:
    return pseudonymize("patient", patient_id), pseudonymize("accession", accession), condition


def _keyed(table: pd.DataFrame, pseudonymize: Pseudonymizer, source: Path) -> dict:
    out = {}
    for _, row in table.iterrows():
        key = _label_key(pseudonymize, row.patient_id, row.accession_number, row.condition)
        if key in out:
            raise SchemaError(source, f"two rows for patient {row.patient_id}, accession {row.accession_number}, "
                                      f"{row.condition}")
        out[key] = row
    return out


def _process(task: _Task) -> dict:
    """Read, align, cut and save one series; never raises (a failure becomes the report's reason)."""
    import SimpleITK as sitk

    try:
        volume = read_volume([Path(f) for f in task.files])
        if task.landmarks is not None:
            aligned = align_to_acpc(volume, "landmarks", task.landmarks)
        else:
            aligned = align_to_acpc(volume, "template")
    except Exception as exc:  # noqa: BLE001 - one bad series must not stop the batch
        return {"series_key": task.series_key, "error": f"{type(exc).__name__}: {exc}"}
    image = sitk.GetImageFromArray(aligned.array)
    image.SetOrigin(CANONICAL_GRID.origin)
    image.SetSpacing(CANONICAL_GRID.spacing)
    volume_path = Path("volumes") / f"{task.series_key}.nii.gz"
    sitk.WriteImage(image, str(Path(task.out) / volume_path), useCompression=True)
    chosen = level_slices(task.levels)
    stack = np.stack([aligned.array[[s.below, s.z_index, s.above]] for s in chosen]).astype(np.float32)
    return {
        "series_key": task.series_key,
        "aligned": aligned,
        "unit": volume.unit,
        "chosen": chosen,
        "stack": stack,
        "volume_path": str(volume_path),
    }


def _landmarks_for(table: dict, key) -> dict | None:
    row = table.get(key)
    if row is None:
        return None
    return {name: np.array([row[f"{name.lower()}_{a}"] for a in "xyz"], dtype=float) for name in ("AC", "PC", "MID")}


def ingest(
    export_dir: str | Path,
    labels: str | Path,
    out: str | Path,
    levels: tuple[str, ...] | str = LEVELS,
    landmarks: str | Path | None = None,
    key: str | Path | None = None,
    jobs: int = 1,
    show_progress: bool = False,
) -> IngestResult:
    """Turn an export into ``out/manifest.parquet`` (+ ``.csv``), ``slices.npy``, ``volumes/*.nii.gz``,
    ``ingest_report.csv`` and ``qc/*.png``.

    Label rows that match no usable series are an error listing them (fix the labels first); series without a
    label, unreadable series and failed alignments are reported and skipped; the batch goes on.
    """
    out = Path(out)
    levels = parse_levels(levels)
    (out / "volumes").mkdir(parents=True, exist_ok=True)
    pseudonymize = Pseudonymizer(load_or_create_key(key or out / "pseudonym.key"))
    label_table = load_table(labels, LABELS)
    by_label = _keyed(label_table, pseudonymize, Path(labels))
    by_landmark = _keyed(load_table(landmarks, LANDMARKS), pseudonymize, Path(landmarks)) if landmarks else {}

    index = scan(export_dir, pseudonymize, show_progress=show_progress)
    root = Path(export_dir)
    report: list[dict] = []
    tasks: list[_Task] = []
    matched: set = set()
    for _, row in index.iterrows():
        entry = {c: row.get(c, "") for c in ("series_key", "patient_key", "study_key", "condition", "path", "n_files")}
        entry.update(used=False, pattern="", reason="")
        if row.status != "ok":
            entry["reason"] = row.status
            report.append(entry)
            continue
        label_key = (row.patient_key, row.accession_key, row.condition)
        label = by_label.get(label_key)
        if label is None:
            entry["reason"] = ("no label: condition not found in the series description"
                               if row.condition == "unknown" else "no label row for this series")
            report.append(entry)
            continue
        matched.add(label_key)
        entry["pattern"] = label.pattern
        report.append(entry)
        tasks.append(_Task(row.series_key, row.patient_key, row.study_key, row.condition, label.pattern, label.side,
                           tuple(str(root / f) for f in row.files.split(";")), _landmarks_for(by_landmark, label_key),
                           levels, str(out)))
    unmatched = [by_label[k] for k in by_label if k not in matched]
    if unmatched:
        listing = "; ".join(f"{r.patient_id}/{r.accession_number}/{r.condition}" for r in unmatched[:20])
        more = f" and {len(unmatched) - 20} more" if len(unmatched) > 20 else ""
        raise SchemaError(labels, f"{len(unmatched)} label row(s) match no usable series: {listing}{more}")

    results = map_with_progress(_process, tasks, jobs, "ingest", show_progress, initializer=_single_threaded)
    report_by_key = {r["series_key"]: r for r in report}
    rows, stacks = [], []
    for task, result in zip(tasks, results):
        entry = report_by_key[task.series_key]
        if "error" in result:
            entry["reason"] = result["error"]
            continue
        aligned = result["aligned"]
        pitch, roll, yaw = aligned.angles_deg
        ac_x, ac_y, ac_z = aligned.translation
        entry.update(used=True, alignment=aligned.method, pitch_deg=pitch, roll_deg=roll, yaw_deg=yaw,
                     ac_x_mm=ac_x, ac_y_mm=ac_y, ac_z_mm=ac_z,
                     similarity=aligned.similarity, qc_flag=aligned.qc_flag, slices=len(result["chosen"]))
        for chosen, stack in zip(result["chosen"], result["stack"]):
            rows.append({
                "slice_id": f"{task.series_key}-{chosen.level}-{chosen.z_index:02d}",
                "patient_key": task.patient_key, "study_key": task.study_key, "series_key": task.series_key,
                "condition": task.condition, "level": chosen.level, "pattern": task.pattern, "side": task.side,
                "z_index": chosen.z_index, "z_mm": chosen.z_mm, "neighbour_below": chosen.below,
                "neighbour_above": chosen.above, "store_index": len(stacks), "volume_path": result["volume_path"],
                "unit": result["unit"], "alignment": aligned.method, "pitch_deg": pitch, "roll_deg": roll,
                "yaw_deg": yaw, "similarity": aligned.similarity, "qc_flag": aligned.qc_flag,
            })
            stacks.append(stack)
    manifest = MANIFEST.validate(pd.DataFrame(rows, columns=MANIFEST.names))
    store = np.stack(stacks) if stacks else np.zeros((0, 3, 64, 64), np.float32)
    np.save(out / STORE_NAME, store)
    manifest.to_parquet(out / "manifest.parquet", index=False)
    manifest.to_csv(out / "manifest.csv", index=False)
    report_table = pd.DataFrame(report).reindex(columns=REPORT_COLUMNS)
    report_table.to_csv(out / "ingest_report.csv", index=False)
    from .qc import write_qc_pages

    pages = write_qc_pages(manifest, store, out / "qc")
    skipped = int((~report_table.used.astype(bool)).sum())
    return IngestResult(out / "manifest.parquet", out / "ingest_report.csv", out / STORE_NAME, pages,
                        int(report_table.used.astype(bool).sum()), skipped, len(manifest))


def _single_threaded() -> None:
    """One ITK thread per worker process: the processes already fill the cores."""
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)


__all__ = ["ingest", "IngestResult"]
