"""Alignment accuracy by defect pattern, QC, level selection and ingest speed against the phantom's ground truth.

    python benchmarks/bench_align.py --patients 50 --jobs 2        # 100 volumes, accuracy figures
    python benchmarks/bench_align.py --patients 250 --jobs 2       # 500 volumes, the speed target

Prints, per pattern (normal, unilateral, bilateral): median and 95th percentile rotation error, median AC position
error, the median lateral AC error signed toward the healthy side (+ = toward the unaffected hemisphere, where a
defect-pulled registration goes), and how many correctly aligned volumes QC flags. Then QC on injected
misalignments (each volume's found pose turned by 5 degrees about a random axis: every one should be flagged),
level selection, and ingest speed. Records the load average.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial.transform import Rotation

from spect_toolkit.align import align_to_acpc
from spect_toolkit.align.acpc import quality_check
from spect_toolkit.dicom import read_volume
from spect_toolkit.manifest import load_manifest
from spect_toolkit.manifest.ingest import ingest
from spect_toolkit.phantom import make_cohort
from spect_toolkit.pseudonym import project_pseudonymizer
from spect_toolkit.template import CANONICAL_GRID
from spect_toolkit.vocabulary import LEVELS, PATTERNS


def _truth(row) -> tuple[np.ndarray, np.ndarray]:
    rotation = np.array([[row[f"r{i}{j}"] for j in range(3)] for i in range(3)])
    return rotation, np.array([row.tx_mm, row.ty_mm, row.tz_mm])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=50)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--mix", default="normal=0.34,unilateral=0.33,bilateral=0.33", help="pattern weights")
    parser.add_argument("--injected", type=int, default=40, help="volumes to test QC on with a 5 degree turn")
    args = parser.parse_args()
    print(f"load before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        mix = {k: float(v) for k, v in (part.split("=") for part in args.mix.split(","))}
        cohort = make_cohort(tmp / "cohort", args.patients, args.seed, mix=mix, jobs=args.jobs)
        key = tmp / "pseudonym.key"
        start = time.perf_counter()
        ingest(cohort.dicom, cohort.labels, tmp / "work", key=key, jobs=args.jobs)
        seconds = time.perf_counter() - start
        truth = pd.read_csv(cohort.ground_truth, dtype={"patient_id": str})
        pseudonymize = project_pseudonymizer(key)
        truth["series_key"] = [pseudonymize("series", uid) for uid in truth.series_instance_uid]
        report = pd.read_csv(tmp / "work" / "ingest_report.csv").merge(truth, on="series_key", suffixes=("", "_t"))
        manifest = load_manifest(tmp / "work" / "manifest.parquet")

        rotation_error, ac_error, lateral = [], [], []
        for _, row in report.iterrows():
            true_r, true_t = _truth(row)
            found = Rotation.from_euler("zyx", [row.yaw_deg, row.roll_deg, row.pitch_deg], degrees=True).as_matrix()
            rotation_error.append(np.degrees(Rotation.from_matrix(true_r.T @ found).magnitude()))
            delta = np.array([row.ac_x_mm, row.ac_y_mm, row.ac_z_mm]) - true_t
            ac_error.append(np.linalg.norm(delta))
            # the AC's error along the head's own left-right axis, + toward the healthy side (LPS: +x is left)
            toward_left = float(true_r[:, 0] @ delta)
            side = row.side if isinstance(row.side, str) else "none"
            lateral.append(toward_left if side == "R" else -toward_left if side == "L" else np.nan)
        report["rotation_error_deg"] = rotation_error
        report["ac_error_mm"] = ac_error
        report["lateral_toward_healthy_mm"] = lateral

        z = CANONICAL_GRID.axis("z")
        hits = []
        for _, row in report.iterrows():
            chosen = manifest[manifest.series_key == row.series_key]
            for level in LEVELS:
                nearest = int(np.argmin(np.abs(z - row[f"z_{level}_mm"])))
                hits.append(nearest in set(chosen[chosen.level == level].z_index))

        # QC on injected misalignment: the true pose turned by 5 degrees about a random axis
        rng = np.random.default_rng(args.seed)
        picked = report.sample(min(args.injected, len(report)), random_state=args.seed)
        injected_flags = []
        for _, row in picked.iterrows():
            volume = read_volume(cohort.root / row.path_t)
            true_r, true_t = _truth(row)
            axis = rng.normal(size=3)
            turn = Rotation.from_rotvec(np.radians(5.0) * axis / np.linalg.norm(axis)).as_matrix()
            flag = quality_check(volume, true_r @ turn, true_t)
            injected_flags.append(flag.flag != "ok")
        aligned_ok = align_to_acpc(read_volume(cohort.root / picked.iloc[0].path_t))  # one full run, for the timing

    n = len(report)
    print(f"volumes: {n} ({args.patients} patients, mix {args.mix}, seed {args.seed})")
    print(
        "| pattern | volumes | rotation error median / 95th pct (deg) | AC error median / 95th pct (mm) "
        "| lateral AC error toward healthy side, median (mm) | QC flags |"
    )
    print("|---|---|---|---|---|---|")
    for pattern in PATTERNS:
        part = report[report.pattern == pattern]
        if part.empty:
            continue
        lateral_text = "n/a" if pattern == "normal" else f"{np.nanmedian(part.lateral_toward_healthy_mm):+.2f}"
        print(
            f"| {pattern} | {len(part)} | {part.rotation_error_deg.median():.2f} / "
            f"{part.rotation_error_deg.quantile(0.95):.2f} | {part.ac_error_mm.median():.2f} / "
            f"{part.ac_error_mm.quantile(0.95):.2f} | {lateral_text} | {int((part.qc_flag != 'ok').sum())} |"
        )
    worse = report[report.rotation_error_deg > 5]
    print(
        f"all: rotation median {np.median(rotation_error):.2f} deg, AC median {np.median(ac_error):.2f} mm; "
        f"volumes worse than 5 deg: {len(worse)}, QC-flagged among them: {int((worse.qc_flag != 'ok').sum())}; "
        f"QC flags on volumes within 5 deg: {int(((report.rotation_error_deg <= 5) & report.qc_flag.ne('ok')).sum())}"
    )
    flags = report.loc[report.qc_flag != "ok", "qc_flag"].value_counts()
    for text, count in flags.items():
        print(f"  flag: {text} ({count})")
    print(f"QC on {len(injected_flags)} volumes turned 5 deg off their true pose: {sum(injected_flags)} flagged")
    print(
        f"level selection: nearest slice to the true level z selected in {100 * np.mean(hits):.1f} % "
        "of (volume, level) pairs"
    )
    print(
        f"ingest: {n} volumes in {seconds:.1f} s with {args.jobs} jobs = {n / seconds:.2f} volumes/s "
        f"(one volume's similarity {aligned_ok.similarity:.2f})"
    )
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
