"""spect: synthetic brain perfusion SPECT research, from a hospital DICOM export to a report.

Every command is a thin layer over one Python function of the toolkit, so a notebook can do the same.

Exit codes: 0 success; 1 the command failed (the message says why); 2 usage error; 3 the command finished but
skipped some input (each skipped item is listed in its report).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn, Optional

import typer
from rich.console import Console
from rich.table import Table
from typer.exceptions import TyperException

from .errors import ArgumentError, SpectError

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__, rich_markup_mode=None)
console = Console(stderr=True)
EXIT_FAILED, EXIT_USAGE, EXIT_SKIPPED = 1, 2, 3


def _fail(message: object, code: int = EXIT_FAILED) -> NoReturn:
    console.print(f"[red]error:[/red] {message}", soft_wrap=True)  # a path cut by the terminal would not paste
    raise typer.Exit(code)


_options = {"debug": False, "verbose": False}


def _version(value: bool) -> None:
    if value:
        from . import __version__

        typer.echo(f"spect-toolkit {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    context: typer.Context,
    debug: bool = typer.Option(False, "--debug", help="show the full traceback of an unexpected error"),
    verbose: bool = typer.Option(False, "--verbose", help="let TensorFlow and Keras print their own log lines"),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="print the version"),
) -> None:
    _options["debug"], _options["verbose"] = debug, verbose
    if not verbose:
        _quiet_frameworks(context.invoked_subcommand in TENSORFLOW_COMMANDS)


# Commands that run on TensorFlow; train and generate choose their backend first (see _gan).
TENSORFLOW_COMMANDS = {"evaluate", "select-epoch", "demo"}


def _quiet_frameworks(uses_tensorflow: bool) -> None:
    """TensorFlow's start-up chatter (CUDA probing, CPU features, oneDNN) and retracing notes are noise to a user;
    errors still show. Its C++ start-up lines are written before any log setting applies, so a command that uses
    TensorFlow imports it here with the process's standard error pointed at /dev/null."""
    import logging

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    if uses_tensorflow:
        _import_tensorflow_quietly()


def _import_tensorflow_quietly() -> None:
    if "tensorflow" not in sys.modules and importlib.util.find_spec("tensorflow"):
        with _stderr_silenced():
            import tensorflow  # noqa: F401


def _gan(backend: str | None):
    """The GAN package on the chosen Keras backend; TensorFlow's start-up lines silenced unless --verbose."""
    from .backend import use_backend

    use_backend(backend)
    if not _options["verbose"]:  # Keras imports TensorFlow where it is installed (to seed it), on either backend
        _import_tensorflow_quietly()
    from . import gan

    return gan


BACKEND_HELP = "tensorflow (the default, faster on a CPU) or jax (GPUs); default: KERAS_BACKEND, else tensorflow"


@contextlib.contextmanager
def _stderr_silenced():
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # not a real stream (a test runner's): nothing to silence
        yield
        return
    sys.stderr.flush()
    saved, devnull = os.dup(fd), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    try:
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


def command(name: str | None = None) -> Callable[[Callable], Callable]:
    """``@app.command`` whose errors become the documented exit codes: a usage error (:class:`ArgumentError`)
    exits 2, any other toolkit error 1, each with its one-line message instead of a traceback."""

    def register(func: Callable) -> Callable:
        @functools.wraps(func)
        def run(*args, **kwargs):
            try:
                return func(*args, **kwargs)
            except (typer.Exit, typer.Abort, TyperException):  # typer's own exits and usage errors
                raise
            except ArgumentError as exc:
                _fail(exc, EXIT_USAGE)
            except SpectError as exc:
                _fail(exc)
            except Exception as exc:  # noqa: BLE001 - a bug or an unforeseen input: one line, the traceback on --debug
                if _options["debug"]:
                    raise
                _fail(f"unexpected {type(exc).__name__}: {exc} (run `spect --debug ...` for the traceback)")

        return app.command(name)(run)

    return register


