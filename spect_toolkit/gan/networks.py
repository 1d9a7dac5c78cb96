"""The conditional FastGAN for 64x64 slices: generator with one skip-layer excitation, discriminator with two
self-supervised decoders. Written with Keras layers and ``keras.ops`` only, so any Keras backend can run them.

Channel widths are not stated in the paper's text; they follow FastGAN's halving per resolution, scaled by
``config.width`` (``G_CHANNELS`` / ``D_CHANNELS`` below), and the parameter counts are listed in docs/gan.md.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from ..errors import ArgumentError
from ..tomography import noise_operators
from ..vocabulary import SLICE_SHAPE
from .conditions import level_columns
from .config import EDGE_RINGS, GanConfig
from .field_of_view import MASKS_PER_LEVEL, UNPOSED, acquisition_offsets, onto_scanner_grid
from .fused import FusedBatchNormalization
from .losses import edge_ring_indicator

IMAGE_SIZE = SLICE_SHAPE[0]  # square slices


def g_channels(width: int) -> dict[int, int]:
    return {4: 8 * width, 8: 4 * width, 16: 2 * width, 32: width, 64: max(width // 2, 4)}


def d_channels(width: int) -> dict[int, int]:
    return {64: max(width // 2, 4), 32: width, 16: 2 * width, 8: 4 * width, 4: 8 * width}


class GLU(layers.Layer):
    """Gated linear unit over channels: the first half gated by the sigmoid of the second."""

    def call(self, x):
        a, b = ops.split(x, 2, axis=-1)
        return a * ops.sigmoid(b)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] // 2)


class NoiseInjection(layers.Layer):
    """FastGAN's per-pixel noise, scaled by one learned weight that starts at zero."""

    def __init__(self, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        self.weight = self.add_weight(shape=(), initializer="zeros", name="weight")

    def call(self, x):
        noise = keras.random.normal(ops.shape(x)[:-1] + (1,), seed=self.seed_generator, dtype=x.dtype)
        return x + ops.cast(self.weight, x.dtype) * noise


@keras.saving.register_keras_serializable(package="spect_toolkit")
class ReflectPadding(layers.Layer):
    """One pixel on each side of the image, mirrored from inside it (the edge pixel not repeated)."""

    def call(self, x):
        return ops.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="reflect")

    def compute_output_shape(self, input_shape):
        n, rows, columns, channels = input_shape
        return (n, None if rows is None else rows + 2, None if columns is None else columns + 2, channels)


class ConditionChannels(layers.Layer):
    """The conditional vector as constant image channels (the paper's 'conditional image')."""

    def call(self, image, condition):
        shape = ops.shape(image)
        planes = ops.reshape(ops.cast(condition, image.dtype), (shape[0], 1, 1, -1))
        return ops.concatenate(
            [image, ops.broadcast_to(planes, (shape[0], shape[1], shape[2], ops.shape(planes)[-1]))], -1
        )

    def compute_output_shape(self, image_shape, condition_shape):
        return (*image_shape[:-1], image_shape[-1] + condition_shape[-1])


class SpectralNorm(layers.SpectralNormalization):
    """A convolution with its kernel divided by the kernel's largest singular value, as FastGAN's PyTorch code has
    it (``torch.nn.utils.spectral_norm``): the kernel is the trained variable and every call divides it by sigma,
    with the gradient through sigma; a training call refines the singular vector ``vector_u`` by one power
    iteration, the only state it writes.

    Keras' own layer, whose variables (and so checkpoints) this keeps, writes kernel / sigma back into the kernel
    in training and divides nothing at inference. A stateless call (the JAX step) drops that write, so a generator
    trained on JAX sampled with undivided kernels, about 1.5 times too large in every layer, and saturated.
    """

    def call(self, inputs, training=False):
        vector_u, kernel = self.normalized_weights()
        if training:
            self.vector_u.assign(vector_u)
        conv = self.layer
        outputs = conv.convolution_op(inputs, kernel)
        if conv.use_bias:
            outputs = ops.add(outputs, ops.reshape(conv.bias, (1, 1, 1, conv.filters)))
        return outputs if conv.activation is None else conv.activation(outputs)


def _conv(config: GanConfig, filters: int, kernel: int, strides: int = 1, padding: str = "same", bias=False, **kw):
    conv = layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=bias, **kw)
    return SpectralNorm(conv) if config.spectral_norm else conv


