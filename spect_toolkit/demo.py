"""``spect demo``: from a hospital-style export to an evaluation report, every stage of the toolkit in one call.

Data set A (all three levels) and data set B (cortex only) are trained on the training split of the embedded
example cohort (or a freshly generated one), sampled as many slices per (level, pattern) as that split has,
exported as Secondary Capture DICOM with a DICOMDIR, optionally pushed to a PACS, and evaluated against the
real training slices, as the paper compared with its training images (a ten-patient holdout is too small to hold
every pattern; the memorisation audit and the utility test still use it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ArgumentError, SpectError, SpectInputError


def example_cohort() -> Path:
    """The embedded example export: ``example_data/cohort`` of the checkout, shipped in the wheel as the package
    ``spect_toolkit.example_data``."""
    from importlib import resources

    try:
        return Path(str(resources.files("spect_toolkit.example_data") / "cohort"))
    except ModuleNotFoundError:  # a checkout used without installing
        return Path(__file__).resolve().parent.parent / "example_data" / "cohort"


DATA_SETS = {"A": ("CER", "BG", "COR"), "B": ("COR",)}
SHARE_OF_TRAINING = {"A": 2 / 3, "B": 1 / 3}  # A has three times B's slices


class DemoStageError(SpectError):
    def __init__(self, stage: str, cause: Exception):
        super().__init__(f"demo stage '{stage}' failed: {cause}")
        self.stage, self.cause = stage, cause


@dataclass
class DemoResult:
    out: Path
    stage_seconds: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def run_demo(
    out: str | Path = "demo",
    minutes: float = 8.0,
    pacs: str | None = None,
    patients: int | None = None,
    seed: int = 0,
    say: Callable[[str], None] = print,
    show_progress: bool = True,
) -> DemoResult:
    """Run every stage; ``minutes`` is the training budget shared by data sets A and B; ``pacs`` is
    ``HOST:PORT[:AET]`` for a C-STORE push."""
    from .dicom import scan
    from .evaluate import evaluate
    from .export import export_samples
    from .export.push import push_cstore
    from .gan import generate, make_config, train
    from .manifest import load_manifest, select_split
    from .manifest.ingest import ingest
    from .phantom import make_cohort
    from .pseudonym import project_pseudonymizer

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = DemoResult(out)

    def stage(name: str, work: Callable[[], object]):
        say(f"[{len(result.stage_seconds) + 1}] {name}")
        start = time.perf_counter()
        try:
            value = work()
        except Exception as exc:  # a stage's failure is reported with the stage's name
            raise DemoStageError(name, exc) from exc
        result.stage_seconds[name] = time.perf_counter() - start
        return value

    if patients:
        cohort = stage(
            "phantom cohort", lambda: make_cohort(out / "cohort", patients, seed, jobs=2, show_progress=show_progress)
        )
        dicom, labels = cohort.dicom, cohort.labels
    else:
        cohort = example_cohort()
        dicom, labels = cohort / "DICOM", cohort / "labels.csv"
        if not dicom.exists():
            raise DemoStageError("example data", SpectInputError(dicom, "example export missing from this checkout"))
    # one pseudonym key for scan and ingest, kept with the demo's outputs (never inside the export)
    key = out / "pseudonym.key"
    index = stage("scan", lambda: scan(dicom, project_pseudonymizer(key, reading=dicom), show_progress=show_progress))
    index.to_csv(out / "index.csv", index=False)
    result.outputs["series index"] = out / "index.csv"
    ingested = stage(
        "ingest",
        lambda: ingest(dicom, labels, out / "ingest", key=key, jobs=2, show_progress=show_progress, overwrite=True),
    )
    result.outputs["manifest"] = ingested.manifest

    # As many slices per level and pattern as the real training split: the report compares with that split, and
    # a pattern whose patients are all held out is one the generators never saw.
    real_train = select_split(load_manifest(ingested.manifest), "train")
    samples = {}
    for name, levels in DATA_SETS.items():
        budget = minutes * SHARE_OF_TRAINING[name]
        config = make_config("paper", levels=levels, split="train", seed=seed, checkpoint_every=10)
        run = stage(
            f"train data set {name} ({budget:.1f} min)",
            lambda: train(
                ingested.manifest, out / f"run_{name}", config, time_budget_minutes=budget, show_progress=show_progress
            ),
        )
        result.notes.append(
            f"data set {name}: {run.epochs_done} epochs, {run.steps} steps in {run.seconds / 60:.1f} min"
        )
        result.outputs[f"run {name}"] = run.run_dir
        path = out / f"samples_{name}.npz"
        stage(f"generate {name}", lambda: generate(run.run_dir, like=real_train, seed=seed).save(path))
        samples[name] = path
        result.outputs[f"samples {name}"] = path

    for name, path in samples.items():
        exported = stage(
            f"export {name}", lambda: export_samples(path, out / f"dicom_{name}", dicomdir=True, overwrite=True)
        )
        result.outputs[f"DICOM {name}"] = exported.dicomdir
        if pacs:
            host, port, aet = _parse_pacs(pacs)
            report = stage(
                f"push {name}", lambda: push_cstore(exported.folder, host, port, aet, show_progress=show_progress)
            )
            report.write_csv(out / f"push_{name}.csv")
            result.notes.append(
                f"push {name}: {len(report.stored)} of {len(report.records)} stored at {report.destination}"
            )
            if not report.ok:
                raise DemoStageError(
                    f"push {name}",
                    RuntimeError(f"{len(report.failed)} files not stored; see {out / f'push_{name}.csv'}"),
                )
    evaluation = stage(
        "evaluate A and B",
        lambda: evaluate(ingested.manifest, samples, out / "report", split="train", show_progress=show_progress),
    )
    result.outputs["report"] = evaluation.report
    return result


def _parse_pacs(text: str) -> tuple[str, int, str]:
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[1].isdigit():
        raise ArgumentError(f"{text}: write the PACS as HOST:PORT or HOST:PORT:AET")
    return parts[0], int(parts[1]), parts[2] if len(parts) == 3 else "ORTHANC"
