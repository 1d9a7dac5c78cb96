"""The scripts that docs/ tells a reader to run: they start, and what they print still matches the docs."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "docs" / "scripts"


def _run(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPTS / script), *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize(
    "script", ["compare_variants.py", "phantom_realism.py", "reproduce_paper.py", "two_sample_checks.py"]
)
def test_a_documented_script_imports_and_reads_its_options(script):
    done = _run(script, "--help")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("usage:") and "--" in done.stdout


def test_the_parameter_table_in_the_gan_docs_is_what_the_networks_have():
    done = _run("gan_parameters.py")
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| paper") or line.startswith("| improved")]
    assert len(rows) == 4
    docs = (ROOT / "docs" / "gan.md").read_text()
    assert all(row in docs for row in rows), "docs/gan.md has other parameter counts than the networks:\n" + "\n".join(
        rows
    )


def test_the_control_sample_has_the_held_out_slices_levels_and_patterns():
    spec = importlib.util.spec_from_file_location("two_sample_checks", SCRIPTS / "two_sample_checks.py")
    checks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(checks)
    pool = pd.DataFrame(
        {"level": ["CER"] * 30 + ["COR"] * 40, "pattern": (["normal", "unilateral"] * 15) + ["bilateral"] * 40}
    )
    like = pd.DataFrame(
        {"level": ["CER", "CER", "CER", "COR"], "pattern": ["unilateral", "unilateral", "normal", "bilateral"]}
    )
    drawn = checks.same_conditions(pool, like, np.random.default_rng(0))
    assert len(set(drawn)) == len(drawn) == len(like)
    count = pool.iloc[drawn].groupby(["level", "pattern"]).size().to_dict()
    assert count == like.groupby(["level", "pattern"]).size().to_dict()