def _generator_conv(x, config: GanConfig, filters: int, name: str, bias: bool = False):
    """A 3x3 convolution of the generator that keeps the size; with ``generator_padding="reflect"`` the border is
    mirrored, not zero, so the convolutions leave no mark of where the image ends (zero padding marks every edge,
    and the generator draws a frame two pixels inside it)."""
    if config.generator_padding == "reflect":
        x = ReflectPadding(name=f"{name}_pad")(x)
        return _conv(config, filters, 3, padding="valid", bias=bias, name=name)(x)
    return _conv(config, filters, 3, bias=bias, name=name)(x)


def _up_block(x, filters: int, config: GanConfig, name: str, noise_seed: int | None = None, convs: int = 1):
    """Nearest up-sampling, then ``convs`` times: 3x3 conv to twice the channels, (noise), batch norm, GLU.

    Two convolutions are FastGAN's UpBlockComp. With one, the block's noise reaches the image through the output
    convolution alone, so full-resolution texture wider than 3 pixels must come from the up-sampled maps below."""
    x = layers.UpSampling2D(2, interpolation="nearest", name=f"{name}_up")(x)
    for k in range(convs):
        suffix = "" if k == 0 else f"{k + 1}"  # the first convolution keeps the names stored runs carry
        x = _generator_conv(x, config, 2 * filters, f"{name}_conv{suffix}")
        if config.noise_injection:
            x = NoiseInjection(seed=(noise_seed or 0) + 1000 * k, name=f"{name}_noise{suffix}")(x)
        x = FusedBatchNormalization(name=f"{name}_bn{suffix}")(x)
        x = GLU(name=f"{name}_glu{suffix}")(x)
    return x


def _skip_excitation(low, high, config: GanConfig, name: str = "sle"):
    """Gate the high-resolution map channel-wise from the 4x4 map; no adaptive pooling at this size (paper)."""
    gate = _conv(config, high.shape[-1], 4, padding="valid", bias=True, name=f"{name}_conv1")(low)
    gate = layers.LeakyReLU(0.1, name=f"{name}_lrelu")(gate)
    gate = _conv(config, high.shape[-1], 1, bias=True, name=f"{name}_conv2")(gate)
    gate = layers.Activation("sigmoid", name=f"{name}_sigmoid")(gate)
    return layers.Multiply(name=f"{name}_gate")([high, gate])


