"""``spect``: a thin command-line layer over the toolkit's functions. Every command maps to one Python call.

Exit codes: 0 success; 1 the command failed (the message says why); 2 usage error; 3 the command finished but
skipped some input (each skipped item is listed in its report).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from .errors import SpectInputError

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__.splitlines()[0])
console = Console(stderr=True)
EXIT_SKIPPED = 3


def _fail(exc: Exception) -> None:
    console.print(f"[red]error:[/red] {exc}")
    raise typer.Exit(1)


@app.command()
def phantom(
    out_dir: Path = typer.Argument(..., help="folder to write the synthetic export into"),
    patients: int = typer.Option(20, "--patients", "-n", min=1, help="patients (each gives a rest and a stress volume)"),
    seed: int = typer.Option(0, help="random seed; the same seed gives the same cohort"),
    mix: str = typer.Option("paper", help="pattern mix: 'paper' (Table 1) or e.g. 'normal=0.5,unilateral=0.3,bilateral=0.2'"),
    layout: str = typer.Option("multiframe", help="multiframe | negative-spacing | top-level | per-slice | mixed"),
    scale: str = typer.Option("rescale", help="rescale | rwvm | mixed: where the CBF scale is written"),
    counts: float = typer.Option(6e6, help="detected counts per volume; fewer counts, more noise"),
    deflate: bool = typer.Option(False, help="write deflated DICOM (about 2.5 times smaller files)"),
    jobs: int = typer.Option(2, min=1, help="worker processes"),
) -> None:
    """Write a synthetic 123I-IMP QSPECT/DTARG hospital export with labels.csv and ground_truth.csv."""
    from .phantom import make_cohort, parse_mix

    start = time.perf_counter()
    try:
        paths = make_cohort(out_dir, patients, seed, parse_mix(mix), layout, scale, counts, deflate=deflate, jobs=jobs,
                            show_progress=True)
    except (ValueError, SpectInputError) as exc:
        _fail(exc)
    seconds = time.perf_counter() - start
    console.print(f"{patients} patients ({2 * patients} volumes) in {seconds:.1f} s")
    console.print(f"DICOM export: {paths.dicom}\nlabels:       {paths.labels}\nground truth: {paths.ground_truth}")


@app.command()
def scan(
    export_dir: Path = typer.Argument(..., exists=True, help="folder (any layout) or file to index"),
    out: Optional[Path] = typer.Option(None, help="write the index to this .csv or .parquet file"),
    key: Optional[Path] = typer.Option(None, help="pseudonym key file (created if absent; default: beside --out)"),
) -> None:
    """Index every file of an export by series; exit code 3 if any file or series cannot be used."""
    from .dicom import scan as scan_export
    from .pseudonym import Pseudonymizer, load_or_create_key

    key_path = key or (out.parent / "pseudonym.key" if out else None)
    pseudonymize = Pseudonymizer(load_or_create_key(key_path) if key_path else None)
    try:
        index = scan_export(export_dir, pseudonymize, show_progress=True)
    except SpectInputError as exc:
        _fail(exc)
    table = Table(title=f"{export_dir}: {len(index)} series / files")
    for column in ("path", "condition", "rows", "columns", "slices", "layout", "scale_source", "unit", "status"):
        table.add_column(column, overflow="fold")
    for _, row in index.iterrows():
        style = None if row.status == "ok" else "red"
        table.add_row(*[str(row[c]) for c in ("path", "condition", "rows", "columns", "slices", "layout",
                                               "scale_source", "unit", "status")], style=style)
    Console().print(table)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        index.to_parquet(out, index=False) if out.suffix == ".parquet" else index.to_csv(out, index=False)
        console.print(f"index written to {out}")
    skipped = index[index.status != "ok"]
    usable = len(index) - len(skipped)
    console.print(f"{usable} usable series; {len(skipped)} skipped ({int(skipped.n_files.sum())} files)")
    if len(skipped):
        raise typer.Exit(EXIT_SKIPPED)


@app.command()
def ingest(
    export_dir: Path = typer.Argument(..., exists=True, help="hospital export (folder tree of DICOM)"),
    labels: Path = typer.Option(..., exists=True, help="labels CSV: patient_id, accession_number, condition, pattern, side"),
    out: Path = typer.Option(..., help="work folder for the manifest, slice store, volumes, report and QC pages"),
    levels: str = typer.Option("CER,BG,COR", help="levels to keep: CER,BG,COR (data set A) or COR (data set B)"),
    landmarks: Optional[Path] = typer.Option(None, exists=True, help="landmark CSV (AC, PC, MID per series) for landmark alignment"),
    key: Optional[Path] = typer.Option(None, help="pseudonym key file (default OUT/pseudonym.key, created if absent)"),
    jobs: int = typer.Option(2, min=1, help="worker processes"),
) -> None:
    """Align every labelled series to AC-PC, cut CER/BG/COR slices, write the labelled manifest."""
    from .manifest.ingest import ingest as run_ingest

    start = time.perf_counter()
    try:
        result = run_ingest(export_dir, labels, out, levels, landmarks, key, jobs, show_progress=True)
    except SpectInputError as exc:
        _fail(exc)
    console.print(f"{result.volumes_used} volumes used, {result.series_skipped} series or files skipped, "
                  f"{result.slices} slices in {time.perf_counter() - start:.1f} s")
    console.print(f"manifest: {result.manifest}\nreport:   {result.report}\nQC pages: {out / 'qc'}")
    if result.series_skipped:
        console.print(f"[yellow]skipped items and their reasons are in {result.report}[/yellow]")
        raise typer.Exit(EXIT_SKIPPED)


@app.command()
def export(
    samples: Path = typer.Argument(..., exists=True, help="samples.npz (images, level, pattern, seed, config_hash)"),
    out: Path = typer.Option(..., help="folder for the Secondary Capture files"),
    study_description: str = typer.Option("SYNTHETIC 123I-IMP BRAIN PERFUSION (FastGAN)", help="Study Description"),
    pixel_spacing: float = typer.Option(4.42, help="pixel spacing in mm (the canonical grid's)"),
    dicomdir: bool = typer.Option(False, help="write a DICOM File-set with a DICOMDIR for media viewers"),
) -> None:
    """Write generated slices as Secondary Capture DICOM, one series per level and pattern, marked synthetic."""
    from .export import export_samples

    start = time.perf_counter()
    try:
        result = export_samples(samples, out, study_description, pixel_spacing, dicomdir, show_progress=True)
    except SpectInputError as exc:
        _fail(exc)
    seconds = time.perf_counter() - start
    console.print(f"{len(result.files)} files in {len(result.series)} series, {seconds:.1f} s; patient "
                  f"{result.patient_id}; {'DICOMDIR: ' + str(result.dicomdir) if result.dicomdir else 'folder: ' + str(out)}")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