@command()
def phantom(
    out_dir: Path = typer.Argument(..., help="folder to write the synthetic export into"),
    patients: int = typer.Option(
        20, "--patients", "-n", min=1, help="patients (each gives a rest and a stress volume)"
    ),
    seed: int = typer.Option(0, help="random seed; the same seed gives the same cohort"),
    mix: str = typer.Option(
        "paper", help="pattern mix: 'paper' (Table 1) or e.g. 'normal=0.5,unilateral=0.3,bilateral=0.2'"
    ),
    layout: str = typer.Option("multiframe", help="multiframe | negative-spacing | top-level | per-slice | mixed"),
    scale: str = typer.Option("rescale", help="rescale | rwvm | mixed: where the CBF scale is written"),
    counts: float = typer.Option(6e6, help="detected counts per volume; fewer counts, more noise"),
    transfer_syntax: str = typer.Option(
        "explicit",
        help="explicit | implicit | deflated (about 2.5 times smaller) | rle | jpeg-lossless | jpeg-ls | jpeg-ls-near "
        "| jpeg2000",
    ),
    jobs: int = typer.Option(2, min=1, help="worker processes"),
) -> None:
    """Write a synthetic 123I-IMP QSPECT/DTARG hospital export with labels.csv and ground_truth.csv."""
    from .phantom import make_cohort, parse_mix

    start = time.perf_counter()
    paths = make_cohort(
        out_dir,
        patients,
        seed,
        parse_mix(mix),
        layout,
        scale,
        counts,
        transfer_syntax=transfer_syntax,
        jobs=jobs,
        show_progress=True,
    )
    seconds = time.perf_counter() - start
    console.print(f"{patients} patients ({2 * patients} volumes) in {seconds:.1f} s")
    console.print(f"DICOM export: {paths.dicom}\nlabels:       {paths.labels}\nground truth: {paths.ground_truth}")


KEY_HELP = (
    "pseudonym key file of the project (created if absent); "
    "default: $SPECT_TOOLKIT_KEY, else ~/.config/spect-toolkit/pseudonym.key"
)


@command()
def scan(
    export_dir: Path = typer.Argument(..., exists=True, help="folder (any layout) or file to index"),
    out: Optional[Path] = typer.Option(None, help="write the index to this .csv or .parquet file"),
    key: Optional[Path] = typer.Option(None, help=KEY_HELP),
) -> None:
    """Index every file of an export by series; exit code 3 if a file or series that could be a volume is unusable."""
    from .dicom import scan as scan_export
    from .dicom.scan import IGNORED, OK, SKIPPED
    from .pseudonym import project_pseudonymizer

    index = scan_export(export_dir, project_pseudonymizer(key, reading=export_dir), show_progress=True)
    table = Table(title=f"{export_dir}: {len(index)} series / files")
    columns = ("path", "condition", "slices", "layout", "scale_source", "unit", "status")
    for column in columns:
        table.add_column(column, overflow="fold")
    for _, row in index.iterrows():
        style = {OK: None, IGNORED: "dim"}.get(row.outcome, "red")
        table.add_row(*[str(row[c]) for c in columns], style=style)
    Console().print(table)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        index.to_parquet(out, index=False) if out.suffix == ".parquet" else index.to_csv(out, index=False)
        console.print(f"index written to {out}")
    counts = {outcome: index[index.outcome == outcome] for outcome in (OK, SKIPPED, IGNORED)}
    console.print(
        f"{len(counts[OK])} usable series; {len(counts[SKIPPED])} skipped "
        f"({int(counts[SKIPPED].n_files.sum())} files); {int(counts[IGNORED].n_files.sum())} files ignored "
        "(no image input)"
    )
    if len(counts[OK]) == 0:
        _fail(f"{export_dir}: no usable SPECT series found")
    if len(counts[SKIPPED]):
        raise typer.Exit(EXIT_SKIPPED)


@command()
def ingest(
    export_dir: Path = typer.Argument(..., exists=True, help="hospital export (folder tree of DICOM)"),
    labels: Path = typer.Option(
        ..., exists=True, help="labels CSV: patient_id, accession_number, condition, pattern, side"
    ),
    out: Path = typer.Option(..., help="work folder for the manifest, slice store, volumes, report and QC pages"),
    levels: str = typer.Option("CER,BG,COR", help="levels to keep: CER,BG,COR (data set A) or COR (data set B)"),
    landmarks: Optional[Path] = typer.Option(
        None, exists=True, help="landmark CSV (AC, PC, MID per series) for landmark alignment"
    ),
    key: Optional[Path] = typer.Option(None, help=KEY_HELP),
    jobs: int = typer.Option(2, min=1, help="worker processes"),
    overwrite: bool = typer.Option(False, help="replace an ingest already in --out"),
) -> None:
    """Align every labelled series to AC-PC, cut CER/BG/COR slices, write the labelled manifest."""
    from .manifest.ingest import ingest as run_ingest

    start = time.perf_counter()
    result = run_ingest(export_dir, labels, out, levels, landmarks, key, jobs, show_progress=True, overwrite=overwrite)
    console.print(
        f"{result.volumes_used} volumes used, {result.series_skipped} series or files skipped, "
        f"{result.files_ignored} files ignored (no image input), {result.slices} slices in "
        f"{time.perf_counter() - start:.1f} s"
    )
    console.print(f"manifest: {result.manifest}\nreport:   {result.report}\nQC pages: {out / 'qc'}")
    if result.series_skipped:
        console.print(f"[yellow]skipped items and their reasons are in {result.report}[/yellow]")
        raise typer.Exit(EXIT_SKIPPED)


