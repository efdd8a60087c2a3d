"""The Python API: compress images to .aec bytes and back.

Load a model once with :func:`load_codec` to code many images; :func:`compress` and :func:`decompress` are
one-shot conveniences that load the model they need on each call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
from PIL import Image

from . import container, images, refine, tiling, zoo
from .adapter import Adapter, apply_adapter, check_base, check_stream, read_adapter
from .checkpoint import load_final
from .config import DEFAULT_MAX_PIXELS, MAX_QUALITY, MIN_QUALITY, QUALITY_STEPS, exact_quality, lambda_for_quality
from .container import Header
from .errors import CorruptStreamError, ImageInputError, UnknownModelError
from .models.inference import InferenceTransforms, native_bfloat16
from .models.variable_rate import AtQuality

#: Side of the coding tiles in latent positions (1024 pixels for the factorized model): images up to that
#: size are one tile, exactly as if untiled; larger ones are coded tile by tile in bounded memory.
DEFAULT_TILE = 64

#: Most images of one size in one forward pass of :meth:`ImageCodec.compress_many` / ``decompress_many`` off the
#: CPU. On the CPU the default is 1: there a stack of 4 Kodak images coded slower than one at a time
#: (benchmarks/results/batch_throughput.json), as one image already keeps the cores busy.
DEFAULT_BATCH = 4


class ImageCodec:
    """A loaded model at one quality: codes images to .aec bytes and back.

    Args:
        model: a model with frozen entropy tables (from :func:`aecodec.checkpoint.load_final`).
        model_id: the id written into every stream (e.g. "factorized").
        quality: the quality level written into every stream.
        device: where the transforms run (entropy coding always runs on the CPU).
        tile: side of the coding tiles in latent positions (see :mod:`aecodec.tiling`); decoding follows the
            tile side the stream declares.
        refine_steps: encoder-side refinement of the latent (:mod:`aecodec.refine`): 0 codes g_a's latent as
            it is (fast, byte-identical on any thread count); ``aecodec.refine.DEFAULT_STEPS`` (40) makes smaller
            files of better quality at many times the encoding time. Decoding is the same either way.
        adapter: the :class:`~aecodec.adapter.Adapter` merged into ``model`` (None: the base model); a
            decoder-side one is recorded in every stream and required by decoding.
        bf16_analysis: run the analysis transform's inner convolutions in bfloat16 (encoding only: twice as fast
            there, the same rate and PSNR to 0.03%, see :mod:`aecodec.models.inference`); None: where the CPU has
            native bfloat16 arithmetic. False keeps encoding all float32. Decoding is the same either way.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        model_id: str,
        quality: int,
        device: str | torch.device = "cpu",
        tile: int = DEFAULT_TILE,
        refine_steps: int = 0,
        adapter: Adapter | None = None,
        bf16_analysis: bool | None = None,
    ) -> None:
        if refine_steps < 0:
            raise ValueError(f"refine_steps must be >= 0, got {refine_steps}")
        if not container.MIN_TILE <= tile <= container.MAX_TILE:
            raise ValueError(f"tile must be {container.MIN_TILE}..{container.MAX_TILE} latent positions, got {tile}")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.model_id = model_id
        self.quality = quality
        self.tile = tile
        self.refine_steps = refine_steps
        self.adapter = adapter
        self.bf16_analysis = native_bfloat16(self.device) if bf16_analysis is None else bf16_analysis
        self.refine_lr = refine.DEFAULT_LR  # Adam's step size on the latent; change it to experiment
        self.factor = model.latent_factor  # pixels per latent position
        self.padding_factor = model.downsampling_factor  # the padded image's sides are multiples of this
        self._transforms: InferenceTransforms | None = None

    @property
    def transforms(self) -> InferenceTransforms:
        """The analysis and synthesis this codec runs: inference-only forms of the model's (built on first
        use, see :mod:`aecodec.models.inference`); refinement uses the model's own, which have gradients.
        Built again whenever g_a's or g_s's weights have changed since (an adapter merged into the model after
        the codec was made): they are copies, and never code with weights the model no longer has."""
        if self._transforms is None or self._transforms.stale():
            self._transforms = InferenceTransforms(self.model, self.bf16_analysis)
        return self._transforms

    @property
    def variable_rate(self) -> bool:
        """Whether the loaded model codes every quality (:meth:`at_quality`), not one level of a ladder."""
        return isinstance(self.model, AtQuality)

    def at_quality(self, quality: float) -> "ImageCodec":
        """The same variable-rate model at another quality, sharing its weights (nothing is loaded again)."""
        if not self.variable_rate:
            raise ValueError(f"{self.model_id} is a ladder model: load each quality with load_codec")
        codec = ImageCodec(self.model.model.at_quality(quality), self.model_id, exact_quality(quality), self.device,
                           self.tile, self.refine_steps, self.adapter, self.bf16_analysis)  # fmt: skip
        if self._transforms is not None:  # same weights: share the inference forms, with the other gains
            codec._transforms = self._transforms.at(codec.model)
        return codec

    def __repr__(self) -> str:
        return f"ImageCodec(model_id={self.model_id!r}, quality={self.quality}, device={str(self.device)!r})"

    def latent_shape(self, width: int, height: int) -> tuple[int, int]:
        """Shape of the latent y of an image: its padded size over the latent factor."""
        per = self.padding_factor // self.factor
        return (math.ceil(height / self.padding_factor) * per, math.ceil(width / self.padding_factor) * per)

    @torch.no_grad()
    def compress(self, image, on_refine: Callable[[int, int], None] | None = None) -> bytes:
        """Code an image (PIL image, H x W x 3 uint8 array or C x H x W float tensor) into .aec bytes.

        ``on_refine(done, total)`` reports the progress of refinement in steps (when it runs).
        """
        prepared = self._prepare(image)
        return self._code(prepared, self._analyse(prepared), on_refine)

    @torch.no_grad()
    def compress_many(self, images: Iterable, batch: int | None = None) -> list[bytes]:
        """Code several images with this loaded model; the result equals ``[compress(im) for im in images]``
        byte for byte.

        Images of the same size that fit in one tile go through the analysis transform together, ``batch``
        at a time (one forward pass over a stack of them); the others one by one, tile by tile. Entropy
        coding is per image. Threads: the transforms use torch's intra-op thread pool (``torch.set_num_threads``
        in your program; aecodec never changes it), everything else runs on the calling thread. To use more
        cores or machines, run one codec per process over part of the images: the streams are independent.

        Args:
            images: PIL images, uint8 arrays or float tensors, as :meth:`compress` takes.
            batch: most images in one forward pass (1: no batching; None: 1 on the CPU, :data:`DEFAULT_BATCH`
                on other devices). Every image's stream is the same
                whatever the batch: the batched convolutions were measured bit-identical to one-at-a-time
                on CPU (tests/test_batch.py checks it).
        """
        prepared = [self._prepare(image) for image in images]
        latents = {}
        for indexes in self._batches([p.pixels.shape[:2] for p in prepared], batch):
            x = torch.cat([self._whole_input(prepared[i].pixels) for i in indexes]).to(self.device)
            for i, y in zip(indexes, self.transforms.analysis(x).cpu()):
                latents[i] = y.unsqueeze(0)
        return [self._code(p, latents[i] if i in latents else self._analyse(p)) for i, p in enumerate(prepared)]

    @torch.no_grad()
    def compress_to_size(self, image, target_bytes: float) -> "SizedStream":
        """Code an image into at most ``target_bytes`` bytes, as close to it as the qualities allow (a
        variable-rate model only): the highest quality, in steps of 1/64, whose stream fits. The analysis
        transform runs once; only the quantization and entropy coding repeat (about 9 times, a bisection).
        When even quality 1 does not fit, its stream comes back with ``fits`` False."""
        if not self.variable_rate:
            raise ValueError(f"{self.model_id} is a ladder model: aiming at a size needs a variable-rate model")
        if not target_bytes > 0:
            raise ValueError(f"target size must be positive, got {target_bytes}")
        prepared = self._prepare(image)
        latent = self._analyse(prepared) / self.model.gain.cpu()  # unscaled: each quality scales its own

        def code(steps: int) -> bytes:
            at = self.at_quality(steps / QUALITY_STEPS)
            return at._code(prepared, latent * at.model.gain.cpu())

        low, high = MIN_QUALITY * QUALITY_STEPS, MAX_QUALITY * QUALITY_STEPS
        best = code(low)
        if len(best) > target_bytes:
            return SizedStream(best, exact_quality(MIN_QUALITY), fits=False)
        best_steps = low
        while low < high:  # invariant: quality low / QUALITY_STEPS fits
            middle = (low + high + 1) // 2
            data = code(middle)
            if len(data) <= target_bytes:
                low, best, best_steps = middle, data, middle
            else:
                high = middle - 1
        return SizedStream(best, exact_quality(best_steps / QUALITY_STEPS), fits=True)

    def _prepare(self, image) -> images.PreparedImage:
        prepared = images.prepare(image)
        if prepared.width > container.MAX_DIMENSION or prepared.height > container.MAX_DIMENSION:
            raise ImageInputError(
                f"image of {prepared.width}x{prepared.height} exceeds the largest side of {container.MAX_DIMENSION}"
            )
        return prepared

    def _batches(self, sizes: list[tuple[int, int]], batch: int | None) -> list[list[int]]:
        """Indexes of the images (by pixel size (h, w)) that share a forward pass: same size, one tile."""
        if batch is None:
            batch = 1 if self.device.type == "cpu" else DEFAULT_BATCH
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        groups: dict[tuple[int, int], list[int]] = {}
        for i, (h, w) in enumerate(sizes):
            if len(tiling.grid(self.latent_shape(w, h), self.tile)) == 1:
                groups.setdefault((h, w), []).append(i)
        chunks = [g[k : k + batch] for g in groups.values() for k in range(0, len(g), batch)]
        return [c for c in chunks if len(c) > 1]  # an image alone takes the one-image path

    def _whole_input(self, pixels: np.ndarray) -> torch.Tensor:
        """The padded model input of a one-tile image, as tiling.analyse builds it for its only tile."""
        latent_shape = self.latent_shape(pixels.shape[1], pixels.shape[0])
        (only,) = tiling.grid(latent_shape, self.tile)
        x, _ = tiling.tile_input(pixels, only, self.model.latent_margin, self.factor, latent_shape)
        return x

    def _analyse(self, prepared: images.PreparedImage) -> torch.Tensor:
        """The latent y (1, M, h, w) of one image on the CPU, tile by tile."""
        latent_shape = self.latent_shape(prepared.width, prepared.height)
        # The image is padded up to the model's multiple by repeating its edges (smoother than zeros, so the
        # padding costs fewer bits), inside tiling.tile_input.
        y = None
        for t, y_tile in tiling.analyse(self.transforms.analysis, prepared.pixels, latent_shape, self.tile,
                                        self.model.latent_margin, self.factor, self.device):  # fmt: skip
            if y is None:  # the whole latent (1/256 of the pixels): a hyperprior codes side information of it
                y = y_tile.new_empty((1, y_tile.shape[1], *latent_shape), device="cpu")
            y[..., t.top : t.bottom, t.left : t.right] = y_tile.cpu()
        return y

    def _code(
        self, prepared: images.PreparedImage, y: torch.Tensor, on_refine: Callable[[int, int], None] | None = None
    ) -> bytes:
        """Refine (if asked), entropy-code and pack the latent ``y`` of ``prepared``."""
        h, w = prepared.height, prepared.width
        latent_shape = self.latent_shape(w, h)
        if self.refine_steps:
            lmbda = lambda_for_quality(self.quality)
            y = refine.refine_latent(self.model, y.to(self.device), prepared.pixels, lmbda, self.refine_steps,
                                     self.refine_lr, on_step=on_refine).cpu()  # fmt: skip
        strings, side = self.model.compress_side(y)
        for t in tiling.grid(latent_shape, self.tile):
            strings.append(self.model.compress_latent(y[..., t.top : t.bottom, t.left : t.right], t, side))
        if prepared.alpha is not None:
            strings.append(images.compress_alpha(prepared.alpha))
        adapter = self.adapter.ref if self.adapter is not None else None  # None: an ordinary stream
        header = Header(self.model_id, self.quality, w, h, prepared.mode, latent_shape, self.tile, adapter)
        return container.pack(header, strings)

    @torch.no_grad()
    def decompress(self, data: bytes, max_pixels: int | None = DEFAULT_MAX_PIXELS, output: str = "pil"):
        """Decode .aec bytes written by this model and quality.

        Args:
            data: the stream.
            max_pixels: refuse streams that declare a larger image (None: no limit).
            output: "pil" for a PIL image; "numpy" for an H x W x C uint8 array and "torch" for a C x H x W
                uint8 tensor (C = 1, 2, 3, 4 for L, LA, RGB, RGBA), made straight from the decoded pixels
                without a PIL image: for training pipelines.

        Raises:
            CorruptStreamError: malformed stream, or one written by another model or quality.
        """
        _check_output(output)
        header, y_hat, alpha = self.decode_latent(data, max_pixels)
        return _finish(self._synthesise(header, y_hat), header.mode, alpha, output)

    @torch.no_grad()
    def decompress_many(
        self, streams: Iterable[bytes], max_pixels: int | None = DEFAULT_MAX_PIXELS, output: str = "pil",
        batch: int | None = None,
    ) -> list:  # fmt: skip
        """Decode several streams of this model and quality; the result equals ``[decompress(s) for s in
        streams]`` pixel for pixel. Entropy decoding is per stream; streams of the same one-tile latent go
        through the synthesis transform together, ``batch`` at a time. Threads as in :meth:`compress_many`.

        Args:
            streams: .aec bytes; ``max_pixels`` and ``output`` as in :meth:`decompress`.
            batch: most images in one forward pass, as in :meth:`compress_many`.
        """
        _check_output(output)
        decoded = [self.decode_latent(data, max_pixels) for data in streams]
        sizes = [(header.height, header.width) for header, _, _ in decoded]
        pixels = {}
        for indexes in self._batches(sizes, batch):
            x_hat = self.transforms.synthesis(torch.cat([decoded[i][1] for i in indexes]).to(self.device))
            for i, x in zip(indexes, x_hat):
                h, w = sizes[i]
                pixels[i] = images.to_pixels(x[None, :, :h, :w], decoded[i][0].mode)
        return [
            _finish(pixels[i] if i in pixels else self._synthesise(header, y_hat), header.mode, alpha, output)
            for i, (header, y_hat, alpha) in enumerate(decoded)
        ]

    def _synthesise(self, header: Header, y_hat: torch.Tensor) -> np.ndarray:
        """The 8-bit pixels of a decoded latent, tile by tile (see :func:`aecodec.images.to_pixels`)."""
        gray = header.mode in ("L", "LA")
        pixels = np.empty((header.height, header.width) if gray else (header.height, header.width, 3), np.uint8)
        f = self.factor
        for t, x_hat in tiling.synthesise(self.transforms.synthesis, y_hat.to(self.device), header.tile,
                                          self.model.latent_margin, f):  # fmt: skip
            # Tiles on the right and bottom edges also hold the padding: keep the image's part only.
            bottom, right = min(t.bottom * f, header.height), min(t.right * f, header.width)
            x_hat = x_hat[..., : bottom - t.top * f, : right - t.left * f]
            pixels[t.top * f : bottom, t.left * f : right] = images.to_pixels(x_hat, header.mode)
        return pixels

    @torch.no_grad()
    def decode_latent(
        self, data: bytes, max_pixels: int | None = DEFAULT_MAX_PIXELS
    ) -> tuple[Header, torch.Tensor, np.ndarray | None]:
        """Entropy-decode a stream: its header, the quantized latent y_hat (1, M, h, w) on the CPU, and
        the alpha plane (None without one). Everything before the synthesis transform: exact integers
        wherever the stream was written or is decoded.

        Raises:
            CorruptStreamError: malformed stream, or one written by another model or quality.
            AdapterError: a stream that needs another adapter than this codec's (or none).
        """
        header, strings = container.unpack(data)
        if (header.model_id, header.quality) != (self.model_id, self.quality):
            raise CorruptStreamError(
                f"stream was written by {header.model_id} quality {header.quality}, "
                f"not {self.model_id} quality {self.quality}"
            )
        check_stream(header.adapter, self.adapter)
        check_size(header, max_pixels)
        if header.latent_shape != self.latent_shape(header.width, header.height):
            raise CorruptStreamError(
                f"latent shape {header.latent_shape} does not fit a {header.width}x{header.height} image"
            )
        has_alpha = header.mode in ("LA", "RGBA")
        tiles = tiling.grid(header.latent_shape, header.tile)
        n_side = self.model.side_strings
        expected = n_side + len(tiles) + has_alpha
        if len(strings) != expected:
            side = f"{n_side} of side information, " if n_side else ""
            raise CorruptStreamError(
                f"expected {expected} coded strings ({side}{len(tiles)} tiles"
                f"{' and the alpha plane' if has_alpha else ''}), found {len(strings)}"
            )
        alpha = None
        if has_alpha:
            try:
                alpha = images.decompress_alpha(strings[-1], header.width, header.height)
            except ValueError as exc:
                raise CorruptStreamError(str(exc)) from None
        # The synthesis of a tile needs its neighbours' latents: decode all tiles first (the latent is
        # 1/256 of the pixels), then reconstruct tile by tile straight into the 8-bit output.
        side = self.model.decompress_side(strings[:n_side], header.latent_shape, layout=header.tile_layout)
        y_hat = None
        for t, string in zip(tiles, strings[n_side:]):
            y_tile = self.model.decompress_latent(string, t, side)
            if y_hat is None:
                y_hat = y_tile.new_empty((1, y_tile.shape[1], *header.latent_shape))
            y_hat[..., t.top : t.bottom, t.left : t.right] = y_tile
        return header, y_hat, alpha


