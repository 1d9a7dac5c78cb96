"""The manifest's and the labels' schemas, written once."""

from __future__ import annotations

from ..schema import Column, Schema
from ..vocabulary import CONDITIONS, LEVELS, PATTERNS, SIDES, SPLIT_NAMES

LABELS = Schema(
    "labels",
    (
        Column("patient_id", "string", "Patient ID (0010,0020) as in the export"),
        Column("accession_number", "string", "Accession Number (0008,0050) of the study"),
        Column("condition", "string", "rest or acetazolamide stress", CONDITIONS),
        Column("pattern", "string", "defect pattern", PATTERNS),
        Column("side", "string", "affected (or worse) side; none for normal", SIDES),
    ),
)

LANDMARKS = Schema(
    "landmarks",
    (
        Column("patient_id", "string", "Patient ID"),
        Column("accession_number", "string", "Accession Number"),
        Column("condition", "string", "rest or stress", CONDITIONS),
        *(
            Column(f"{p}_{a}", "float", f"{p.upper()} {a} in DICOM patient coordinates (LPS, mm)")
            for p in ("ac", "pc", "mid")
            for a in "xyz"
        ),
    ),
)

MANIFEST = Schema(
    "manifest",
    (
        Column("slice_id", "string", "unique id: series key, level and slice index"),
        Column("patient_key", "string", "keyed hash of the Patient ID"),
        Column("study_key", "string", "keyed hash of the Study Instance UID"),
        Column("series_key", "string", "keyed hash of the Series Instance UID"),
        Column("condition", "string", "rest or acetazolamide stress", CONDITIONS),
        Column("level", "string", "anatomical level", LEVELS),
        Column("pattern", "string", "defect pattern (from the labels)", PATTERNS),
        Column("side", "string", "affected side (from the labels)", SIDES),
        Column("z_index", "int", "slice index on the canonical grid"),
        Column("z_mm", "float", "distance from the AC-PC plane, mm, + superior"),
        Column("neighbour_below", "int", "canonical index of the inferior neighbour"),
        Column("neighbour_above", "int", "canonical index of the superior neighbour"),
        Column("store_index", "int", "row in slices.npy: [below, slice, above]"),
        Column(
            "store_digest",
            "string",
            "first 16 hex digits of the SHA-256 of the slice store written with this "
            "manifest: a store from another ingest is refused",
        ),
        Column("volume_path", "string", "aligned volume (NIfTI), relative to the manifest"),
        Column("unit", "string", "physical unit of the slice values"),
        Column("alignment", "string", "template or landmarks"),
        Column("pitch_deg", "float", "head pose found by alignment: rotation about the left-right axis"),
        Column("roll_deg", "float", "rotation about the anterior-posterior axis"),
        Column("yaw_deg", "float", "rotation about the superior-inferior axis"),
        Column("similarity", "float", "correlation of the aligned volume with the template (brain mask)"),
        Column("qc_flag", "string", "'ok' or why a person should look at this volume"),
        Column(
            "split",
            "string",
            "the patient's side of a split written into the manifest (stratified_split); without the column "
            "the split is drawn from the patient keys",
            SPLIT_NAMES,
            optional=True,
        ),
    ),
)