@command()
def export(
    samples: Path = typer.Argument(..., exists=True, help="samples.npz (images, level, pattern, seed, config_hash)"),
    out: Path = typer.Option(..., help="folder for the Secondary Capture files"),
    study_description: str = typer.Option("SYNTHETIC 123I-IMP BRAIN PERFUSION (FastGAN)", help="Study Description"),
    pixel_spacing: float = typer.Option(4.42, help="pixel spacing in mm (the canonical grid's)"),
    dicomdir: bool = typer.Option(False, help="write a DICOM File-set with a DICOMDIR for media viewers"),
    overwrite: bool = typer.Option(False, help="replace an earlier export in --out completely"),
) -> None:
    """Write generated slices as Secondary Capture DICOM, one series per level and pattern, marked synthetic."""
    from .export import export_samples

    start = time.perf_counter()
    result = export_samples(
        samples, out, study_description, pixel_spacing, dicomdir, show_progress=True, overwrite=overwrite
    )
    seconds = time.perf_counter() - start
    console.print(
        f"{len(result.files)} files in {len(result.series)} series, {seconds:.1f} s; patient "
        f"{result.patient_id}; {'DICOMDIR: ' + str(result.dicomdir) if result.dicomdir else 'folder: ' + str(out)}"
    )


@command()
def train(
    manifest: Path = typer.Argument(..., exists=True, help="manifest.parquet (or .csv) written by spect ingest"),
    out: Path = typer.Option(..., help="run folder: configuration, checkpoints, losses.csv, tensorboard/, samples/"),
    levels: Optional[str] = typer.Option(None, help="levels to train on, e.g. CER,BG,COR (data set A) or COR (B)"),
    preset: str = typer.Option("paper", help="paper (what the paper states) or improved (FastGAN's additions)"),
    split: Optional[str] = typer.Option(
        None, help="all (every patient, as the paper) or train (leave the evaluation holdout out); default: all"
    ),
    epochs: Optional[int] = typer.Option(None, min=1, help="epochs; default: the preset's (paper: 1000)"),
    batch_size: Optional[int] = typer.Option(None, min=1, help="batch size (paper: 4)"),
    seed: Optional[int] = typer.Option(None, help="random seed (weights, batches, augmentation)"),
    resume: bool = typer.Option(False, help="continue the run in --out from its last checkpoint"),
    checkpoint_every: Optional[int] = typer.Option(None, min=1, help="epochs between kept checkpoints and grids"),
    time_budget: Optional[float] = typer.Option(None, min=0.1, help="stop (with a checkpoint) after this many minutes"),
    learning_rate: Optional[float] = typer.Option(None, help="Adam learning rate (paper: 2e-4)"),
    discriminator_learning_rate: Optional[float] = typer.Option(
        None, help="the discriminator's Adam learning rate (default: --learning-rate, as the paper)"
    ),
    learning_rate_decay_from: Optional[float] = typer.Option(
        None,
        min=0.0,
        max=1.0,
        help="both learning rates fall linearly towards zero after this fraction of --epochs (default 1: constant)",
    ),
    beta1: Optional[float] = typer.Option(None, help="Adam beta 1 (paper: 0.9)"),
    beta2: Optional[float] = typer.Option(None, help="Adam beta 2 (paper: 0.999)"),
    width: Optional[int] = typer.Option(None, min=1, help="channel width of both networks (default 32)"),
    spectral_norm: Optional[bool] = typer.Option(
        None, "--spectral-norm/--no-spectral-norm", help="spectral normalisation of every conv (default: the preset's)"
    ),
    noise_injection: Optional[bool] = typer.Option(
        None, "--noise-injection/--no-noise-injection", help="FastGAN's noise injection in G (default: the preset's)"
    ),
    random_margin: Optional[bool] = typer.Option(
        None, "--random-margin/--no-random-margin", help="hinge margin ~ U(0.8, 1)"
    ),
    ema_decay: Optional[float] = typer.Option(None, help="generator weight EMA decay; 0 turns it off"),
    diff_augment: Optional[bool] = typer.Option(
        None, "--diff-augment/--no-diff-augment", help="DiffAugment (brightness, contrast, translation) before D"
    ),
    diff_augment_colour: Optional[bool] = typer.Option(
        None,
        "--diff-augment-colour/--no-diff-augment-colour",
        help="DiffAugment's brightness and contrast (default on with --diff-augment; off: translation alone)",
    ),
    diff_augment_cutout: Optional[bool] = typer.Option(
        None,
        "--diff-augment-cutout/--no-diff-augment-cutout",
        help="DiffAugment's cutout too: a square of half the slice blanked before D (default off)",
    ),
    diff_augment_translation: Optional[int] = typer.Option(
        None,
        min=0,
        help="DiffAugment's largest translation, pixels each way (default 8, an eighth of the slice; 0: none)",
    ),
    diff_augment_translation_probability: Optional[float] = typer.Option(
        None,
        min=0.0,
        max=1.0,
        help="share of slices DiffAugment translates (default 1: every slice; the rest D sees as they are)",
    ),
    diff_augment_translation_fill: Optional[str] = typer.Option(
        None,
        help="what DiffAugment's translation moves into the border: zeros (default, FastGAN) or reflect (the "
        "slice's own border mirrored, ADA's padding)",
    ),
    discriminator_mirror_channel: Optional[bool] = typer.Option(
        None,
        "--discriminator-mirror-channel/--no-discriminator-mirror-channel",
        help="D also sees each slice's difference from its left-right mirror, a second channel (default off)",
    ),
    discriminator_mirror_smoothing: Optional[int] = typer.Option(
        None, min=0, help="that difference averaged over a K x K window, K odd (default 0: none)"
    ),
    discriminator_coordinates: Optional[bool] = typer.Option(
        None,
        "--discriminator-coordinates/--no-discriminator-coordinates",
        help="D also sees each pixel's row and column on the grid, moved with the slice by DiffAugment (default off)",
    ),
    minibatch_std: Optional[bool] = typer.Option(
        None, "--minibatch-std/--no-minibatch-std", help="a minibatch standard deviation feature in D (default off)"
    ),
    balanced_patterns: Optional[bool] = typer.Option(
        None, "--balanced-patterns/--no-balanced-patterns", help="draw normal, unilateral, bilateral equally often"
    ),
    mirror_generated: Optional[bool] = typer.Option(
        None,
        "--mirror-generated/--no-mirror-generated",
        help="mirror generated normal and bilateral slices at random, as the real ones are (default off)",
    ),
    side_condition: Optional[bool] = typer.Option(
        None,
        "--side-condition/--no-side-condition",
        help="the defect's side (the manifest's side column) in the condition: every real slice mirrored at random "
        "with its side, and generated defects on the sides the counts ask for (default off, as the paper)",
    ),
    flip_real_slices: Optional[bool] = typer.Option(
        None,
        "--flip-real-slices/--no-flip-real-slices",
        help="the paper's flip of real normal and bilateral slices at random (default on; off: they keep their lean)",
    ),
    flip_flag: Optional[bool] = typer.Option(
        None,
        "--flip-flag/--no-flip-flag",
        help="the discriminator told which slices the paper's flip mirrored, the generated ones mirrored with the "
        "real ones, so that the generator draws slices as they lie, with their lean (default off; not with "
        "--mirror-generated)",
    ),
    projection_discriminator: Optional[bool] = typer.Option(
        None,
        "--projection-discriminator/--no-projection-discriminator",
        help="the condition also projected onto D's last features, a projection discriminator (default off: the "
        "condition as input channels alone, as the paper)",
    ),
    lean_weight: Optional[float] = typer.Option(
        None,
        min=0.0,
        help="weight of a loss on the batch's mean and root-mean-square log left/right ratio per pattern, against "
        "the real batch's (default 0: off)",
    ),
    floored_output: Optional[bool] = typer.Option(
        None,
        "--floored-output/--no-floored-output",
        help="G's output linear above zero counts instead of tanh: exact zero background (default off)",
    ),
    clipped_tanh_output: Optional[bool] = typer.Option(
        None,
        "--clipped-tanh-output/--no-clipped-tanh-output",
        help="G's output 1.2 tanh clipped to [zero counts, peak], the gradient kept past the clip (default off)",
    ),
    spectrum_weight: Optional[float] = typer.Option(
        None, min=0.0, help="weight of a loss on G's batch power spectrum against the real batch's (default 0: off)"
    ),
    edge_profile_weight: Optional[float] = typer.Option(
        None,
        min=0.0,
        help="a learned gain on G's outermost 4 rings of pixels, fitted by a loss of this weight on the batch's mean "
        "counts there against the real batch's (default 0: off)",
    ),
    ap_shift: Optional[int] = typer.Option(
        None,
        help="largest anterior-posterior shift of a real slice in pixels (paper: 2; 0: none, the slices stay on the "
        "AC-PC grid)",
    ),
    full_resolution_convs: Optional[int] = typer.Option(
        None,
        min=1,
        max=2,
        help="3x3 convolutions in G's 64-pixel block (default 1; 2: FastGAN's UpBlockComp, texture finer than the "
        "32-pixel maps)",
    ),
    generator_padding: Optional[str] = typer.Option(
        None, help="how G's 3x3 convolutions pad the border: zeros (default) or reflect (the border mirrored)"
    ),
    reconstruction_counts: Optional[float] = typer.Option(
        None,
        min=0.0,
        help="count noise through a filtered back-projection on G's slice, clipped and max-normalised as a real "
        "slice was, starting from this count level and learned (default 0: off; the phantom's is about 13, "
        "docs/scripts/count_level.py)",
    ),
    reconstruction_resampled: Optional[bool] = typer.Option(
        None,
        "--reconstruction-resampled/--no-reconstruction-resampled",
        help="with --reconstruction-counts: the clipped slice then resampled at a random sub-pixel offset, as the "
        "reorientation onto the AC-PC grid resamples a real one (default off)",
    ),
    reconstruction_field_of_view: Optional[bool] = typer.Option(
        None,
        "--reconstruction-field-of-view/--no-reconstruction-field-of-view",
        help="with --reconstruction-counts: G's activity no less than zero counts, and the exact zeros where the "
        "reoriented volume did not reach drawn from real slices of the same level (default off)",
    ),
    reconstruction_of_activity: Optional[bool] = typer.Option(
        None,
        "--reconstruction-of-activity/--no-reconstruction-of-activity",
        help="with --reconstruction-counts: G's slice taken as the activity and reconstructed (projected and "
        "filtered back-projected) as its noise is, so that its finest band is the scanner's noise alone (default off)",
    ),
    reconstruction_acquisition_grid: Optional[bool] = typer.Option(
        None,
        "--reconstruction-acquisition-grid/--no-reconstruction-acquisition-grid",
        help="with --reconstruction-field-of-view: G's slice reconstructed on the scanner's grid, placed a few "
        "pixels off the slice where the drawn field of view says it lay, so that the reconstruction's bright edge "
        "is not on the slice's border (default off)",
    ),
    reconstruction_grid_pose: Optional[bool] = typer.Option(
        None,
        "--reconstruction-grid-pose/--no-reconstruction-grid-pose",
        help="with --reconstruction-acquisition-grid: the scanner's grid placed by a pose fitted to the drawn field "
        "of view (turned, sub-pixel offsets), then resampled back onto the slice "
        "as the reorientation did, instead of by whole rows and columns outside (default off)",
    ),
    reconstruction_offset_grid: Optional[bool] = typer.Option(
        None,
        "--reconstruction-offset-grid/--no-reconstruction-offset-grid",
        help="with --reconstruction-resampled: G's slice first taken onto a scanner's grid offset by the "
        "resampling's sub-pixel shift, so that the resampling back leaves the head where G drew it instead of "
        "moving it by up to a pixel (default off)",
    ),
    steps_per_call: Optional[int] = typer.Option(None, min=1, help="training steps per compiled call"),
    precision: Optional[str] = typer.Option(
        None,
        help="float32 (default), bfloat16 (mixed; CPUs with AVX512-BF16/AMX and recent GPUs) or float16 (mixed, "
        "loss-scaled; GPUs)",
    ),
    distribute: bool = typer.Option(False, help="tf.distribute.MirroredStrategy over all visible GPUs"),
    backend: Optional[str] = typer.Option(None, help=BACKEND_HELP),
    step_mode: str = typer.Option(
        "auto",
        help="auto; TensorFlow: xla (each step compiled by XLA; auto on a GPU), function (plain graph; auto on a "
        "CPU) or eager; JAX: xla (one compiled step per call; auto on a CPU) or xla-loop (--steps-per-call steps "
        "compiled into one call; auto on a GPU)",
    ),
) -> None:
    """Train the conditional FastGAN on a manifest's slices; --resume continues a stopped run."""
    from .levels import parse_levels

    gan = _gan(backend)
    make_config, train_run = gan.make_config, gan.train

    config = (
        None
        if resume and epochs is None
        else make_config(
            preset,
            levels=parse_levels(levels) if levels else None,
            split=split,
            epochs=epochs,
            batch_size=batch_size,
            seed=seed,
            checkpoint_every=checkpoint_every,
            learning_rate=learning_rate,
            learning_rate_decay_from=learning_rate_decay_from,
            discriminator_learning_rate=discriminator_learning_rate,
            beta_1=beta1,
            beta_2=beta2,
            width=width,
            spectral_norm=spectral_norm,
            noise_injection=noise_injection,
            random_margin=random_margin,
            ema_decay=ema_decay,
            diff_augment=diff_augment,
            diff_augment_colour=diff_augment_colour,
            diff_augment_cutout=diff_augment_cutout,
            diff_augment_translation=diff_augment_translation,
            diff_augment_translation_probability=diff_augment_translation_probability,
            diff_augment_translation_fill=diff_augment_translation_fill,
            discriminator_mirror_channel=discriminator_mirror_channel,
            discriminator_mirror_smoothing=discriminator_mirror_smoothing,
            discriminator_coordinates=discriminator_coordinates,
            minibatch_std=minibatch_std,
            balanced_patterns=balanced_patterns,
            mirror_generated=mirror_generated,
            side_condition=side_condition,
            projection_discriminator=projection_discriminator,
            flip_real_slices=flip_real_slices,
            flip_flag=flip_flag,
            lean_weight=lean_weight,
            floored_output=floored_output,
            clipped_tanh_output=clipped_tanh_output,
            spectrum_weight=spectrum_weight,
            edge_profile_weight=edge_profile_weight,
            ap_shift=ap_shift,
            full_resolution_convs=full_resolution_convs,
            generator_padding=generator_padding,
            reconstruction_counts=reconstruction_counts,
            reconstruction_resampled=reconstruction_resampled,
            reconstruction_field_of_view=reconstruction_field_of_view,
            reconstruction_of_activity=reconstruction_of_activity,
            reconstruction_acquisition_grid=reconstruction_acquisition_grid,
            reconstruction_grid_pose=reconstruction_grid_pose,
            reconstruction_offset_grid=reconstruction_offset_grid,
            steps_per_call=steps_per_call,
            precision=precision,
            distribute=distribute or None,
        )
    )
    result = train_run(
        manifest, out, config, resume=resume, time_budget_minutes=time_budget, show_progress=True, mode=step_mode
    )
    if result.note:
        console.print(f"[yellow]{result.note}[/yellow]")
    note = " (stopped by the time budget)" if result.stopped_by_budget else ""
    console.print(
        f"{result.epochs_done} epochs, {result.steps} steps in {result.seconds / 60:.1f} min{note}; "
        f"configuration hash {result.config.hash}; run folder {result.run_dir}"
    )