def build_generator(config: GanConfig, condition_size: int) -> keras.Model:
    """``G([z, y]) -> (n, 64, 64, 1)`` in [-1, 1]."""
    ch = g_channels(config.width)
    z = keras.Input((config.latent_dim,), name="z")
    y = keras.Input((condition_size,), name="condition")
    x = layers.Concatenate(name="zy")([z, y])
    x = layers.Dense(config.embed_dim, name="embed")(x)
    x = layers.Reshape((1, 1, config.embed_dim))(x)
    x = layers.Conv2DTranspose(2 * ch[4], 4, padding="valid", use_bias=False, name="input_deconv")(x)
    x = FusedBatchNormalization(name="input_bn")(x)
    feats = {4: GLU(name="input_glu")(x)}
    for size in (8, 16, 32, 64):
        convs = config.full_resolution_convs if size == IMAGE_SIZE else 1
        feats[size] = _up_block(feats[size // 2], ch[size], config, f"up{size}", config.seed + size, convs)
    x = _skip_excitation(feats[4], feats[64], config)
    x = _generator_conv(x, config, 1, "output_conv", bias=True)
    if config.floored_output:
        image = ZeroCountFloor(dtype="float32", name="output_floor")(x)
    elif config.clipped_tanh_output:
        image = ClippedTanh(dtype="float32", name="output_clipped_tanh")(x)
    else:
        image = layers.Activation("tanh", dtype="float32", name="output_tanh")(x)
        if config.reconstruction_counts:
            noise = ReconstructionNoise(
                config.reconstruction_counts,
                resample=config.reconstruction_resampled,
                field_of_view_levels=max(level_columns(condition_size, config.side_condition), 1)
                if config.reconstruction_field_of_view
                else 0,
                reconstruct_activity=config.reconstruction_of_activity,
                acquisition_grid=config.reconstruction_acquisition_grid,
                grid_pose=config.reconstruction_grid_pose,
                offset_grid=config.reconstruction_offset_grid,
                seed=config.seed + 7,
                dtype="float32",
                name="output_reconstruction",
            )
            image = noise(image, y) if config.reconstruction_field_of_view else noise(image)
    if config.edge_profile_weight:
        image = EdgeGain(EDGE_RINGS, dtype="float32", name="output_edge_gain")(image)
    return keras.Model([z, y], image, name="generator")


@keras.saving.register_keras_serializable(package="spect_toolkit")
class ReconstructionNoise(layers.Layer):
    """What the scanner adds to the generator's slice: count noise on the slice's projections, carried through
    the filtered back-projection the phantom reconstructs with (:func:`spect_toolkit.tomography.noise_operators`),
    then clipped at zero counts and divided by the slice's peak, as a real slice was reconstructed, clipped and
    max-normalised.

    Real slices' low counts lie in thin radial streaks (noise carried along the lines through the head and
    clipped); a generator's own noise, added to feature maps and passed through 3x3 convolutions, makes blobs.
    Here the generator draws the activity and this layer its noise. Input in [-1, 1]: 1 is the peak, 0 and below
    no counts (below 0 the clip leaves exact zeros, as where the reoriented volume does not reach). Output in
    [-1, 1] as real slices are given to the discriminator: -1 zero counts, 1 the slice's peak.

    ``counts`` is the starting count level: each line's variance is its sum over the slice (in units of the
    peak, below zero taken as zero) divided by it. The level is learned from there (``counts * exp(log_gain)``);
    noise needs no gradient through its own variance, and the clip passes its gradient straight through, so a
    pixel the noise took below zero can come back.

    ``resample``: the clipped slice is then interpolated linearly at a random sub-pixel offset along rows and along
    columns, as the reorientation onto the AC-PC grid (same spacing, linear interpolation) resampled the clipped
    reconstruction: the finest noise is damped, and a zero stays exact only where its neighbours are zero too.

    ``field_of_view_levels``: the drawn activity is taken as no less than zero counts (a background drawn below
    zero gets the noise a real background has), and the exact zeros of the volume's edge come from a field of view
    (:mod:`.field_of_view`) drawn among real slices' of the same level, which the layer then takes as its second
    input, the condition vector (its first ``field_of_view_levels`` values are the level one-hot when there are
    several levels). The masks are a non-trainable weight, filled from the training slices
    (:meth:`FastGAN.__init__ <spect_toolkit.gan.model.FastGAN>`) and saved with the generator.

    ``reconstruct_activity``: the drawn slice is taken as the activity and reconstructed itself (projected over a
    half rotation and filtered back-projected, the same operators as its noise; exactly the phantom's noiseless
    reconstruction), not passed through as it is. A reconstruction keeps next to nothing above 0.35 cycles per
    pixel (power 0.009 of what goes in, 0.002 at 0.40), so every bit of a real slice's finest band is count noise;
    a generator's own texture there, which no real slice has, is filtered away as the scanner would.

    ``acquisition_grid`` (with a field of view): the slice is reconstructed on the scanner's grid placed where the
    drawn field of view says it lay (:func:`~.field_of_view.acquisition_offsets`), then moved back onto the slice,
    zero where the grid does not reach, before the resampling. A filtered back-projection brightens its own grid's
    outer rows (the outermost ring of a noiseless phantom reconstruction 1.7 times the fourth's); in a real slice
    that edge lies a few pixels off the border, where the reorientation put it, not on the border.

    ``grid_pose`` (with ``acquisition_grid``): the grid is placed by the pose :func:`~.field_of_view.grid_poses`
    fits to the drawn field of view (turned, offsets to a fraction of a pixel; a non-trainable weight filled with
    the masks), not by whole rows and columns outside it: the slice is
    resampled onto that grid, reconstructed with its noise, clipped, and resampled back, which is the
    reorientation's own interpolation, so ``resample``'s random shift is not added to it. A turned head's field of
    view has wedges, not whole rows, outside, and whole-row bands placed its grid on the slice's own.

    ``offset_grid`` (with ``resample``): the scanner's grid lies at the resampling's sub-pixel offset from the
    slice's, so the drawn slice is first interpolated onto it (taken at ``k + d``) and the resampling brings it
    back (at ``k - d``). The reorientation resamples a head where the registration put it; ``resample`` alone moves
    each drawn head by its random ``d`` (uniform in [0, 1), SD 0.29 pixels along rows and along columns), a scatter
    the generator cannot undo and real heads do not have (docs/reproduction.md).
    """

    def __init__(
        self,
        counts: float,
        resample: bool = False,
        field_of_view_levels: int = 0,
        reconstruct_activity: bool = False,
        acquisition_grid: bool = False,
        grid_pose: bool = False,
        offset_grid: bool = False,
        seed: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if offset_grid and (not resample or grid_pose):
            raise ArgumentError("offset_grid offsets the grid by the resampling's shift: set resample, not grid_pose")
        if acquisition_grid and not field_of_view_levels:
            raise ArgumentError("acquisition_grid places the scanner's grid by the field of view: give its levels")
        if grid_pose and not acquisition_grid:
            raise ArgumentError("grid_pose poses the scanner's grid: set acquisition_grid")
        self.counts = float(counts)
        self.resample = bool(resample)
        self.field_of_view_levels = int(field_of_view_levels)
        self.reconstruct_activity = bool(reconstruct_activity)
        self.acquisition_grid = bool(acquisition_grid)
        self.grid_pose = bool(grid_pose)
        self.offset_grid = bool(offset_grid)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, x_shape, condition_shape=None):
        self.log_gain = self.add_weight(shape=(), initializer="zeros", name="log_gain")
        if self.field_of_view_levels:
            self.field_of_view = self.add_weight(
                shape=(self.field_of_view_levels, MASKS_PER_LEVEL, IMAGE_SIZE, IMAGE_SIZE),
                initializer="ones",
                trainable=False,
                name="field_of_view",
            )
        if self.grid_pose:
            self.grid_poses = self.add_weight(
                shape=(self.field_of_view_levels, MASKS_PER_LEVEL, len(UNPOSED)),
                initializer=lambda shape, dtype=None: ops.broadcast_to(
                    ops.convert_to_tensor(UNPOSED, dtype or "float32"), shape
                ),
                trainable=False,
                name="grid_poses",
            )

    def learned_counts(self) -> float:
        return self.counts * float(ops.convert_to_numpy(ops.exp(self.log_gain)))

    def call(self, x, condition=None):
        line_sums, reconstruct = noise_operators(IMAGE_SIZE)
        image = ops.cast(x, "float32")
        field_of_view = pose = None
        if self.offset_grid:  # onto the grid the resampling below takes it back from
            shifts = [self._random_shift(image) for _ in (1, 2)]
            image = ops.reshape(image, (-1, IMAGE_SIZE, IMAGE_SIZE))
            for axis, shift in zip((1, 2), shifts):
                image = _interpolated(image, axis, -shift)
        if self.acquisition_grid:  # drawn first: it says where the scanner's grid lay
            field_of_view, pose = self._drawn_field_of_view(condition)
            image = ops.reshape(image, (-1, IMAGE_SIZE, IMAGE_SIZE))
            if self.grid_pose:
                image = onto_scanner_grid(image, pose)
            else:
                offsets = acquisition_offsets(field_of_view)
                rows, columns = _placement(offsets[:, 0]), _placement(offsets[:, 1])
                image = ops.matmul(ops.matmul(rows, image), _t(columns))
        image = ops.reshape(image, (-1, IMAGE_SIZE * IMAGE_SIZE))
        if self.field_of_view_levels:  # no exact zeros drawn: those come from the field of view below
            image = image + ops.stop_gradient(ops.maximum(image, 0.0) - image)
        counts = ops.maximum(ops.stop_gradient(image), 0.0)  # below zero is no counts, not fewer: no less noise
        variance = ops.matmul(counts, line_sums) / self.counts
        z = keras.random.normal(ops.shape(variance), seed=self.seed_generator)
        noise = ops.matmul(ops.sqrt(variance) * z, reconstruct) * ops.exp(-0.5 * self.log_gain)
        if self.reconstruct_activity:
            # reconstruct carries a pair of opposite views' independent noise (sqrt 2 one view's); their signals
            # add, twice one view's
            image = ops.matmul(ops.matmul(image, line_sums), reconstruct) * 2.0**0.5
        noisy = image + noise
        clipped = noisy + ops.stop_gradient(ops.maximum(noisy, 0.0) - noisy)
        clipped = ops.reshape(clipped, (-1, IMAGE_SIZE, IMAGE_SIZE))
        if self.grid_pose:  # back onto the slice's grid, interpolated as the reorientation did
            clipped = onto_scanner_grid(clipped, pose, back=True)
        elif self.acquisition_grid:  # back onto the slice's grid: zero where the scanner's did not reach
            clipped = ops.matmul(ops.matmul(_t(rows), clipped), columns)
        if self.resample and not self.grid_pose:
            if not self.offset_grid:
                shifts = [self._random_shift(clipped) for _ in (1, 2)]
            for axis, shift in zip((1, 2), shifts):
                clipped = _interpolated(clipped, axis, shift)
        if self.field_of_view_levels:
            clipped = clipped * (self._drawn_field_of_view(condition)[0] if field_of_view is None else field_of_view)
        peak = ops.max(clipped, axis=(1, 2), keepdims=True)
        slices = 2.0 * clipped / ops.maximum(peak, 1e-6) - 1.0
        # exactly 1 at the peak, as in a real slice (compiled by XLA the division came out 1 ulp short; the peak
        # pixel's own value has no gradient either way)
        slices = ops.where((clipped >= peak) & (peak > 0.0), 1.0, slices)
        return slices[..., None]

    def _drawn_field_of_view(self, condition):
        """One mask per slice, drawn among its level's (after resampling: the real masks were read from resampled
        slices), and its grid's pose (``None`` without ``grid_pose``)."""
        n = ops.shape(condition)[0]
        if self.field_of_view_levels > 1:
            level = ops.argmax(condition[:, : self.field_of_view_levels], axis=1)
        else:
            level = ops.zeros((n,), "int32")
        drawn = keras.random.randint((n,), 0, MASKS_PER_LEVEL, seed=self.seed_generator)
        masks = ops.reshape(self.field_of_view, (-1, IMAGE_SIZE, IMAGE_SIZE))
        index = ops.cast(level, "int32") * MASKS_PER_LEVEL + drawn
        pose = ops.take(ops.reshape(self.grid_poses, (-1, len(UNPOSED))), index, axis=0) if self.grid_pose else None
        return ops.take(masks, index, axis=0), pose

    def _random_shift(self, slices):
        """One sub-pixel shift per slice, uniform in [0, 1): ``(n, 1, 1)``."""
        return keras.random.uniform((ops.shape(slices)[0], 1, 1), seed=self.seed_generator)

    def get_config(self):
        return {
            **super().get_config(),
            "counts": self.counts,
            "resample": self.resample,
            "field_of_view_levels": self.field_of_view_levels,
            "reconstruct_activity": self.reconstruct_activity,
            "acquisition_grid": self.acquisition_grid,
            "grid_pose": self.grid_pose,
            "offset_grid": self.offset_grid,
            "seed": self.seed,
        }


def _interpolated(slices, axis: int, shift):
    """Each slice ``(n, H, W)`` taken at ``k - shift`` along ``axis`` (``shift`` ``(n, 1, 1)`` within (-1, 1)),
    linearly between neighbours; the edge row or column kept where it has no neighbour on that side."""
    first, last = (slices[:, :1], slices[:, -1:]) if axis == 1 else (slices[:, :, :1], slices[:, :, -1:])
    inner = (slices[:, :-1], slices[:, 1:]) if axis == 1 else (slices[:, :, :-1], slices[:, :, 1:])
    before = ops.concatenate([first, inner[0]], axis=axis)
    after = ops.concatenate([inner[1], last], axis=axis)
    return (1.0 - ops.abs(shift)) * slices + ops.maximum(shift, 0.0) * before + ops.maximum(-shift, 0.0) * after


def _placement(offsets):
    """``(n, H, H)``: ``P @ slice`` moves each slice's rows ``offsets`` up (row ``r`` of the result is row
    ``r + offset`` of the slice, zero past either end); ``P.T`` moves them back."""
    index = ops.arange(IMAGE_SIZE, dtype="int32")
    return ops.cast(ops.equal(index[None, :, None] + offsets[:, None, None], index[None, None, :]), "float32")


def _t(matrices):
    return ops.transpose(matrices, (0, 2, 1))


@keras.saving.register_keras_serializable(package="spect_toolkit")
class ZeroCountFloor(layers.Layer):
    """``max(x, -1)``: linear above the value of zero counts. Real slices hold exact zeros (clipped at zero and
    resampled with zero outside the volume) and peak at exactly +1 after max-normalisation; tanh reaches neither,
    and its saturation squeezes the brightest pixels together (generated slices' 99th brain percentile 0.99 of the
    peak against real 0.96)."""

    def call(self, x):
        return ops.maximum(ops.cast(x, self.compute_dtype), -1.0)


@keras.saving.register_keras_serializable(package="spect_toolkit")
class ClippedTanh(layers.Layer):
    """``clip(1.2 tanh(x), -1, 1)`` with the gradient of ``1.2 tanh(x)``: exact zero counts and an exact peak, as
    real slices have, and a gradient for every pixel. A plain floor's pixel below -1 has no gradient, so a
    generator that pushed it there cannot bring it back; passing the floor's gradient straight through the linear
    output leaves nothing to bound a pixel below it (tried once: the discriminator won within the first epochs).
    tanh bounds how far a pixel can go past either end."""

    reach = 1.2  # how far past zero counts and the peak the pre-clip value can go (at 1.2: a fifth of the range)

    def call(self, x):
        beyond = self.reach * ops.tanh(ops.cast(x, self.compute_dtype))
        return beyond + ops.stop_gradient(ops.clip(beyond, -1.0, 1.0) - beyond)


@keras.saving.register_keras_serializable(package="spect_toolkit")
class EdgeGain(layers.Layer):
    """A learned gain on the counts of each of the slice's outermost ``rings`` square rings of pixels, the rest of
    the slice as it is; input and output in [-1, 1], -1 zero counts (a zero stays a zero).

    The reconstruction layer's border is brighter than a real slice's (the outermost ring 0.012-0.015 of the peak
    against 0.0087 held out, docs/reproduction.md): part of it is the scanner's grid turned with the head, which
    no in-plane map holds (docs/gan.md), and the generator cannot take counts below zero to cancel it. The gains
    are fitted by :func:`~.losses.edge_profile` beside the adversarial loss. They learn ``LEARNING_RATE_SCALE``
    times as fast as the other weights (StyleGAN's learning-rate multiplier): Adam moves a weight by about the
    learning rate a step, and a border 1.5 times too bright is 0.4 in log gain, about 90 epochs of data set A at
    2e-4. Measured on data set A (docs/reproduction.md): at weight 1 two seeds of three fail from their first
    epochs; where a run trains the ring stops being a cue, but the two-sample AUC is no lower."""

    LEARNING_RATE_SCALE = 10.0

    def __init__(self, rings: int, **kwargs):
        super().__init__(**kwargs)
        if not 1 <= rings <= IMAGE_SIZE // 2:
            raise ArgumentError(f"EdgeGain needs 1 to {IMAGE_SIZE // 2} rings, got {rings}")
        self.rings = int(rings)

    def build(self, input_shape):
        self.log_gain = self.add_weight(shape=(self.rings,), initializer="zeros", name="log_gain")

    def log_gains(self):
        """The rings' log gains, outermost first."""
        return self.LEARNING_RATE_SCALE * ops.cast(self.log_gain, "float32")

    def call(self, x):
        # pixels further in than the rings have no one-hot and keep a gain of exp(0) = 1
        gain = ops.exp(ops.matmul(edge_ring_indicator(IMAGE_SIZE, self.rings), self.log_gains()))
        return (ops.cast(x, "float32") + 1.0) * ops.reshape(gain, (1, IMAGE_SIZE, IMAGE_SIZE, 1)) - 1.0

    def get_config(self):
        return {**super().get_config(), "rings": self.rings}


@keras.saving.register_keras_serializable(package="spect_toolkit")
class MinibatchStd(layers.Layer):
    """One more feature map: the standard deviation of each feature across the batch, averaged to one number
    (ProGAN's minibatch standard deviation). A discriminator that sees how alike a batch is can push a generator
    that makes too alike slices (the low diversity the paper saw in bilateral slices)."""

    def call(self, x):
        x32 = ops.cast(x, "float32")
        std = ops.sqrt(ops.var(x32, axis=0) + 1e-8)  # (H, W, C): spread across the batch
        level = ops.mean(std)
        shape = ops.shape(x)
        plane = ops.broadcast_to(ops.reshape(ops.cast(level, x.dtype), (1, 1, 1, 1)), (shape[0], shape[1], shape[2], 1))
        return ops.concatenate([x, plane], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 1)


class ConditionProjection(layers.Layer):
    """The projection discriminator's conditional term (Miyato and Koyama, 2018): the inner product of the
    discriminator's last features, averaged over the image, with the condition's embedding. Given as input channels
    alone, the condition reaches the output through every layer's non-linearity, and the generator can draw a defect
    slice half-way to a normal one; the projection makes the logit differ between conditions by a term linear in
    the features.

    Averaged, not summed as Miyato and Koyama's: summed over the 4x4 features the term starts nine to twenty times
    the size of the rest of the logit, and two runs of data set A drew no level's anatomy by epoch 35, where the same
    runs without the term did (docs/reproduction.md)."""

    def call(self, features, embedded):
        pooled = ops.mean(ops.cast(features, "float32"), axis=(1, 2))
        return ops.sum(pooled * ops.cast(ops.reshape(embedded, ops.shape(pooled)), "float32"), axis=-1, keepdims=True)

    def compute_output_shape(self, features_shape, embedded_shape):
        return (features_shape[0], 1)  # as the flattened logits


def _down_block(x, filters: int, config: GanConfig, name: str):
    x = _conv(config, filters, 4, strides=2, name=f"{name}_conv")(x)
    x = FusedBatchNormalization(name=f"{name}_bn")(x)
    return layers.LeakyReLU(0.2, name=f"{name}_lrelu")(x)


def build_discriminator(config: GanConfig, condition_size: int) -> keras.Model:
    """``D([x, y]) -> (logits (n,), B1 (n,16,16,.), B2 (n,8,8,.))``: B1/B2 are the 2nd and 3rd down blocks; ``x``
    is what :func:`.step.discriminator_view` makes of a batch (``config.discriminator_image_channels``)."""
    ch = d_channels(config.width)
    image = keras.Input((IMAGE_SIZE, IMAGE_SIZE, config.discriminator_image_channels), name="image")
    y = keras.Input((condition_size,), name="condition")
    x = ConditionChannels(name="condition_image")(image, y)
    x = _conv(config, ch[64], 3, bias=True, name="input_conv")(x)
    x = layers.LeakyReLU(0.2, name="input_lrelu")(x)
    feats = {}
    for size in (32, 16, 8, 4):
        x = feats[size] = _down_block(x, ch[size], config, f"down{size}")
    if config.minibatch_std:
        x = MinibatchStd(name="minibatch_std")(x)
    x = _conv(config, ch[4], 1, name="output_conv1")(x)
    x = FusedBatchNormalization(name="output_bn")(x)
    x = layers.LeakyReLU(0.2, name="output_lrelu")(x)
    features = x
    x = _conv(config, 1, 4, padding="valid", bias=True, name="output_conv2")(x)
    logits = layers.Flatten(dtype="float32", name="logits")(x)
    if config.projection_discriminator:
        # a 1x1 convolution of the condition as a 1x1 image: the embedding spectrally normalised as every layer is
        condition_image = layers.Reshape((1, 1, condition_size), name="condition_pixel")(y)
        embedded = _conv(config, ch[4], 1, name="condition_embedding")(condition_image)
        projection = ConditionProjection(dtype="float32", name="condition_projection")(features, embedded)
        logits = layers.Add(dtype="float32", name="logits_projected")([logits, projection])
    return keras.Model([image, y], [logits, feats[16], feats[8]], name="discriminator")


def build_decoder(config: GanConfig, in_channels: int, out_size: int, name: str) -> keras.Model:
    """FastGAN's simple decoder: 8x8 features up-sampled to an ``out_size`` image in [-1, 1]."""
    features = keras.Input((8, 8, in_channels), name="features")
    x, size = features, 8
    while size < out_size:
        size *= 2
        x = _up_block(x, max(in_channels // (size // 8), 8), config, f"{name}_up{size}")
    x = layers.Conv2D(1, 3, padding="same", name=f"{name}_out")(x)
    out = layers.Activation("tanh", dtype="float32", name=f"{name}_tanh")(x)
    return keras.Model(features, out, name=name)


def build_networks(config: GanConfig, condition_size: int) -> dict[str, keras.Model]:
    """Generator, discriminator, and the decoders for the whole image (from B2) and a quarter crop (from B1)."""
    ch = d_channels(config.width)
    return {
        "generator": build_generator(config, condition_size),
        # with the flip flag the discriminator's condition has one column more: the flag
        "discriminator": build_discriminator(config, condition_size + config.flip_flag),
        "decoder_whole": build_decoder(config, ch[8], IMAGE_SIZE, "decoder_whole"),
        "decoder_part": build_decoder(config, ch[16], IMAGE_SIZE // 2, "decoder_part"),
    }
