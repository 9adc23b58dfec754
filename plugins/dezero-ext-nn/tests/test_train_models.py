"""VGG16 and ResNet (dezero_ext_nn.models): DeZero's layer names and shapes, gradients of
reduced-size networks and of the ResNet blocks, ``preprocess``, and ``pretrained=`` weights
from a local file or the cache directory (never the network)."""

from __future__ import annotations

import urllib.error
from pathlib import Path
from typing import IO

import numpy as np
import pytest

from dezero_ext import Array, test_mode
from dezero_ext.testing import CheckOptions, check_layer
from dezero_ext_nn import files
from dezero_ext_nn.files import ChecksumError, DataFileMissingError
from dezero_ext_nn.models import (
    VGG16,
    BottleneckA,
    BottleneckB,
    BuildingBlock,
    ResNet,
    ResNet50,
)

FIRST_ORDER = CheckOptions(max_order=1, examples=1, seed=0)


def _batch(shape: tuple[int, ...], seed: int = 0) -> Array:
    """Noise on an uneven ramp over the batch axis: batch norm's variances stay away from 0 and
    no normalized value lands on a ReLU's kink (a symmetric ramp puts its middle at 0)."""
    noise = np.random.default_rng(seed).uniform(-0.4, 0.4, shape)
    ramp = np.linspace(-1.3, 1.7, shape[0]).reshape((-1,) + (1,) * (len(shape) - 1))
    return noise + ramp


# ---------------------------------------------------------------------- names and shapes
VGG_NAMES = [
    f"conv{s}_{i}" for s, n in ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3)) for i in range(1, n + 1)
] + ["fc6", "fc7", "fc8"]


def test_vgg16_has_dezero_s_layer_names_and_shapes_on_224x224() -> None:
    model = VGG16()
    # fc6's input size is learned at the first call: 512x7x7 on a 224x224 image. Loading a
    # file gives it the same way; a header-only template shows what it will be.
    assert [k for k, _ in model.namedparams()] == [f"{n}/{p}" for n in VGG_NAMES for p in "Wb"]
    assert model.conv1_1.out_channels == 64
    assert model.conv5_3.out_channels == 512
    assert (model.fc6.out_size, model.fc7.out_size, model.fc8.out_size) == (4096, 4096, 1000)


def test_resnet50_has_the_published_parameter_count_and_dezero_s_names() -> None:
    model = ResNet50()
    with test_mode():
        assert model(np.zeros((1, 3, 32, 32), np.float32)).shape == (1, 1000)
    shapes = {k: p.shape for k, p in model.namedparams()}  # batch norm's, from that call
    # torchvision's resnet50 has 25,557,032 parameters; DeZero's (Chainer's) conv1 has a bias.
    assert sum(int(np.prod(s)) for s in shapes.values()) == 25_557_032 + 64
    assert shapes["conv1/W"] == (64, 3, 7, 7)
    assert shapes["res2/a/conv4/W"] == (256, 64, 1, 1)
    assert shapes["res5/b2/conv3/W"] == (2048, 512, 1, 1)
    assert shapes["fc6/W"] == (2048, 1000)
    assert "res2/b3/conv1/W" not in shapes  # 3 blocks: a, b1, b2
    assert "res4/b5/bn3/gamma" in shapes  # 6 blocks
    assert [k for k in shapes if k.startswith("res2/a/")][:3] == [
        "res2/a/conv1/W",
        "res2/a/bn1/gamma",
        "res2/a/bn1/beta",
    ]


@pytest.mark.parametrize(("n_layers", "res4"), [(101, 23), (152, 36)])
def test_resnet_depths(n_layers: int, res4: int) -> None:
    blocks = {101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}[n_layers]
    assert blocks[2] == res4
    model = ResNet(n_layers, width=1)  # the real layout, 1/64 of the channels
    assert len([k for k in vars(model.res4) if k == "a" or k.startswith("b")]) == res4
    assert len([k for k in vars(model.res3) if k == "a" or k.startswith("b")]) == blocks[1]


def test_resnet_refuses_another_depth() -> None:
    with pytest.raises(ValueError, match="n_layers must be 50, 101 or 152, got 34"):
        ResNet(34)