@dataclass(frozen=True)
class SizedStream:
    """What :meth:`ImageCodec.compress_to_size` made: the stream, the quality it was coded at, and whether it
    fits the target (False: the smallest stream the model can make is larger)."""

    data: bytes
    quality: int | float
    fits: bool


OUTPUTS = ("pil", "numpy", "torch")


def _check_output(output: str) -> None:
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {', '.join(OUTPUTS)}; got {output!r}")


def _finish(pixels: np.ndarray, mode: str, alpha: np.ndarray | None, output: str):
    """Decoded pixels and alpha -> what ``output`` asks for."""
    if output == "pil":
        return images.to_image(pixels, mode, alpha)
    array = images.to_array(pixels, alpha)
    return torch.from_numpy(array).permute(2, 0, 1).contiguous() if output == "torch" else array


def check_size(header: Header, max_pixels: int | None, option: str = "max_pixels=None") -> None:
    """Refuse streams that declare an image larger than ``max_pixels`` (None: no limit); the message names
    ``option``, the way to lift the limit in the interface the caller offers."""
    pixels = header.width * header.height
    if max_pixels is not None and pixels > max_pixels:
        raise CorruptStreamError(
            f"stream declares a {header.width}x{header.height} image ({pixels} pixels), over the limit of "
            f"{max_pixels}; pass {option} to decode it anyway"
        )


