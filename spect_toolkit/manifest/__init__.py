"""Labelled slice manifests: the schemas, loading with checks, the slice store, and ingest that writes them."""

from ..vocabulary import CONDITIONS, PATTERNS, SIDES
from .schema import LABELS, LANDMARKS, MANIFEST
from .store import (
    HOLDOUT_FRACTION,
    SPLITS,
    STORE_NAME,
    SliceSet,
    load_manifest,
    load_slices,
    load_table,
    manifest_source,
    patient_split,
    patient_strata,
    select_split,
    stratified_split,
    write_subset,
)

__all__ = [
    "MANIFEST",
    "LABELS",
    "LANDMARKS",
    "PATTERNS",
    "CONDITIONS",
    "SIDES",
    "load_manifest",
    "load_slices",
    "load_table",
    "manifest_source",
    "SliceSet",
    "STORE_NAME",
    "patient_split",
    "patient_strata",
    "stratified_split",
    "select_split",
    "write_subset",
    "SPLITS",
    "HOLDOUT_FRACTION",
]