def test_the_parameters_match_dezero_s_own_vgg16() -> None:
    from benchmarks import peers
    from benchmarks.harness import UnavailableError

    try:
        dezero = peers.dezero()  # DeZero 0.0.13, with its NumPy 2 shim
    except UnavailableError as exc:
        pytest.skip(f"DeZero: {exc}")
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)
    theirs = dezero.models.VGG16()
    ours = VGG16()
    with dezero.test_mode():
        expected = theirs(x)
    flat: dict[str, object] = {}
    theirs._flatten_params(flat)
    ours_params = dict(ours.namedparams())
    ours(x)  # creates the lazy weights
    assert sorted(flat) == sorted(ours_params)
    for key, param in ours_params.items():
        assert param.shape == flat[key].data.shape, key  # type: ignore[attr-defined]  # a DeZero Parameter (untyped)
        param.data = flat[key].data  # type: ignore[attr-defined]  # a DeZero Parameter (untyped)
    with test_mode():
        got = ours(x)
    np.testing.assert_allclose(got.data, expected.data, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------- gradients
def test_vgg16_gradients_on_a_reduced_network() -> None:
    np.random.seed(0)
    model = VGG16(width=4, fc_width=3, dtype=np.float64)
    x = _batch((1, 3, 32, 32))
    model(x)
    for param in model.params():  # a little positive bias: thin ReLU layers do not all die
        if param.name == "b":
            param.data = param.data + 0.1
    with test_mode():  # no dropout: the same function at every evaluation
        result = check_layer(model, inputs=[x], options=FIRST_ORDER)
    assert len(result.params) == 32


def test_resnet_gradients_on_a_reduced_network() -> None:
    model = ResNet(blocks=(1, 1, 1, 1), width=1, dtype=np.float64)
    model(np.random.default_rng(1).standard_normal((4, 3, 32, 32)))  # running statistics
    with test_mode():
        check_layer(model, inputs=[_batch((1, 3, 32, 32))], options=FIRST_ORDER)


@pytest.mark.parametrize("downsample_fb", [False, True])
def test_bottleneck_a_gradients(downsample_fb: bool) -> None:
    block = BottleneckA(2, 1, 3, stride=2, downsample_fb=downsample_fb, dtype=np.float64)
    check_layer(block, inputs=[_batch((3, 2, 4, 4))], options=FIRST_ORDER)


def test_bottleneck_b_and_building_block_gradients() -> None:
    check_layer(BottleneckB(3, 2, np.float64), inputs=[_batch((3, 3, 3, 3))], options=FIRST_ORDER)
    block = BuildingBlock(2, 2, 1, 3, 1, dtype=np.float64)
    assert [k for k, _ in block.namedparams()][-1] == "b1/bn3/beta"
    check_layer(block, inputs=[_batch((3, 2, 3, 3), 1)], options=FIRST_ORDER)


# ---------------------------------------------------------------------- preprocess
class FakeImage:
    """What preprocess asks of a PIL image."""

    def __init__(self, rgb: Array) -> None:
        self.rgb = rgb
        self.calls: list[tuple[str, object]] = []

    def convert(self, mode: str) -> FakeImage:
        self.calls.append(("convert", mode))
        return self

    def resize(self, size: tuple[int, int]) -> FakeImage:
        self.calls.append(("resize", size))
        return FakeImage(np.zeros((size[1], size[0], 3), np.uint8) + self.rgb[0, 0])

    def __array__(self, dtype: object = None, copy: object = None) -> Array:
        result: Array = np.asarray(self.rgb, dtype=dtype)  # type: ignore[call-overload]  # any dtype, as PIL's
        return result


def test_preprocess_is_bgr_minus_the_mean_pixel_channels_first() -> None:
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, 100, 50
    out = VGG16.preprocess(rgb, size=None)
    assert out.shape == (3, 2, 3)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[:, 0, 0], [50 - 103.939, 100 - 116.779, 200 - 123.68], 1e-6)
    image = FakeImage(rgb)
    resized = VGG16.preprocess(image, size=(4, 5))
    assert image.calls == [("convert", "RGB"), ("resize", (4, 5))]
    assert resized.shape == (3, 5, 4)
    with pytest.raises(ValueError, match="cannot resize an array"):
        VGG16.preprocess(rgb)


# ---------------------------------------------------------------------- pretrained weights
def _small_weights(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    source = VGG16(width=1, fc_width=3)
    source(np.zeros((1, 3, 32, 32), np.float32))
    return source.save_weights(path)


def _no_network(url: str) -> IO[bytes]:
    raise urllib.error.URLError(f"no network in tests ({url})")


def test_pretrained_from_a_local_file(tmp_path: Path) -> None:
    path = _small_weights(tmp_path / "mine.npz")
    model = VGG16(pretrained=path, width=1, fc_width=3)
    assert model.built
    assert model.fc6.W.shape == (8, 3)  # from the file: 8 channels x 1 x 1
    with pytest.raises(DataFileMissingError, match=r"nope\.npz.*vgg16\.npz"):
        VGG16(pretrained=tmp_path / "nope.npz")


def test_pretrained_true_reads_the_cache_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEZERO_EXT_DATA", str(tmp_path))
    monkeypatch.setattr(files, "_urlopen", _no_network)
    _small_weights(tmp_path / "vgg16.npz")
    model = VGG16(pretrained=True, width=1, fc_width=3)
    assert model.built
    assert (tmp_path / "vgg16.npz.sha256").read_text().split()[0] == files.sha256_of(
        tmp_path / "vgg16.npz"
    )


def test_pretrained_offline_names_the_file_the_url_and_where_to_put_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEZERO_EXT_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(files, "_urlopen", _no_network)
    with pytest.raises(DataFileMissingError) as caught:
        ResNet(50, pretrained=True, width=1)
    message = str(caught.value)
    assert "resnet50.npz" in message
    assert ResNet.WEIGHTS_PATH.format(50) in message
    assert str(tmp_path / "cache" / "resnet50.npz") in message
    assert "DEZERO_EXT_DATA" in message
    assert not (tmp_path / "cache" / "resnet50.npz").exists()


def test_pretrained_download_from_a_file_url_is_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    published = _small_weights(tmp_path / "published" / "vgg16.npz")
    monkeypatch.setenv("DEZERO_EXT_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(VGG16, "WEIGHTS_PATH", published.as_uri())
    VGG16(pretrained=True, width=1, fc_width=3)
    cached = tmp_path / "cache" / "vgg16.npz"
    assert cached.read_bytes() == published.read_bytes()
    # damaged later: the checksum recorded at download catches it, and the model is not built
    data = bytearray(cached.read_bytes())
    data[-100] ^= 0xFF
    cached.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match=r"vgg16\.npz has SHA-256 .* recorded in"):
        VGG16(pretrained=True, width=1, fc_width=3)