def load_codec(
    model_id: str = zoo.DEFAULT_MODEL_ID,
    quality: float = zoo.DEFAULT_QUALITY,
    device: str | torch.device = "cpu",
    checkpoint_dir: str | Path | None = None,
    tile: int = DEFAULT_TILE,
    refine_steps: int = 0,
    adapter: str | Path | Adapter | None = None,
    bf16_analysis: bool | None = None,
) -> ImageCodec:
    """Load a shipped model (sha256-checked) ready to code images.

    Args:
        model_id: model, see ``aecodec models`` (a stable alias such as "hyperprior-vr" is resolved: the
            codec and its streams carry the concrete id).
        quality: 1 (smallest files) .. 8 (best quality): a ladder model's whole levels, or for a
            variable-rate model any value between, rounded to a multiple of 1/64.
        device: "cpu" or "cuda".
        checkpoint_dir: folder with MANIFEST.json (default: the installed checkpoints).
        tile: side of the coding tiles in latent positions: smaller tiles code huge images in less memory
            (and a few bytes more per tile).
        refine_steps: encoder-side refinement steps (see :class:`ImageCodec`); 0 = none.
        adapter: an adapter file made by ``aecodec adapt`` for this model (or one read with
            :func:`aecodec.adapter.read_adapter`): its updates are merged into the weights.
        bf16_analysis: see :class:`ImageCodec` (None: where the CPU has native bfloat16 arithmetic).

    Raises:
        UnknownModelError: no such model id or quality.
        CheckpointError: the checkpoint is missing, damaged or tampered with.
        AdapterError: the adapter file is missing or damaged, or was made for another model.
    """
    try:
        quality = exact_quality(quality)  # 6.0 -> 6: a whole level is an int wherever it is shown
    except ValueError as exc:
        raise UnknownModelError(str(exc)) from None
    entry = zoo.lookup(model_id, quality, checkpoint_dir)
    if adapter is not None:  # read and checked before the model loads: a wrong adapter fails fast
        adapter = adapter if isinstance(adapter, Adapter) else read_adapter(adapter)
        check_base(adapter, entry.model_id, entry.sha256)
    model = load_final(entry.path, expected_sha256=entry.sha256)
    if adapter is not None:
        apply_adapter(model, adapter)
    if entry.variable_rate:
        model = model.at_quality(quality)
        quality = model.quality  # rounded to the step a stream records
    return ImageCodec(model, entry.model_id, quality, device, tile, refine_steps, adapter, bf16_analysis)


def read_header(data: bytes) -> Header:
    """Parse and validate an .aec stream (checksum included) and return its header."""
    header, _ = container.unpack(data)
    return header


def compress(
    image,
    quality: int = zoo.DEFAULT_QUALITY,
    model_id: str = zoo.DEFAULT_MODEL_ID,
    device: str | torch.device = "cpu",
    checkpoint_dir: str | Path | None = None,
) -> bytes:
    """Code one image into .aec bytes (loads the model; use :func:`load_codec` for many images)."""
    return load_codec(model_id, quality, device, checkpoint_dir).compress(image)


def decompress(
    data: bytes,
    device: str | torch.device = "cpu",
    checkpoint_dir: str | Path | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    adapter: str | Path | Adapter | None = None,
) -> Image.Image:
    """Decode .aec bytes into a PIL image, loading the model the stream names (with ``adapter`` when the stream
    needs one: it must be the one it names; a stream that needs none decodes with the base model)."""
    header = container.peek_header(data)  # the model to load; its decompress validates the whole stream
    check_size(header, max_pixels)
    if header.adapter is None:
        adapter = None
    codec = load_codec(header.model_id, header.quality, device, checkpoint_dir, adapter=adapter)
    return codec.decompress(data, max_pixels=max_pixels)
