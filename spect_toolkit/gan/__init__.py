"""The conditional FastGAN (Keras 3): configuration, networks, augmentation, training and sampling."""

from .conditions import ConditionSpace
from .config import PRESETS, GanConfig, make_config
from .generate import condition_counts, generate, load_generator
from .model import FastGAN, TrainingSet
from .run_folder import RunFolder
from .train import TrainResult, train, training_set

__all__ = [
    "ConditionSpace",
    "GanConfig",
    "PRESETS",
    "make_config",
    "FastGAN",
    "TrainingSet",
    "train",
    "training_set",
    "TrainResult",
    "generate",
    "load_generator",
    "condition_counts",
    "RunFolder",
]
