"""Alignment accuracy, level selection and ingest speed against the phantom's ground truth.

    python benchmarks/bench_align.py --patients 50 --jobs 2        # 100 volumes, accuracy figures
    python benchmarks/bench_align.py --patients 250 --jobs 2       # 500 volumes, the speed target

Prints median / 95th percentile rotation error, median AC position error, how many volumes are worse than
5 degrees and whether QC flagged them, the share of volumes whose selected slices include the slice nearest each
level's true z, landmark-versus-template agreement, and ingest volumes per second.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial.transform import Rotation

from spect_toolkit.align import align_to_acpc
from spect_toolkit.dicom import read_volume
from spect_toolkit.manifest import load_manifest
from spect_toolkit.manifest.ingest import ingest
from spect_toolkit.phantom import make_cohort
from spect_toolkit.pseudonym import Pseudonymizer, load_or_create_key
from spect_toolkit.template import CANONICAL_GRID
from spect_toolkit.vocabulary import LEVELS


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=50)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--landmark-volumes", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cohort = make_cohort(tmp / "cohort", args.patients, args.seed, jobs=args.jobs)
        start = time.perf_counter()
        ingest(cohort.dicom, cohort.labels, tmp / "work", jobs=args.jobs)
        seconds = time.perf_counter() - start
        truth = pd.read_csv(cohort.ground_truth, dtype={"patient_id": str})
        pseudonymize = Pseudonymizer(load_or_create_key(tmp / "work" / "pseudonym.key"))
        truth["series_key"] = [pseudonymize("series", uid) for uid in truth.series_instance_uid]
        report = pd.read_csv(tmp / "work" / "ingest_report.csv").merge(truth, on="series_key", suffixes=("", "_t"))
        manifest = load_manifest(tmp / "work" / "manifest.parquet")

        rotation_err = []
        for _, row in report.iterrows():
            true_r = np.array([[row[f"r{i}{j}"] for j in range(3)] for i in range(3)])
            found = Rotation.from_euler("zyx", [row.yaw_deg, row.roll_deg, row.pitch_deg], degrees=True).as_matrix()
            rotation_err.append(np.degrees(Rotation.from_matrix(true_r.T @ found).magnitude()))
        report["rotation_error_deg"] = rotation_err
        translation_err = np.linalg.norm(report[["ac_x_mm", "ac_y_mm", "ac_z_mm"]].to_numpy()
                                         - report[["tx_mm", "ty_mm", "tz_mm"]].to_numpy(), axis=1)
        bad = report[report.rotation_error_deg > 5]
        z = CANONICAL_GRID.axis("z")
        hits = []
        for _, row in report.iterrows():
            chosen = manifest[manifest.series_key == row.series_key]
            for level in LEVELS:
                nearest = int(np.argmin(np.abs(z - row[f"z_{level}_mm"])))
                hits.append(nearest in set(chosen[chosen.level == level].z_index))
        # Landmarks are exact only without the elastic part (it moves AC and PC, 28 mm apart, by about a mm,
        # which tilts the AC-PC line by about 2 degrees), so this comparison uses a cohort without it.
        rigid = make_cohort(tmp / "rigid", args.landmark_volumes // 2, args.seed + 1, elastic_mm=0.0, jobs=args.jobs)
        agreement = []
        for _, row in pd.read_csv(rigid.ground_truth).iterrows():
            volume = read_volume(rigid.root / row.path)
            marks = {n: np.array([row[f"{n.lower()}_{a}"] for a in "xyz"]) for n in ("AC", "PC", "MID")}
            template = align_to_acpc(volume)
            landmark = align_to_acpc(volume, "landmarks", marks)
            agreement.append(landmark.transform_error(template.rotation, template.translation)[0])
    n = len(report)
    print(f"volumes: {n} ({args.patients} patients, paper mix, seed {args.seed})")
    print(f"rotation error: median {np.median(rotation_err):.2f} deg, 95th percentile "
          f"{np.percentile(rotation_err, 95):.2f} deg, max {np.max(rotation_err):.2f} deg")
    print(f"AC position error: median {np.median(translation_err):.2f} mm, 95th percentile "
          f"{np.percentile(translation_err, 95):.2f} mm, max {np.max(translation_err):.2f} mm")
    print(f"volumes worse than 5 deg: {len(bad)}, of which QC-flagged: {int((bad.qc_flag != 'ok').sum())}; "
          f"QC flags in all: {int((report.qc_flag != 'ok').sum())}")
    print(f"level selection: nearest slice to the true level z selected in {100 * np.mean(hits):.1f} % "
          f"of (volume, level) pairs")
    print(f"landmarks vs template ({len(agreement)} volumes, no elastic deformation): median "
          f"{np.median(agreement):.2f} deg, max {np.max(agreement):.2f} deg")
    print(f"ingest: {n} volumes in {seconds:.1f} s with {args.jobs} jobs = {n / seconds:.2f} volumes/s")


if __name__ == "__main__":
    main()
