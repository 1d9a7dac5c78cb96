"""Table schemas and table reading on their own: what a user's spreadsheet may look like, and what is refused."""

from __future__ import annotations

import pandas as pd
import pytest

from spect_toolkit.errors import SchemaError
from spect_toolkit.manifest import LABELS, MANIFEST, load_table
from spect_toolkit.schema import Column, Schema

ROWS = [("12345678", "A1", "rest", "normal", "none"), ("MÜLLER-7", "A2", "stress", "unilateral", "L")]
HEADER = ("patient_id", "accession_number", "condition", "pattern", "side")


def _text(separator: str) -> str:
    return "\n".join(separator.join(r) for r in [HEADER, *ROWS]) + "\n"


@pytest.mark.parametrize(
    "encoding, separator",
    [("utf-8", ","), ("utf-8-sig", ";"), ("utf-16", ","), ("cp1252", ";"), ("latin-1", "\t"), ("utf-8", "\t")],
)
def test_labels_as_spreadsheets_write_them_are_read(tmp_path, encoding, separator):
    path = tmp_path / "labels.csv"
    path.write_bytes(_text(separator).encode(encoding))
    table = load_table(path, LABELS)
    assert list(table.patient_id) == ["12345678", "MÜLLER-7"] and list(table.side) == ["none", "L"]


def test_unreadable_labels_say_what_was_found(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(SchemaError, match=r"empty\.csv: the labels file is empty"):
        load_table(empty, LABELS)
    piped = tmp_path / "piped.csv"
    piped.write_text(_text("|"))
    with pytest.raises(SchemaError, match="names none of the labels columns.*comma, semicolon or tab"):
        load_table(piped, LABELS)
    binary = tmp_path / "labels.xlsx.csv"
    binary.write_bytes(b"PK\x03\x04\x00\x00binary")
    with pytest.raises(SchemaError, match="binary data"):
        load_table(binary, LABELS)


def test_schema_names_missing_columns_bad_values_and_types():
    schema = Schema("toy", (Column("n", "int", "a count"), Column("kind", "string", "a kind", ("a", "b"))))
    with pytest.raises(SchemaError, match=r"t\.csv: toy lacks column\(s\) kind"):
        schema.validate(pd.DataFrame({"n": [1]}), "t.csv")
    with pytest.raises(SchemaError, match="column 'kind' has unknown value.*'c'; allowed: a, b"):
        schema.validate(pd.DataFrame({"n": [1], "kind": ["c"]}))
    with pytest.raises(SchemaError, match="column 'n' is not int"):
        schema.validate(pd.DataFrame({"n": ["one"], "kind": ["a"]}))
    typed = schema.validate(pd.DataFrame({"n": ["3"], "kind": ["b"]}))
    assert typed.n.dtype == "int64" and typed.kind.iloc[0] == "b"


def test_manifest_schema_documents_every_column():
    table = MANIFEST.markdown()
    for name in MANIFEST.names:
        assert f"`{name}`" in table
    assert "store_digest" in MANIFEST.names


def test_optional_column_is_checked_where_present_only():
    kind = Column("kind", "string", "a kind", ("a", "b"), optional=True)
    schema = Schema("t", (Column("n", "int", "a number"), kind))
    assert list(schema.validate(pd.DataFrame({"n": [1]})).columns) == ["n"]
    with pytest.raises(SchemaError, match="column 'kind' has unknown value"):
        schema.validate(pd.DataFrame({"n": [1], "kind": ["c"]}))
    assert "optional" in schema.markdown()


def _cohort(strata: dict[str, int]) -> pd.DataFrame:
    """Two slices per patient; keys ordered so that the lowest ones all fall in the first stratum."""
    rows = []
    for s, (stratum, count) in enumerate(strata.items()):
        pattern, side = stratum.split("/")
        for i in range(count):
            key = f"{s:02d}{i:04d}"
            rows += [{"patient_key": key, "pattern": pattern, "side": side, "slice_id": f"{key}-{j}"} for j in (0, 1)]
    return pd.DataFrame(rows)


def test_stratified_split_holds_out_every_stratum_in_proportion():
    from spect_toolkit.manifest import patient_split, patient_strata, select_split, stratified_split

    strata = {"unilateral/R": 20, "normal/none": 50, "unilateral/L": 10, "bilateral/L": 5, "bilateral/R": 5}
    cohort = _cohort(strata)
    by_keys, stratified = patient_split(cohort), stratified_split(cohort)
    assert (cohort.assign(split=stratified).groupby("patient_key")["split"].nunique() == 1).all()
    assert (stratified == "holdout").sum() == (by_keys == "holdout").sum()  # as many patients held out
    held = cohort[stratified == "holdout"].drop_duplicates("patient_key")
    counts = patient_strata(held)
    for stratum, total in strata.items():
        assert abs((counts == stratum).sum() - 0.2 * total) <= 1, stratum
    # the lowest keys alone would hold out right-sided unilateral patients only
    assert set(patient_strata(cohort[by_keys == "holdout"])) == {"unilateral/R"}
    written = cohort.assign(split=stratified)
    assert select_split(written, "holdout")["slice_id"].tolist() == cohort[stratified == "holdout"]["slice_id"].tolist()


def test_a_split_column_that_tears_a_patient_or_leaves_rows_empty_is_refused():
    from spect_toolkit.manifest import patient_split

    cohort = _cohort({"normal/none": 3})
    cohort["split"] = "train"
    cohort.loc[0, "split"] = "holdout"
    with pytest.raises(SchemaError, match="patient 000000 on both sides"):
        patient_split(cohort)
    cohort["split"] = "train"
    cohort.loc[0, "split"] = None
    with pytest.raises(SchemaError, match="'split' is empty in 1 row"):
        patient_split(cohort)
