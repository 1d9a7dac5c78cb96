"""Which Keras backend runs the GAN: TensorFlow (the default, and the faster on a CPU) or JAX (for GPUs; the
same networks, losses and checkpoints). Keras reads its backend once, when it is first imported, so the choice
is made before that: ``--backend`` on the command line, :func:`use_backend` in a notebook's first cell, or the
``KERAS_BACKEND`` environment variable."""

from __future__ import annotations

import importlib.util
import os
import sys

from .errors import ArgumentError

BACKENDS = ("tensorflow", "jax")
DEFAULT = "tensorflow"


def current() -> str:
    """The backend Keras runs on, or will run on when it is imported."""
    if "keras" in sys.modules:
        import keras

        return keras.backend.backend()
    return os.environ.get("KERAS_BACKEND", DEFAULT)


def use_backend(name: str | None) -> str:
    """Run Keras on ``name`` (``None``: keep ``KERAS_BACKEND`` or the default); the backend in use.

    Refused when Keras is already running on another backend in this process, or when the backend's package is
    not installed."""
    if name is None:
        name = current()
    if name not in BACKENDS:
        raise ArgumentError(f"unknown backend {name!r}; choose {' or '.join(BACKENDS)}")
    if importlib.util.find_spec(name) is None:
        extra = " (pip install 'spect-toolkit[jax]')" if name == "jax" else ""
        raise ArgumentError(f"the {name} backend needs the {name} package, which is not installed{extra}")
    if "keras" in sys.modules and current() != name:
        raise ArgumentError(
            f"Keras already runs on {current()} in this process; choose the backend before Keras is imported "
            f"(KERAS_BACKEND={name}, or use_backend({name!r}) first)"
        )
    os.environ["KERAS_BACKEND"] = name
    return name
