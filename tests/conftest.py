from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spect_toolkit.phantom import make_cohort
from spect_toolkit.phantom.hospital import FakePatient, write_nm_volume
from spect_toolkit.template import Grid


def needs_tool(program: str, install: str):
    """Skip where ``program`` is missing, saying how to install it; where ``SPECT_TOOLKIT_REQUIRE_TOOLS=1`` (as in
    .ci/run) a missing program fails the test instead, so CI never passes by skipping."""
    import os
    import shutil

    missing = shutil.which(program) is None and os.environ.get("SPECT_TOOLKIT_REQUIRE_TOOLS") != "1"
    return pytest.mark.skipif(missing, reason=f"{program} is not installed here ({install})")


MARKER_GRID = Grid(shape=(20, 64, 64), spacing=(4.42, 4.42, 4.42), origin=(-139.23, -139.23, -41.9))


def marker_volume() -> np.ndarray:
    """A smooth ramp with one bright block in the patient's left-anterior-superior corner.

    The grid has identity direction in LPS: high column index = patient left, low row index = anterior,
    high slice index = superior. A flipped axis moves the block to another corner.
    """
    nz, ny, nx = MARKER_GRID.shape
    z, y, x = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    volume = (10.0 + 0.3 * x + 0.2 * y + 0.5 * z).astype(np.float32)
    volume[nz - 5 : nz - 2, 4:9, nx - 9 : nx - 4] = 200.0
    return volume


def write_marker(folder: Path, layout: str, scale: str = "rescale", seed: int = 0) -> tuple[np.ndarray, Path]:
    rng = np.random.default_rng(seed)
    patient = FakePatient.draw(rng, seed, 0)
    volume = marker_volume()
    write_nm_volume(folder, volume, MARKER_GRID, patient, "rest", 1, layout, scale, rng)
    return volume, folder


@pytest.fixture(scope="session", autouse=True)
def project_key(tmp_path_factory) -> Path:
    """The tests' pseudonym key: never the user's own (``SPECT_TOOLKIT_KEY`` points into the test's folder)."""
    import os

    path = tmp_path_factory.mktemp("key") / "pseudonym.key"
    previous = os.environ.get("SPECT_TOOLKIT_KEY")
    os.environ["SPECT_TOOLKIT_KEY"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("SPECT_TOOLKIT_KEY", None)
    else:
        os.environ["SPECT_TOOLKIT_KEY"] = previous


@pytest.fixture(scope="session")
def small_cohort(tmp_path_factory) -> object:
    """Six patients in every layout and both scale encodings; seed 14 gives every pattern and both sides."""
    out = tmp_path_factory.mktemp("cohort")
    return make_cohort(
        out,
        patients=6,
        seed=14,
        layout="mixed",
        scale="mixed",
        mix={"normal": 1, "unilateral": 1, "bilateral": 1},
        jobs=1,
    )


@pytest.fixture(scope="session")
def ingested(small_cohort, tmp_path_factory):
    """The small cohort ingested at all three levels: (cohort paths, output folder, IngestResult)."""
    from spect_toolkit.manifest.ingest import ingest

    out = tmp_path_factory.mktemp("work")
    result = ingest(small_cohort.dicom, small_cohort.labels, out, jobs=2)
    return small_cohort, out, result


@pytest.fixture(scope="session")
def tiny_run(ingested, tmp_path_factory):
    """A GAN run of two epochs with tiny networks on the ingested phantom slices: for plumbing, not quality."""
    from spect_toolkit.gan import make_config, train

    _, work, _ = ingested
    run_dir = tmp_path_factory.mktemp("run")
    config = make_config("paper", epochs=2, width=4, batch_size=16, checkpoint_every=1, steps_per_call=4)
    return train(work / "manifest.parquet", run_dir, config, mode="function")


def real_batch(gan, seed):
    """A TensorFlow FastGAN's real training batch, (images, conditions), as its step draws it from ``seed``."""
    import tensorflow as tf

    from spect_toolkit.gan.step import real_batch as draw
    from spect_toolkit.gan.tensorflow_step import TensorFlowDraws

    return draw(gan.train_steps.data, gan.config, TensorFlowDraws(tf.constant(seed, tf.int64)))[:2]
