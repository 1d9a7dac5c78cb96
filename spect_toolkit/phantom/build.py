"""Write a synthetic cohort as a hospital export, with the clinicians' labels and the ground truth.

``make_cohort`` writes, under ``out_dir``::

    DICOM/<patient>/<series>/IM*.dcm   the export, as a hospital would hand it over
    labels.csv                        what the clinicians fill in: patient, study, condition, pattern, side
    ground_truth.csv                  pose, defects, landmarks and level positions, one row per volume
    landmarks.csv                     AC, PC and a midline point per volume, as a user would give them
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..dicom.writing import transfer_syntax as transfer_syntax_uid
from ..errors import ArgumentError
from ..progress import map_with_progress
from ..vocabulary import CONDITIONS, PATTERNS
from .cohort import PAPER_MIX, Subject, draw_subject, landmarks_world, simulate
from .hospital import LAYOUTS, SCALES, FakePatient, write_nm_volume


@dataclass(frozen=True)
class CohortPaths:
    root: Path
    dicom: Path
    labels: Path
    ground_truth: Path
    landmarks: Path


@dataclass(frozen=True)
class _Job:
    index: int
    seed: int
    mix: dict
    layout: str
    scale: str
    counts: float
    elastic_mm: float
    syntax: str
    out: Path


def parse_mix(text: str) -> dict[str, float]:
    """``"normal=0.6,unilateral=0.3,bilateral=0.1"`` or ``"paper"`` to pattern weights."""
    if text.strip().lower() == "paper":
        return dict(PAPER_MIX)
    mix: dict[str, float] = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        name = name.strip().lower()
        if name not in PATTERNS:
            raise ArgumentError(f"unknown pattern {name!r} in mix {text!r}; expected {', '.join(PATTERNS)}")
        try:
            mix[name] = float(weight)
        except ValueError:
            raise ArgumentError(f"pattern weight {weight!r} in mix {text!r} is not a number") from None
    if sum(mix.values()) <= 0 or min(mix.values()) < 0:
        raise ArgumentError(f"mix {text!r} needs non-negative weights with a positive sum")
    return mix


def _choose(option: str, choices: tuple[str, ...], index: int) -> str:
    return choices[index % len(choices)] if option == "mixed" else option


def _make_patient(job: _Job) -> list[dict]:
    subject = draw_subject(job.index, job.seed, job.mix)
    if job.elastic_mm != subject.elastic_mm:
        from dataclasses import replace

        subject = replace(subject, elastic_mm=job.elastic_mm)
    rng = np.random.default_rng([job.seed, job.index, 7])
    patient = FakePatient.draw(rng, job.seed, job.index)
    volumes = simulate(subject, total_counts=job.counts)
    landmarks = landmarks_world(subject)
    layout = _choose(job.layout, LAYOUTS, job.index)
    scale = _choose(job.scale, SCALES, job.index)
    rows = []
    for number, condition in enumerate(CONDITIONS, start=1):
        folder = job.out / "DICOM" / f"{job.index + 1:05d}" / f"{number:02d}"
        series_uid, files = write_nm_volume(
            folder,
            volumes[condition],
            subject.acquisition_grid,
            patient,
            condition,
            number,
            layout,
            scale,
            rng,
            job.syntax,
        )
        rows.append(_truth_row(subject, patient, condition, series_uid, layout, scale, landmarks, folder, job.out))
    return rows


def _truth_row(
    subject: Subject,
    patient: FakePatient,
    condition: str,
    series_uid: str,
    layout: str,
    scale: str,
    landmarks: dict,
    folder: Path,
    root: Path,
) -> dict:
    pitch, roll, yaw = subject.rotation_deg
    row = {
        "patient_id": patient.patient_id,
        "patient_name": patient.name,
        "accession_number": patient.accession_number,
        "study_instance_uid": patient.study_uid,
        "series_instance_uid": series_uid,
        "condition": condition,
        "pattern": subject.pattern,
        "side": subject.side,
        "defects": json.dumps([d.__dict__ for d in subject.defects]),
        "diaschisis": subject.diaschisis,
        "grey_cbf": subject.grey_cbf,
        "white_cbf": subject.white_cbf,
        "stress_gain": subject.stress_gain,
        "pitch_deg": pitch,
        "roll_deg": roll,
        "yaw_deg": yaw,
        "elastic_mm": subject.elastic_mm,
        "layout": layout,
        "scale_source": scale,
        "path": str(folder.relative_to(root)),
    }
    rotation = subject.rotation
    for i in range(3):
        for j in range(3):
            row[f"r{i}{j}"] = rotation[i, j]
    for axis, t, s in zip("xyz", subject.translation_mm, subject.scale):
        row[f"t{axis}_mm"] = t
        row[f"scale_{axis}"] = s
    for name, point in landmarks.items():
        for axis, v in zip("xyz", point):
            row[f"{name.lower()}_{axis}"] = float(v)
    for level, z in subject.level_z_mm().items():
        row[f"z_{level}_mm"] = z
    return row


def make_cohort(
    out_dir: str | Path,
    patients: int,
    seed: int = 0,
    mix: dict[str, float] | None = None,
    layout: str = "multiframe",
    scale: str = "rescale",
    counts: float = 6e6,
    elastic_mm: float = 1.5,
    transfer_syntax: str = "explicit",
    jobs: int = 1,
    show_progress: bool = False,
) -> CohortPaths:
    """Write a synthetic cohort of ``patients`` (each with a rest and a stress volume) under ``out_dir``.

    ``layout`` and ``scale`` take one of :data:`LAYOUTS` / :data:`SCALES`, or ``"mixed"`` to cycle through them.
    ``counts`` is the number of detected counts per volume (lower means noisier); ``transfer_syntax`` is one of
    :data:`~spect_toolkit.dicom.writing.TRANSFER_SYNTAXES` (``deflated`` for small files, ``jpeg-lossless``,
    ``jpeg-ls``, ``jpeg-ls-near``, ``jpeg2000`` or ``rle`` as PACS exports compress them).
    """
    if patients < 1:
        raise ArgumentError("patients must be at least 1")
    if layout != "mixed" and layout not in LAYOUTS:
        raise ArgumentError(f"unknown layout {layout!r}; expected one of {LAYOUTS} or 'mixed'")
    if scale != "mixed" and scale not in SCALES:
        raise ArgumentError(f"unknown scale {scale!r}; expected one of {SCALES} or 'mixed'")
    transfer_syntax_uid(transfer_syntax)  # an unknown name fails before any work
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    work = [
        _Job(i, seed, mix or dict(PAPER_MIX), layout, scale, counts, elastic_mm, transfer_syntax, out)
        for i in range(patients)
    ]
    results = map_with_progress(_make_patient, work, jobs, "phantom", show_progress, chunksize=4)
    rows = [row for patient_rows in results for row in patient_rows]
    truth = pd.DataFrame(rows)
    truth.insert(0, "seed", seed)
    paths = CohortPaths(out, out / "DICOM", out / "labels.csv", out / "ground_truth.csv", out / "landmarks.csv")
    truth.to_csv(paths.ground_truth, index=False)
    labels = truth[["patient_id", "accession_number", "condition", "pattern", "side"]]
    labels.to_csv(paths.labels, index=False)
    # what a user would give for landmark alignment: AC, PC and a midline point per series, world LPS mm
    landmark_columns = [f"{p}_{a}" for p in ("ac", "pc", "mid") for a in "xyz"]
    truth[["patient_id", "accession_number", "condition", *landmark_columns]].to_csv(paths.landmarks, index=False)
    return paths
