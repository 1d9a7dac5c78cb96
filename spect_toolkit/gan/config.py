"""A training run's configuration: the two presets, every option a field, and the hash samples carry."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import ArgumentError, SchemaError
from ..vocabulary import LEVELS, SLICE_SHAPE, parse_levels

# Fields that change how long or how a run is driven, not what it learns; left out of the hash.
_RUNTIME_FIELDS = ("epochs", "checkpoint_every", "steps_per_call", "mixed_precision", "precision", "distribute")
# Fields added after runs were stored: at their default they stay out of the hash, so a stored run's samples
# keep the hash they were written with.
_LATER_FIELDS = (
    "floored_output",
    "clipped_tanh_output",
    "spectrum_weight",
    "ap_shift",
    "full_resolution_convs",
    "generator_padding",
    "reconstruction_counts",
    "reconstruction_resampled",
    "reconstruction_field_of_view",
    "reconstruction_of_activity",
    "reconstruction_acquisition_grid",
    "diff_augment_cutout",
    "learning_rate_decay_from",
    "diff_augment_colour",
    "discriminator_learning_rate",
    "reconstruction_grid_pose",
    "discriminator_mirror_channel",
    "discriminator_mirror_smoothing",
    "edge_profile_weight",
    "flip_real_slices",
    "lean_weight",
    "diff_augment_translation",
    "diff_augment_translation_probability",
    "diff_augment_translation_fill",
    "side_condition",
    "projection_discriminator",
    "flip_flag",
    "discriminator_coordinates",
    "reconstruction_offset_grid",
)
PRECISIONS = ("float32", "bfloat16", "float16")
GENERATOR_PADDINGS = ("zeros", "reflect")
TRANSLATION_FILLS = ("zeros", "reflect")
EDGE_RINGS = 4  # rings of pixels in from the border given a learned gain and matched (edge_profile_weight)
MAX_AP_SHIFT = SLICE_SHAPE[0] // 2 - 1  # a larger shift would move the head out of the slice
DIFF_AUGMENT_TRANSLATION = SLICE_SHAPE[0] // 8  # pixels, an eighth of the image (FastGAN's DiffAugment)
MAX_TRANSLATION = SLICE_SHAPE[0] // 4


@dataclass(frozen=True)
class GanConfig:
    preset: str = "paper"
    levels: tuple[str, ...] = LEVELS
    split: str = "all"  # train on every patient ("all", as the paper did) or leave the holdout out ("train")
    latent_dim: int = 256
    embed_dim: int = 64
    width: int = 32
    learning_rate: float = 2e-4
    # Both learning rates fall linearly towards zero after this fraction of the run's epochs (CycleGAN's
    # schedule; 1: constant, as the paper). The schedule spans ``epochs``: a resume to more epochs stretches it.
    learning_rate_decay_from: float = 1.0
    # The discriminator's own rate (0: learning_rate, as the paper): two time-scales (Heusel et al. 2017; SAGAN
    # trains its spectrally normalised hinge discriminator at 4e-4 against the generator's 1e-4). The decay
    # scales both alike.
    discriminator_learning_rate: float = 0.0
    beta_1: float = 0.9
    beta_2: float = 0.999
    batch_size: int = 4
    epochs: int = 1000
    seed: int = 0
    recon_weight: float = 1.0
    # FastGAN's own code, off in the paper preset:
    spectral_norm: bool = False
    noise_injection: bool = False
    random_margin: bool = False
    ema_decay: float = 0.0
    diff_augment: bool = False
    # DiffAugment's colour policy (brightness and contrast); off: translation alone, which measured worse: the
    # colour keeps the discriminator from learning its training slices (docs/reproduction.md)
    diff_augment_colour: bool = True
    # DiffAugment's third policy, cutout (off in both presets: FastGAN's code leaves it out)
    diff_augment_cutout: bool = False
    # DiffAugment's largest translation, pixels each way (FastGAN: an eighth of the image). Where it moves a slice,
    # the uncovered border is zero counts for real and generated slices alike, which hides the border's own counts
    # from the discriminator; 0 shows them, and measured worse: the discriminator wins outright (docs/reproduction.md)
    diff_augment_translation: int = DIFF_AUGMENT_TRANSLATION
    # the share of slices translated at all (ADA's augmentation probability, fixed: Karras et al. 2020); the rest the
    # discriminator sees with their border as it is. 1: every slice, as FastGAN; 0 is the translation's 0. At 0.5 the
    # discriminator wins again once the rates decay (docs/reproduction.md)
    diff_augment_translation_probability: float = 1.0
    # what the translation moves into the uncovered border: zero counts (FastGAN's DiffAugment), which hides the
    # slice's own border from the discriminator, or the slice's border mirrored into it (ADA's padding), which
    # keeps the border in view while every slice is still moved, and measured worse: the generated background
    # becomes the two-sample classifier's cue (docs/reproduction.md)
    diff_augment_translation_fill: str = "zeros"
    # Beyond the paper and FastGAN, off in both presets unless asked for:
    # D also sees each slice minus its left-right mirror (after DiffAugment's colour, before its translation):
    # generated normal slices lean further to one side than real ones, which D would otherwise have to learn to see
    discriminator_mirror_channel: bool = False
    # that difference averaged over a k x k window (odd k; 0: none): the lean kept, the noise's texture smoothed away
    discriminator_mirror_smoothing: int = 0
    # D also sees where each pixel lay on the canonical grid (two channels, CoordConv's), moved by DiffAugment's
    # translation with the slice: a translated slice alone does not show where its head sits, and a generated head
    # a pixel off the midline changes its left/right ratio by 8 % (docs/reproduction.md)
    discriminator_coordinates: bool = False
    minibatch_std: bool = False  # the paper's suggested remedy for low diversity (a minibatch-std feature in D)
    balanced_patterns: bool = False  # draw each pattern equally often (the data are 551 / 291 / 96)
    mirror_generated: bool = False  # mirror generated normal/bilateral slices at random, as the real ones are
    # the defect's side (the worse side of a bilateral one) in the condition vector; every real slice mirrored at
    # random, its side with it, and only normal generated slices mirrored
    side_condition: bool = False
    # the paper's flip of real normal and bilateral slices at random; off: they keep the lean they have (data set
    # A's normal slices lean, left/right 0.996; flipped at random, the set's lean is none)
    flip_real_slices: bool = True
    # the flip told to the discriminator: a last condition column, 1 where the flip mirrored a slice; the generator
    # draws each slice as it lay and its slices are mirrored with the real batch's, so that the set it draws keeps
    # the training slices' lean (instead of --mirror-generated's symmetric set)
    flip_flag: bool = False
    # the condition also projected onto D's last features (a projection discriminator), not only its input channels
    projection_discriminator: bool = False
    # weight of a loss on the batch's mean and root-mean-square log left/right ratio, per pattern, against the
    # real batch's (0: none)
    lean_weight: float = 0.0
    floored_output: bool = False  # the generator's output linear above zero counts instead of tanh
    clipped_tanh_output: bool = False  # 1.2 tanh clipped to zero counts and the peak, the gradient kept past both
    spectrum_weight: float = 0.0  # weight of a loss on the generated batch's power spectrum against the real one's
    # a learned gain on the outermost rings of pixels, fitted by a loss of this weight on the batch's mean counts
    # there against the real batch's (0: neither)
    edge_profile_weight: float = 0.0
    ap_shift: int = 2  # largest anterior-posterior shift of a real slice, pixels (paper: 2; 0: none)
    full_resolution_convs: int = 1  # 3x3 convolutions in the generator's 64-pixel block (FastGAN's UpBlockComp: 2)
    generator_padding: str = "zeros"  # how the generator's 3x3 convolutions pad the border: zeros or reflect
    # count noise through a filtered back-projection on the generator's image, clipped and max-normalised as a real
    # slice was: the starting count level (counts a pixel at the peak adds to each line through it), learned from
    # there; 0: off
    reconstruction_counts: float = 0.0
    reconstruction_resampled: bool = False  # then resampled at a random sub-pixel offset, as the reorientation does
    # the drawn activity no less than zero counts; exact zeros from a real slice's field of view of the same level
    reconstruction_field_of_view: bool = False
    # the drawn slice reconstructed as the activity (projected and filtered back-projected), not only its noise
    reconstruction_of_activity: bool = False
    # reconstructed on the scanner's grid, placed where the drawn field of view says it lay, not on the slice's own
    reconstruction_acquisition_grid: bool = False
    # that grid placed by a pose fitted to the field of view (turned, sub-pixel offsets), not by the whole rows and
    # columns outside it
    reconstruction_grid_pose: bool = False
    # the scanner's grid offset from the slice's by the resampling's sub-pixel shift, the drawn slice taken onto it
    # first: resampled alone, each drawn head moves by its random shift (SD 0.29 pixels), which real heads do not
    reconstruction_offset_grid: bool = False
    # How the run is driven:
    checkpoint_every: int = 50
    steps_per_call: int = 16
    mixed_precision: bool = False  # the earlier name of precision="float16"
    precision: str = "float32"  # compute dtype: float32, bfloat16 (mixed, no loss scale), float16 (mixed, loss scale)
    distribute: bool = False

    def __post_init__(self) -> None:
        if self.preset not in PRESETS_NAMES:
            raise ArgumentError(f"unknown preset {self.preset!r}; choose {' or '.join(PRESETS_NAMES)}")
        if self.split not in ("all", "train"):
            raise ArgumentError(f"training split must be 'all' or 'train', got {self.split!r}")
        for name in ("batch_size", "epochs", "width", "latent_dim", "embed_dim", "checkpoint_every", "steps_per_call"):
            if getattr(self, name) < 1:
                raise ArgumentError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.precision not in PRECISIONS:
            raise ArgumentError(f"unknown precision {self.precision!r}; choose {', '.join(PRECISIONS)}")
        if self.mixed_precision and self.precision == "float32":
            object.__setattr__(self, "precision", "float16")
        if not 0 <= self.ap_shift <= MAX_AP_SHIFT:
            raise ArgumentError(f"ap_shift must lie in 0..{MAX_AP_SHIFT} pixels, got {self.ap_shift}")
        if self.floored_output and self.clipped_tanh_output:
            raise ArgumentError("choose one output: floored_output or clipped_tanh_output, not both")
        if self.reconstruction_counts < 0:
            raise ArgumentError(
                f"reconstruction_counts must be positive, or 0 for none, got {self.reconstruction_counts}"
            )
        if self.reconstruction_resampled and not self.reconstruction_counts:
            raise ArgumentError(
                "reconstruction_resampled resamples the reconstruction noise: set reconstruction_counts"
            )
        if self.reconstruction_field_of_view and not self.reconstruction_counts:
            raise ArgumentError(
                "reconstruction_field_of_view masks the reconstruction noise's slice: set reconstruction_counts"
            )
        if self.reconstruction_of_activity and not self.reconstruction_counts:
            raise ArgumentError(
                "reconstruction_of_activity reconstructs the slice beside its noise: set reconstruction_counts"
            )
        if self.reconstruction_acquisition_grid and not self.reconstruction_field_of_view:
            raise ArgumentError(
                "reconstruction_acquisition_grid places the scanner's grid by the drawn field of view: set "
                "reconstruction_field_of_view"
            )
        if self.reconstruction_grid_pose and not self.reconstruction_acquisition_grid:
            raise ArgumentError(
                "reconstruction_grid_pose places the scanner's grid by a pose: set reconstruction_acquisition_grid"
            )
        if self.reconstruction_offset_grid and not (
            self.reconstruction_resampled and not self.reconstruction_grid_pose
        ):
            raise ArgumentError(
                "reconstruction_offset_grid offsets the scanner's grid by the resampling's shift: set "
                "reconstruction_resampled (the posed grid, reconstruction_grid_pose, has its own offsets)"
            )
        if self.discriminator_mirror_smoothing and not self.discriminator_mirror_channel:
            raise ArgumentError(
                "discriminator_mirror_smoothing smooths the mirror channel: set discriminator_mirror_channel"
            )
        if self.discriminator_mirror_smoothing and not (
            self.discriminator_mirror_smoothing % 2 == 1 and 3 <= self.discriminator_mirror_smoothing <= 15
        ):
            raise ArgumentError(
                f"discriminator_mirror_smoothing is an odd window of 3 to 15 pixels, or 0 for none, got "
                f"{self.discriminator_mirror_smoothing}"
            )
        if not self.diff_augment_colour and not self.diff_augment:
            raise ArgumentError("diff_augment_colour=False leaves DiffAugment's translation alone: set diff_augment")
        if self.diff_augment_cutout and not self.diff_augment:
            raise ArgumentError("diff_augment_cutout is a part of DiffAugment: set diff_augment")
        if not 0 <= self.diff_augment_translation <= MAX_TRANSLATION:
            raise ArgumentError(
                f"diff_augment_translation must lie in 0..{MAX_TRANSLATION} pixels, got {self.diff_augment_translation}"
            )
        if self.diff_augment_translation != DIFF_AUGMENT_TRANSLATION and not self.diff_augment:
            raise ArgumentError("diff_augment_translation is a part of DiffAugment: set diff_augment")
        if not 0.0 < self.diff_augment_translation_probability <= 1.0:
            raise ArgumentError(
                "diff_augment_translation_probability is the share of slices translated, in (0, 1] (no translation: "
                f"diff_augment_translation=0), got {self.diff_augment_translation_probability}"
            )
        if self.diff_augment_translation_probability != 1.0 and not self.diff_augment:
            raise ArgumentError("diff_augment_translation_probability is a part of DiffAugment: set diff_augment")
        if self.diff_augment_translation_fill not in TRANSLATION_FILLS:
            raise ArgumentError(
                f"diff_augment_translation_fill must be {' or '.join(TRANSLATION_FILLS)}, "
                f"got {self.diff_augment_translation_fill!r}"
            )
        if self.diff_augment_translation_fill != "zeros" and not self.diff_augment:
            raise ArgumentError("diff_augment_translation_fill is a part of DiffAugment: set diff_augment")
        if self.reconstruction_counts and (self.floored_output or self.clipped_tanh_output):
            raise ArgumentError(
                "reconstruction_counts clips and normalises the tanh output itself; not with another output"
            )
        if self.full_resolution_convs not in (1, 2):
            raise ArgumentError(f"full_resolution_convs must be 1 or 2, got {self.full_resolution_convs}")
        if self.generator_padding not in GENERATOR_PADDINGS:
            raise ArgumentError(
                f"unknown generator_padding {self.generator_padding!r}; choose {' or '.join(GENERATOR_PADDINGS)}"
            )
        if self.mirror_generated and not self.flip_real_slices:
            raise ArgumentError(
                "mirror_generated mirrors the generated slices as the paper's flip mirrors the real ones: not with "
                "flip_real_slices off"
            )
        if self.flip_flag and (self.mirror_generated or not self.flip_real_slices or self.lean_weight):
            raise ArgumentError(
                "flip_flag mirrors the generated slices with the real ones the paper's flip mirrors: it needs "
                "flip_real_slices, and takes the place of mirror_generated and of lean_weight"
            )
        for name in ("spectrum_weight", "edge_profile_weight", "lean_weight"):
            if getattr(self, name) < 0.0:
                raise ArgumentError(f"{name} must not be negative, got {getattr(self, name)}")
        if not 0.0 <= self.learning_rate_decay_from <= 1.0:
            raise ArgumentError(
                f"learning_rate_decay_from is a fraction of the run's epochs in [0, 1], got "
                f"{self.learning_rate_decay_from}"
            )
        if self.discriminator_learning_rate < 0.0:
            raise ArgumentError(
                f"discriminator_learning_rate must be positive, or 0 for learning_rate, got "
                f"{self.discriminator_learning_rate}"
            )
        if not 0.0 <= self.ema_decay < 1.0:
            raise ArgumentError(f"ema_decay must lie in [0, 1), got {self.ema_decay}")
        object.__setattr__(self, "levels", parse_levels(self.levels))

    def learning_rate_at(self, epoch: int) -> float:
        """The learning rate of ``epoch`` (1-based): constant to the decay's start, then falling linearly so that
        the last epoch trains at ``1 / (epochs after the start + 1)`` of it, never at zero."""
        start = round(self.learning_rate_decay_from * self.epochs)
        if epoch <= start:
            return self.learning_rate
        return self.learning_rate * (self.epochs - epoch + 1) / (self.epochs - start + 1)

    def learning_rates_at(self, epoch: int) -> tuple[float, float]:
        """The generator's and the discriminator's learning rate of ``epoch`` (1-based), on one schedule."""
        generator = self.learning_rate_at(epoch)
        return generator, (self.discriminator_learning_rate or self.learning_rate) * (generator / self.learning_rate)

    @property
    def discriminator_image_channels(self) -> int:
        """The channels of what the discriminator sees of a slice (:func:`.step.discriminator_view`): the slice, its
        mirror difference, the two coordinates."""
        return 1 + self.discriminator_mirror_channel + 2 * self.discriminator_coordinates

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def hash(self) -> str:
        default = {f.name: f.default for f in dataclasses.fields(self)}
        learned = {
            k: v
            for k, v in self.to_dict().items()
            if k not in _RUNTIME_FIELDS and not (k in _LATER_FIELDS and v == default[k])
        }
        return hashlib.sha256(json.dumps(learned, sort_keys=True).encode()).hexdigest()[:16]

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps({**self.to_dict(), "config_hash": self.hash}, indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> GanConfig:
        try:
            values = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise SchemaError(path, f"cannot read the run configuration: {exc}") from None
        values.pop("config_hash", None)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise SchemaError(path, f"unknown configuration field(s): {', '.join(unknown)}")
        values["levels"] = tuple(values.get("levels", LEVELS))
        return cls(**values)


PRESETS_NAMES = ("paper", "improved")
PRESETS = {
    # Exactly what the paper states; everything else at FastGAN's plain form.
    "paper": {},
    # What FastGAN's code adds, and a batch a GPU (or two CPU cores) uses better.
    "improved": dict(
        spectral_norm=True,
        noise_injection=True,
        random_margin=True,
        ema_decay=0.999,
        diff_augment=True,
        batch_size=32,
        beta_1=0.5,
    ),
}


def make_config(preset: str = "paper", **overrides) -> GanConfig:
    """The preset's configuration with ``overrides`` (``None`` values ignored) applied on top."""
    if preset not in PRESETS:
        raise ArgumentError(f"unknown preset {preset!r}; choose {' or '.join(PRESETS)}")
    values = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}
    return GanConfig(preset=preset, **values)
