"""Decode speed of a 64-slice NM volume in every transfer syntax the toolkit reads, per installed pixel-data plugin.

    python benchmarks/bench_decode.py [--repeats 20]

Writes one phantom volume in each syntax, then times ``pixel_array`` with each plugin pydicom offers for it
(plugins interleaved, best of ``--repeats``), and checks each decode against the uncompressed volume. Prints a
Markdown table of milliseconds per volume and the load average.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
from pydicom.pixels import get_decoder

from spect_toolkit.dicom.writing import TRANSFER_SYNTAXES
from spect_toolkit.phantom import make_cohort


def decode_ms(path: Path, plugin: str | None, repeats: int) -> tuple[float, np.ndarray]:
    best, array = float("inf"), None
    for _ in range(repeats):
        ds = pydicom.dcmread(path)
        if plugin:
            ds.pixel_array_options(decoding_plugin=plugin)
        start = time.perf_counter()
        array = ds.pixel_array
        best = min(best, time.perf_counter() - start)
    return 1000 * best, array


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    print(f"load {os.getloadavg()[0]:.2f}")
    print("| transfer syntax | plugin | ms per volume | matches the uncompressed volume |\n|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for name in TRANSFER_SYNTAXES:
            cohort = make_cohort(Path(tmp) / name, 1, seed=5, transfer_syntax=name)
            files[name] = sorted(cohort.dicom.rglob("*.dcm"))[0]
        reference = pydicom.dcmread(files["explicit"]).pixel_array
        for name, path in files.items():
            syntax = TRANSFER_SYNTAXES[name]
            plugins = get_decoder(syntax).available_plugins if syntax.is_compressed else ("pydicom",)
            for plugin in plugins:
                ms, array = decode_ms(path, plugin if syntax.is_compressed else None, args.repeats)
                error = int(np.abs(array.astype(np.int64) - reference).max())
                print(f"| {name} | {plugin} | {ms:.1f} | {'exact' if error == 0 else f'max error {error}'} |")
    print(f"load after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