@command()
def generate(
    run_dir: Path = typer.Argument(..., exists=True, file_okay=False, help="run folder written by spect train"),
    out: Path = typer.Option(..., help="samples .npz to write"),
    epoch: Optional[str] = typer.Option(
        None, help="checkpoint epoch, or 'best' (chosen by spect select-epoch); default: the latest"
    ),
    average_from: Optional[int] = typer.Option(
        None,
        min=0,
        help="average the generator's weights over the checkpoints saved from this epoch to --epoch",
    ),
    per_condition: Optional[int] = typer.Option(None, min=1, help="slices per (level, pattern)"),
    like: Optional[Path] = typer.Option(
        None,
        exists=True,
        help="make as many per (level, pattern) as this manifest has "
        "(per pattern, at the run's levels, for levels the run lacks)",
    ),
    seed: int = typer.Option(0, help="latent seed"),
    backend: Optional[str] = typer.Option(None, help=BACKEND_HELP),
) -> None:
    """Generate slices for every (level, pattern) of a run into samples.npz."""
    generate_samples = _gan(backend).generate

    if (per_condition is None) == (like is None):
        raise ArgumentError("give exactly one of --per-condition N and --like MANIFEST")
    samples = generate_samples(
        run_dir, per_condition=per_condition, like=like, seed=seed, epoch=epoch, average_from=average_from
    )
    samples.save(out)
    source = f"epoch {samples.epoch}" if average_from is None else f"epochs {average_from}-{samples.epoch} averaged"
    console.print(f"{len(samples.images)} slices from {source} (configuration {samples.config_hash}) written to {out}")


