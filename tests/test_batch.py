"""compress_many / decompress_many equal one-at-a-time coding byte for byte; decoding to arrays; the Dataset."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from aecodec.api import load_codec
from aecodec.dataset import AecFolder

from conftest import KODAK, natural_like


def mixed_images() -> list[Image.Image]:
    """Three of one size (batched together), an RGBA of that size, a gray one alone, a many-tile one."""
    same = [Image.fromarray(natural_like(40, 24, seed=s), "RGB") for s in range(3)]
    return [*same, same[0].convert("RGBA"), Image.fromarray(natural_like(17, 9), "RGB").convert("L"),
            Image.fromarray(natural_like(300, 40, seed=7), "RGB"), same[1]]  # fmt: skip


@pytest.mark.parametrize("model_id", ["factorized", "hyperprior"])
@pytest.mark.parametrize("batch", [1, 3])
def test_batches_equal_one_at_a_time(tiny_zoo, model_id, batch):
    codec = load_codec(model_id, 1, checkpoint_dir=tiny_zoo, tile=8)  # 300 px wide: several tiles
    images = mixed_images()
    shared = codec._batches([(im.height, im.width) for im in images], batch)  # the forward passes shared
    assert shared == ([] if batch == 1 else [[0, 1, 2], [3, 6]])
    streams = codec.compress_many(images, batch=batch)
    assert streams == [codec.compress(image) for image in images]
    decoded = codec.decompress_many(streams, batch=batch)
    for got, data in zip(decoded, streams):
        expected = codec.decompress(data)
        assert got.mode == expected.mode and np.array_equal(np.asarray(got), np.asarray(expected))


def test_decode_to_numpy_and_torch(tiny_zoo):
    codec = load_codec("factorized", 2, checkpoint_dir=tiny_zoo)
    for image, bands in zip(mixed_images()[2:5], (3, 4, 1)):
        data = codec.compress(image)
        pil = np.asarray(codec.decompress(data))
        array = codec.decompress(data, output="numpy")
        tensor = codec.decompress(data, output="torch")
        assert array.dtype == np.uint8 and array.shape == (image.height, image.width, bands)
        assert tensor.dtype == torch.uint8 and tuple(tensor.shape) == (bands, image.height, image.width)
        assert np.array_equal(array.reshape(pil.shape), pil)
        assert np.array_equal(tensor.permute(1, 2, 0).numpy(), array)
        assert np.array_equal(codec.decompress_many([data], output="numpy")[0], array)
    with pytest.raises(ValueError, match="output"):
        codec.decompress(data, output="jpeg")


def test_dataset_with_worker_processes(tiny_zoo, tmp_path):
    codec = load_codec("hyperprior", 1, checkpoint_dir=tiny_zoo)
    images = mixed_images()[:3]
    for i, data in enumerate(codec.compress_many(images)):
        (tmp_path / f"{i}.aec").write_bytes(data)
    dataset = AecFolder(tmp_path, transform=lambda x: x.float() / 255, checkpoint_dir=tiny_zoo)
    loader = DataLoader(dataset, batch_size=3, num_workers=2)
    (batch,) = list(loader)
    assert tuple(batch.shape) == (3, 3, 24, 40)
    for i in range(3):
        expected = codec.decompress((tmp_path / f"{i}.aec").read_bytes(), output="torch").float() / 255
        assert torch.equal(batch[i], expected)
    assert dataset._codecs == {}  # the models were loaded in the workers, not here


@pytest.mark.skipif(not KODAK.is_dir(), reason="Kodak images not present")
def test_kodak_batches_equal_one_at_a_time(tiny_zoo):
    codec = load_codec("hyperprior", 2, checkpoint_dir=tiny_zoo)
    images = [Image.open(p).convert("RGB") for p in sorted(KODAK.glob("*.png"))]
    assert len(images) == 24
    streams = codec.compress_many(images, batch=4)
    assert streams == [codec.compress(image) for image in images]
    for got, data in zip(codec.decompress_many(streams, output="numpy", batch=4), streams):
        assert np.array_equal(got, codec.decompress(data, output="numpy"))
