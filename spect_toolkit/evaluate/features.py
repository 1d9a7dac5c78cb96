"""Small CNNs trained on real slices only: the feature space for distances, the conditional-accuracy judge, the
real-versus-synthetic classifier of the two-sample test, and the pattern classifier of the utility test."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from ..vocabulary import SLICE_SHAPE
from .measures import normalise

EMBEDDING = 64


def build_cnn(n_outputs: int, seed: int = 0):
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((*SLICE_SHAPE, 1)),
            layers.Conv2D(16, 3, strides=2, padding="same", activation="relu"),
            layers.Conv2D(32, 3, strides=2, padding="same", activation="relu"),
            layers.Conv2D(64, 3, strides=2, padding="same", activation="relu"),
            layers.Conv2D(64, 3, strides=2, padding="same", activation="relu"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(EMBEDDING, activation="relu", name="embedding"),
            layers.Dense(n_outputs, name="logits"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def _input(images: np.ndarray) -> np.ndarray:
    return normalise(images)[..., None]


BATCH_SIZE = 32


def fit(images: np.ndarray, labels: np.ndarray, n_classes: int, epochs: int = 30, seed: int = 0, min_batches: int = 1):
    """A CNN fitted to integer ``labels``; classes are weighted by inverse frequency so small ones count. An epoch
    counts at least ``min_batches`` batches (a shorter pass over ``images`` is repeated), so that a small sample
    trains as many steps as one of ``min_batches`` batches."""
    model = build_cnn(n_classes, seed)
    counts = np.bincount(labels, minlength=n_classes)
    weights = {c: len(labels) / (n_classes * counts[c]) for c in range(n_classes) if counts[c]}
    batches = -(-len(labels) // BATCH_SIZE)
    passes = max(epochs, -(-epochs * min_batches // batches))
    model.fit(_input(images), labels, epochs=passes, batch_size=BATCH_SIZE, verbose=0, class_weight=weights)
    return model


def predict_logits(model, images: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(_input(images), batch_size=256, verbose=0))


@dataclass
class FeatureSpace:
    """A (level, pattern) classifier trained on real slices; its 64-value embedding is the feature space."""

    model: object
    classes: list[tuple[str, str]]

    @classmethod
    def train(cls, images: np.ndarray, levels, patterns, epochs: int = 30, seed: int = 0) -> FeatureSpace:
        keys = list(zip(map(str, levels), map(str, patterns)))
        classes = sorted(set(keys))
        index = {c: i for i, c in enumerate(classes)}
        return cls(fit(images, np.array([index[k] for k in keys]), len(classes), epochs, seed), classes)

    @classmethod
    def of(cls, real, epochs: int = 30, seed: int = 0) -> FeatureSpace:
        """Trained on ``real``: real slices with their ``images``, ``level`` and ``pattern`` (``RealSlices``)."""
        return cls.train(real.images, real.level, real.pattern, epochs, seed)

    def __post_init__(self) -> None:
        import keras

        self._embedding = keras.Model(self.model.inputs, self.model.get_layer("embedding").output)

    @property
    def fingerprint(self) -> str:
        """First 12 hex digits of the SHA-256 of the network's weights. Distances from two spaces do not compare;
        one seed and the same slices give one network on one machine, but another machine, thread count or Keras
        version may sum in another order, so a stored distance carries the fingerprint of the space that gave it."""
        digest = hashlib.sha256()
        for weight in self.model.get_weights():
            digest.update(np.ascontiguousarray(weight, np.float32).tobytes())
        return digest.hexdigest()[:12]

    def embed(self, images: np.ndarray) -> np.ndarray:
        return np.asarray(self._embedding.predict(_input(images), batch_size=256, verbose=0), np.float64)

    def predict(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        best = predict_logits(self.model, images).argmax(axis=1)
        return (np.array([self.classes[i][0] for i in best]), np.array([self.classes[i][1] for i in best]))