@command()
def push(
    dicom_dir: Path = typer.Argument(..., exists=True, help="folder (or file) of DICOM to send, e.g. an export"),
    host: Optional[str] = typer.Option(None, help="DICOM node host (C-STORE)"),
    port: Optional[int] = typer.Option(None, help="DICOM node port (C-STORE)"),
    called_aet: Optional[str] = typer.Option(None, help="the node's AE title (C-STORE)"),
    calling_aet: str = typer.Option("SPECT_TOOLKIT", help="our AE title (C-STORE)"),
    stow: Optional[str] = typer.Option(None, help="DICOMweb STOW-RS URL, e.g. http://pacs:8042/dicom-web/studies"),
    retries: int = typer.Option(3, min=0, help="retries on association or connection failure"),
    report: Optional[Path] = typer.Option(
        None, help="per-file status CSV (default: FOLDER.push_report.csv next to the pushed folder, never inside it)"
    ),
    only_failed: Optional[Path] = typer.Option(
        None, exists=True, help="a previous push report: send again only the files it did not confirm"
    ),
    tls: bool = typer.Option(False, help="C-STORE over DICOM TLS, verified against the system's CAs or --tls-ca"),
    tls_ca: Optional[Path] = typer.Option(None, exists=True, help="the site's CA certificate(s), PEM; implies --tls"),
    tls_cert: Optional[Path] = typer.Option(None, exists=True, help="our client certificate, PEM (mutual TLS)"),
    tls_key: Optional[Path] = typer.Option(None, exists=True, help="our client certificate's private key, PEM"),
    insecure: bool = typer.Option(False, help="HTTPS without verifying the server's certificate (warns; for tests)"),
    credentials: Optional[Path] = typer.Option(
        None,
        help="file with user=/password= or token= lines, readable by its owner alone (default: the "
        "SPECT_PACS_USER/SPECT_PACS_PASSWORD or SPECT_PACS_TOKEN environment variables)",
    ),
) -> None:
    """Send DICOM files to a PACS by C-STORE or STOW-RS; exits 1 unless the peer confirmed every file."""
    from .export.push import default_report_path, dicom_files, files_to_resend, push_cstore, push_stow
    from .export.secure import load_credentials, tls_context

    if (stow is None) == (host is None):
        raise ArgumentError("give either --stow URL or --host/--port/--called-aet")
    if stow is None and (port is None or called_aet is None):
        raise ArgumentError("C-STORE needs --host, --port and --called-aet")
    files = dicom_files(dicom_dir)
    if only_failed:
        wanted = {p.resolve() for p in files_to_resend(only_failed)}
        files = [f for f in files if f.resolve() in wanted]
        console.print(f"{len(files)} file(s) not confirmed in {only_failed} to send again")
        if not files:
            return
    secure = tls or tls_ca or tls_cert or insecure or (stow or "").startswith("https:")
    context = tls_context(tls_ca, tls_cert, tls_key, insecure) if secure else None
    if stow:
        result = push_stow(
            files, stow, retries=retries, show_progress=True, tls=context, credentials=load_credentials(credentials)
        )
    else:
        if insecure:
            raise ArgumentError("--insecure is for HTTPS (STOW-RS); DICOM TLS always verifies the node")
        result = push_cstore(
            files, host, port, called_aet, calling_aet, retries=retries, show_progress=True, tls=context
        )
    report = report or default_report_path(dicom_dir)
    result.write_csv(report)
    ignored = f"; {len(result.ignored)} not DICOM, ignored" if result.ignored else ""
    console.print(
        f"{len(result.stored)} of {len(result.records) - len(result.ignored)} files stored at "
        f"{result.destination}{ignored}; report: {report}"
    )
    by_reason: dict[str, list] = {}
    for record in result.failed:
        by_reason.setdefault(record.detail, []).append(record)
    for detail, records in by_reason.items():  # one line per distinct reason, not one per file
        where = str(records[0].path) + (f" and {len(records) - 1} more" if len(records) > 1 else "")
        console.print(f"[red]not stored:[/red] {where}: {detail}", soft_wrap=True)
    if not result.ok:
        raise typer.Exit(EXIT_FAILED)


