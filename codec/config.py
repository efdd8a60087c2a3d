"""Frozen configuration records: the model architecture and the rate-distortion ladder.

A :class:`ModelConfig` is stored inside every checkpoint next to the weights, so a checkpoint always says
how to rebuild its network (channel counts are never inferred from weight shapes).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

#: Lagrange multipliers of quality levels 1..8: loss = lambda * 255^2 * MSE + bpp. CompressAI's MSE ladder
#: with one step added at the bottom (0.0009: our models need it to reach 0.12 bpp on Kodak) and 0.0932 left
#: out (its models landed within 0.02 bpp and 0.12 dB of 0.18's: the synthesis, not the rate, limits there).
QUALITY_LAMBDAS: tuple[float, ...] = (0.0009, 0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483, 0.1800)

MIN_QUALITY = 1
MAX_QUALITY = len(QUALITY_LAMBDAS)

#: Decoding refuses streams that declare more pixels than this (a decompression-bomb guard); the API's
#: ``max_pixels`` and the CLI's ``--max-pixels`` change it. It is the size at which Pillow itself refuses to
#: open an image (2 x PIL.Image.MAX_IMAGE_PIXELS, its DecompressionBombError): every image that encoding
#: accepts by default decodes by default (a 48-megapixel phone photo among them).
DEFAULT_MAX_PIXELS = 178_956_970

#: Model families this version knows how to build (aecodec.models.MODEL_CLASSES maps each to its class).
FAMILIES: tuple[str, ...] = ("factorized", "hyperprior", "variable-rate")

#: Qualities are multiples of 1 / QUALITY_STEPS: a variable-rate model codes any of them (streams record
#: ``quality * QUALITY_STEPS`` as an integer), a ladder only the integer levels. One step moves the rate by
#: about 1% (the rate grows 1.5-2x per level), fine enough to aim a file at a size within 3%.
QUALITY_STEPS = 64


def exact_quality(quality: float) -> int | float:
    """``quality`` rounded to the nearest multiple of 1 / QUALITY_STEPS, as the int it is when whole (the
    value a stream records and a codec reports); outside MIN_QUALITY..MAX_QUALITY raises ValueError."""
    try:
        steps = round(float(quality) * QUALITY_STEPS)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"quality must be a number in {MIN_QUALITY}..{MAX_QUALITY}, got {quality!r}") from None
    if not MIN_QUALITY * QUALITY_STEPS <= steps <= MAX_QUALITY * QUALITY_STEPS:
        raise ValueError(f"quality must be in {MIN_QUALITY}..{MAX_QUALITY}, got {quality}")
    return steps // QUALITY_STEPS if steps % QUALITY_STEPS == 0 else steps / QUALITY_STEPS


def lambda_for_quality(quality: float) -> float:
    """The rate-distortion lambda of a quality (1 = smallest files, 8 = best quality): a level's own, and
    between levels interpolated on a log scale (the levels' lambdas are about a factor 2 apart)."""
    quality = exact_quality(quality)
    low = min(int(quality), MAX_QUALITY - 1)
    t = quality - low
    return QUALITY_LAMBDAS[low - 1] ** (1 - t) * QUALITY_LAMBDAS[low] ** t


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of one autoencoder.

    Args:
        family: model family; "factorized" is the Balle et al. 2018 factorized-prior autoencoder,
            "hyperprior" the scale hyperprior of the same paper (codec/models/hyperprior.py), "variable-rate"
            that hyperprior with a learned quantization gain per quality (codec/models/variable_rate.py).
        N: channels of the hidden layers of the analysis and synthesis transforms.
        M: channels of the latent y (the tensor that is entropy coded).
        means: hyperprior only: the hyper-synthesis also predicts the mean of each latent element (a
            "mean-scale" hyperprior, Minnen et al. 2018 without the context model), and the hyper-analysis
            also sees the sign of y, which |y| hides.
    """

    family: str = "factorized"
    N: int = 128
    M: int = 192
    means: bool = False

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"unknown model family {self.family!r}; valid: {', '.join(FAMILIES)}")
        if self.N < 1 or self.M < 1:
            raise ValueError(f"channel counts must be positive, got N={self.N}, M={self.M}")
        if self.means and self.family != "hyperprior":  # (variable-rate: scale-only so far)
            raise ValueError("only a hyperprior can predict means")

    def to_dict(self) -> dict:
        data = asdict(self)
        if not self.means:
            del data["means"]  # scale-only configs stay as they were before means existed
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        known = {"family", "N", "M", "means"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        return cls(**data)


#: Named architecture presets. "tiny" exists for tests; "small" is what the first shipped checkpoints use
#: (measured on the 2-core CPU: 0.86 Mpixel/s of training against 0.27 for "base" at 128x128 crops);
#: "base" is CompressAI's bmshj2018-factorized size for qualities 1-5.
PRESETS: dict[str, ModelConfig] = {
    "tiny": ModelConfig(N=8, M=8),
    "small": ModelConfig(N=64, M=128),
    "medium": ModelConfig(N=96, M=160),
    "base": ModelConfig(N=128, M=192),
    "hyperprior-tiny": ModelConfig(family="hyperprior", N=8, M=8),
    "hyperprior-small": ModelConfig(family="hyperprior", N=64, M=128),
    "hyperprior-base": ModelConfig(family="hyperprior", N=128, M=192),
    # the small transforms with twice the latent channels (about 12% more compute per pixel): a model trained
    # with M=128 can start them, coding exactly as before (codec/training/widen.py)
    "wide": ModelConfig(N=64, M=256),
    "hyperprior-wide": ModelConfig(family="hyperprior", N=64, M=256),
    # the same with means (two 1x1 convolutions more, 33k weights): a scale-only model starts it unchanged
    "hyperprior-mean-tiny": ModelConfig(family="hyperprior", N=8, M=8, means=True),
    "hyperprior-mean-wide": ModelConfig(family="hyperprior", N=64, M=256, means=True),
    # the variable-rate hyperprior (one network for every quality): the shipped size, and one for tests
    "variable-rate-tiny": ModelConfig(family="variable-rate", N=8, M=8),
    "variable-rate-wide": ModelConfig(family="variable-rate", N=64, M=256),
    # wider transforms, grown from the shipped one by --init-from (issue 26's capacity check, docs/training.md)
    "variable-rate-n96": ModelConfig(family="variable-rate", N=96, M=256),
}


def preset(name: str) -> ModelConfig:
    """Return a named :class:`ModelConfig`; unknown names list the valid ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown model preset {name!r}; valid: {', '.join(PRESETS)}") from None


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one training run. The defaults are ``aecodec train``'s: batches of 8 at peak lr 5e-4
    gave the most held-out loss per CPU-hour of the recipes measured (docs/training.md); 128-pixel crops train
    about 1.5x faster per pixel than 256 on the CPU.

    Args:
        lmbda: rate-distortion trade-off (see QUALITY_LAMBDAS).
        steps: total optimizer steps (a resumed run continues up to this count).
        batch_size: crops per step.
        crop_size: side of the square training crops (a multiple of 16).
        lr: peak learning rate of the main optimizer (Adam).
        final_lr_ratio: the cosine schedule ends at lr * final_lr_ratio.
        warmup_steps: linear warm-up from 0 at the start of the run.
        aux_lr: learning rate of the entropy bottleneck's quantile (auxiliary) parameters.
        clip_norm: gradient-norm clipping of the main parameters.
        val_fraction: share of the folder held out for validation (chosen by file-name hash).
        val_crop: side of the centre crops used for validation.
        val_every: steps between validations (and checkpoint saves).
        log_every: steps between CSV log rows.
        seed: seeds the initial weights and the crop sampler.
        compile: run the training forward pass through ``torch.compile`` (measured on the 2-core CPU: 1.3x
            to 1.7x more pixels per second for the "small" preset, after about 45 s of compilation).
        freeze_transforms: keep the analysis and synthesis transforms (g_a, g_s) fixed and train only the
            entropy model: how a hyperprior starts from a trained factorized model without first undoing it.
        rounded_synthesis: the synthesis transforms see the latents rounded, as the decoder will (gradient
            straight through), while the rate is still estimated on latents plus uniform noise ("mixed"
            quantization, Minnen & Singh 2020). Off, they see the noisy latents, which no decoder ever gets.
    """

    lmbda: float = QUALITY_LAMBDAS[5]
    steps: int = 10_000
    batch_size: int = 8
    crop_size: int = 128
    lr: float = 5e-4
    final_lr_ratio: float = 0.05
    warmup_steps: int = 200
    aux_lr: float = 1e-3
    clip_norm: float = 1.0
    val_fraction: float = 0.05
    val_crop: int = 256
    val_every: int = 500
    log_every: int = 50
    seed: int = 0
    compile: bool = False
    freeze_transforms: bool = False
    rounded_synthesis: bool = False

    def __post_init__(self) -> None:
        if self.crop_size % 16 or self.val_crop % 16:
            raise ValueError("crop_size and val_crop must be multiples of 16")
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("steps and batch_size must be positive")


@dataclass(frozen=True)
class VariableRateConfig(TrainConfig):
    """Hyperparameters of a variable-rate training round (``aecodec train --variable-rate``): every batch holds
    crops of every quality level (crop i at level i mod 8), each crop's loss at its level's lambda divided by
    that level's reference held-out loss, so every level weighs about the same. The defaults are the recipe of
    the shipped rounds (docs/training.md); ``lmbda`` is unused.

    Args (beyond TrainConfig's):
        gain_lr: learning rate of the per-level, per-channel gains (they move much further than the weights).
        distill: weight of pulling each level's reconstruction towards the shipped ladder model's of that level.
        max_minutes: stop after this many minutes of wall time (the cosine runs over whichever of ``steps``
            and the time ends first): a round that must fit a fixed slot, such as a lent GPU's.
        bf16: run g_a and g_s under bfloat16 autocast (the entropy models and the loss stay float32); None: on
            a GPU only. On a CPU with native bfloat16 a step takes less than half the time (docs/training.md).
    """

    steps: int = 20_000
    crop_size: int = 256
    lr: float = 1e-4
    final_lr_ratio: float = 0.1
    gain_lr: float = 3e-3
    distill: float = 0.0
    max_minutes: float | None = None
    bf16: bool | None = None

