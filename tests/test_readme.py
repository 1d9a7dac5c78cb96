"""The README's own-export sequence, run as written on a small phantom export, so it cannot drift from the CLI.

Only three things change: the paths (the phantom's export and labels), the training length (one epoch of tiny
networks instead of the paper's 1000), and the push, which needs a PACS (tests/test_push.py covers it)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from spect_toolkit.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"
SHORT_TRAINING = ["--epochs", "1", "--width", "4", "--batch-size", "16", "--step-mode", "function"]


def readme_sequence() -> list[list[str]]:
    """The commands of the README's 'On your own export' block, comments dropped."""
    text = README.read_text()
    section = text[text.index("## On your own export") :]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [shlex.split(line.split("#")[0]) for line in block.splitlines() if line.strip()]


def test_the_readme_sequence_runs_as_written(small_cohort, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    commands = readme_sequence()
    assert [c[1] for c in commands] == [
        "scan",
        "ingest",
        "train",
        "train",
        "select-epoch",
        "select-epoch",
        "generate",
        "generate",
        "export",
        "push",
        "evaluate",
    ]
    for command in commands:
        assert command[0] == "spect"
        args = [
            str(small_cohort.dicom) if a == "/path/to/export" else str(small_cohort.labels) if a == "labels.csv" else a
            for a in command[1:]
        ]
        if args[0] == "push":
            continue
        if args[0] == "train":
            args += SHORT_TRAINING
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, f"{' '.join(command)}\n{result.output}"
    for output in (
        "index.csv",
        "work/manifest.parquet",
        "samples_a.npz",
        "samples_b.npz",
        "dicom_a/DICOMDIR",
        "report/report.html",
    ):
        assert (tmp_path / output).exists(), output