def _synthetic_sets(items: list[str]) -> dict[str, Path]:
    sets = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ArgumentError(f"{item}: write each synthetic set as NAME=samples.npz, e.g. A=samples_a.npz")
        sets[name] = Path(path)
    return sets


@command()
def evaluate(
    real: Path = typer.Option(..., exists=True, help="manifest of the real slices"),
    synthetic: list[str] = typer.Option(..., help="NAME=samples.npz; repeat for several sets (A=..., B=...)"),
    out: Path = typer.Option(..., help="report folder: report.html, metrics.json, slices.csv"),
    split: str = typer.Option("holdout", help="real slices to compare with: holdout or train (split by patient)"),
    seed: int = typer.Option(0, help="seed of the evaluation networks and resampling"),
    c2st_repeats: int = typer.Option(
        1, min=1, help="two-sample AUC as the mean of N classifiers (one classifier's AUC swings with its seed)"
    ),
) -> None:
    """Compare synthetic slices with real ones: the paper's statistics and figures, and measures beyond them."""
    from .evaluate import evaluate as run_evaluation

    start = time.perf_counter()
    sets = _synthetic_sets(synthetic)
    result = run_evaluation(real, sets, out, split=split, seed=seed, show_progress=True, c2st_repeats=c2st_repeats)
    console.print(f"evaluated in {time.perf_counter() - start:.0f} s; report: {result.report}")
    for g in result.groups.values():
        console.print(
            f"{g.name}: two-sample AUC {g.two_sample_auc:.2f}, Frechet distance {g.frechet_distance:.2f}, "
            f"conditional accuracy {g.conditional_accuracy:.2f}, memorised share {g.memorised_share:.3f}"
        )
    null = result.metrics.get("memorisation_null")
    if null:
        console.print(f"memorised share of new real patients (held-out halves): up to {null['high']:.3f}")


@command("select-epoch")
def select_epoch_command(
    run_dir: Path = typer.Argument(..., exists=True, file_okay=False, help="run folder written by spect train"),
    manifest: Path = typer.Option(..., exists=True, help="the manifest the run was trained on"),
    seed: int = typer.Option(0, help="seed of the feature network and of the generated slices"),
) -> None:
    """Score every checkpoint against held-out real slices and record the best (spect generate --epoch best)."""
    from .evaluate.selection import select_epoch

    result = select_epoch(run_dir, manifest, seed=seed, show_progress=True)
    console.print(f"best epoch {result.epoch} ({result.criterion}: {result.scores[result.epoch]})")


@command()
def demo(
    out: Path = typer.Option(Path("demo"), help="folder for every output of the demo"),
    minutes: float = typer.Option(8.0, min=0.2, help="training budget in minutes, shared by data sets A and B"),
    pacs: Optional[str] = typer.Option(None, help="HOST:PORT[:AET] to push the export to by C-STORE"),
    patients: Optional[int] = typer.Option(
        None, min=2, help="use a fresh phantom cohort of N patients instead of the embedded example data"
    ),
    seed: int = typer.Option(0, help="seed of every random choice"),
) -> None:
    """The whole toolkit in one command: scan, ingest, train A and B, generate, export, (push), evaluate."""
    from .demo import run_demo

    start = time.perf_counter()
    result = run_demo(out, minutes, pacs, patients, seed, say=lambda text: console.print(f"[bold]{text}"))
    table = Table(title=f"spect demo: {time.perf_counter() - start:.0f} s in all")
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    for name, seconds in result.stage_seconds.items():
        table.add_row(name, f"{seconds:.1f}")
    console.print(table)
    for note in result.notes:
        console.print(note)
    for name, path in result.outputs.items():
        console.print(f"{name:>15}: {path}")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
