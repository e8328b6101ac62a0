"""The tiling engine: seamless tiles on a real photo, channels, bit depths, robustness."""

from __future__ import annotations

import threading
import warnings
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch

from rwsr.errors import ConfigError, InputError
from rwsr.imageio import read_image
from rwsr.models.rrdbnet import RRDBNet, RRDBNetConfig
from rwsr.models.zoo import DEFAULT_MODEL, load_generator
from rwsr.sample_types import convert
from rwsr.upscale import engine
from rwsr.upscale.engine import DEFAULT_OVERLAP, Upscaler
from rwsr.upscale.tiling import axis_spans, context_window, ramp_weights

SAMPLE_PHOTO = Path(str(resources.files("rwsr") / "assets" / "sample.png"))


def _psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(peak**2 / mse)) if mse > 0 else float("inf")


@pytest.fixture(scope="module")
def default_model() -> torch.nn.Module:
    return load_generator(DEFAULT_MODEL).model


@pytest.fixture(scope="module")
def strip_and_whole(default_model: torch.nn.Module) -> tuple[np.ndarray, np.ndarray]:
    """A 160x16 strip of the bundled sample photo (City100 045L, a blurry low-resolution
    photo, the hardest for tiles of those measured) and the default model's output of it in
    one tile. fp32: bf16's own rounding differs between a tile and the whole and blurs what
    context does (on an AMX host it makes every step between columns ~0.34)."""
    strip = np.ascontiguousarray(read_image(SAMPLE_PHOTO)[:, 100:116])
    return strip, Upscaler(default_model, precision="fp32", tile=256).upscale(strip)


@pytest.mark.parametrize("tile", [32, 64])
def test_tiles_of_any_size_match_one_tile_of_a_real_photo(
    default_model: torch.nn.Module, strip_and_whole: tuple[np.ndarray, np.ndarray], tile: int
) -> None:
    """Every tile is computed with the model's 40 px of the picture around it, whatever its
    size: 32 and 64 px tiles of the default model match one tile above 50 dB (57.4 and
    60.1 dB here; 53.3 dB with 64 px tiles of the whole 240x160 photo, TILE_CONTEXT)."""
    strip, whole = strip_and_whole
    upscaler = Upscaler(default_model, precision="fp32", tile=tile)
    assert upscaler.tile_context == engine.TILE_CONTEXT == 40
    counts: list[tuple[int, int]] = []
    tiled = upscaler.upscale(strip, on_tile=lambda done, total: counts.append((done, total)))
    assert counts[-1] == {32: (7, 7), 64: (3, 3)}[tile]  # tiles down the strip
    assert tiled.shape == whole.shape == (640, 64, 3) and tiled.dtype == np.uint8
    assert _psnr(tiled, whole) >= 50


def test_the_overlap_alone_left_seams_between_small_tiles(
    default_model: torch.nn.Module, strip_and_whole: tuple[np.ndarray, np.ndarray]
) -> None:
    """The engine before tile contexts: 64 px tiles shared 16 px (a quarter of the tile) and
    saw no more, so where tiles met the model's zero padding stood in for its context:
    40.7 dB here (34.9 dB on the whole photo)."""
    strip, whole = strip_and_whole
    assert DEFAULT_OVERLAP == 32
    old = Upscaler(default_model, precision="fp32", tile=64, tile_context=0).upscale(strip)
    assert _psnr(old, whole) < 45


def test_the_context_belongs_to_the_model() -> None:
    """40 px for every model; 16 pixels of the trunk's for a pixel-unshuffle one (64 px at
    u4), whose trunk sees u times as far."""
    rrdb = RRDBNet(RRDBNetConfig(nf=8, nb=1, gc=4))
    assert engine.model_context(rrdb) == 40
    assert Upscaler(rrdb, tile=64).tile_context == 40
    assert Upscaler(rrdb, tile=64, tile_context=0).tile_context == 0
    u2 = RRDBNet(RRDBNetConfig(nf=8, nb=1, gc=4, scale=2, input_unshuffle=2))
    u4 = RRDBNet(RRDBNetConfig(nf=8, nb=1, gc=4, scale=1, input_unshuffle=4))
    assert engine.model_context(u2) == 40 and engine.model_context(u4) == 64
    with pytest.raises(InputError, match="tile_context must be >= 0"):
        Upscaler(rrdb, tile_context=-1)


class _BlockMean(torch.nn.Module):
    """A pixel-unshuffle 'generator' whose whole context is its 4x4 block: the block's mean
    (x1). Its output depends on where the block grid lies, as an unshuffled trunk's does."""

    def __init__(self) -> None:
        super().__init__()
        self.config = RRDBNetConfig(scale=1, input_unshuffle=4)
        self.unit = torch.nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        means = torch.nn.functional.avg_pool2d(x * self.unit, 4)
        return torch.nn.functional.interpolate(means, scale_factor=4, mode="nearest")


def test_tiles_of_a_pixel_unshuffle_model_keep_the_untiled_block_grid() -> None:
    """Tiles start anywhere (93 px in 32 px tiles: at 0, 20, 41 and 61) and the untiled
    picture is mirrored out to 96 px with 1 px before it; every window is cut on that grid,
    so a tile's blocks are the untiled picture's. (Windows cut at the tile, as before, saw
    other blocks: differences of up to 0.34.)"""
    image = np.random.default_rng(11).random((93, 75, 3), dtype=np.float32)
    whole = Upscaler(_BlockMean(), precision="fp32", tile=128).upscale(image)
    totals: list[int] = []
    for context in (0, 5):
        upscaler = Upscaler(_BlockMean(), precision="fp32", tile=32, tile_context=context)
        tiled = upscaler.upscale(image, on_tile=lambda done, total: totals.append(total))
        np.testing.assert_allclose(tiled, whole, rtol=0, atol=1e-6)
    assert totals[-1] == 12  # 4x3 tiles


def test_dtypes_and_channels_round_trip(tiny_model: RRDBNet) -> None:
    upscaler = Upscaler(tiny_model, precision="fp32")
    rng = np.random.default_rng(0)
    rgb8 = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
    reference = upscaler.upscale(rgb8)
    assert reference.shape == (48, 40, 3) and reference.dtype == np.uint8
    as16 = upscaler.upscale(rgb8.astype(np.uint16) * 257)
    assert as16.dtype == np.uint16
    assert np.abs(as16 / 257.0 - reference).max() <= 0.5 + 1e-6  # same image, 16-bit precision
    as_float = upscaler.upscale(rgb8.astype(np.float32) / 255)
    assert as_float.dtype == np.float32 and np.abs(as_float * 255 - reference).max() <= 0.5 + 1e-4
    as_double = upscaler.upscale(rgb8.astype(np.float64) / 255)
    assert as_double.dtype == np.float64 and np.abs(as_double * 255 - reference).max() <= 0.5 + 1e-4
    gray = rgb8[:, :, 0]
    assert upscaler.upscale(gray.astype(np.float64) / 255).shape == (48, 40)
    assert upscaler.upscale(gray).shape == (48, 40)
    assert upscaler.upscale(gray[:, :, None]).shape == (48, 40, 1)


def test_outscale_resizes_model_output(tiny_model: RRDBNet) -> None:
    upscaler = Upscaler(tiny_model, precision="fp32")
    image = np.random.default_rng(1).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    assert upscaler.upscale(image, outscale=2).shape == (40, 60, 3)
    assert upscaler.upscale(image, outscale=5.5).shape == (110, 165, 3)
    noise = np.random.default_rng(5).random((20, 20, 4), dtype=np.float32)
    enlarged = upscaler.upscale(noise, outscale=7)  # Lanczos/cubic overshoot is clipped
    assert enlarged.shape == (140, 140, 4) and 0 <= enlarged.min() and enlarged.max() <= 1
    with pytest.raises(ConfigError, match="outscale"):
        upscaler.upscale(image, outscale=0)


def test_alpha_has_no_dark_fringes(default_model: torch.nn.Module) -> None:
    """An orange disc on a transparent background whose hidden colour is black: the visible
    edge must stay orange, not darkened by the black the model would otherwise blend in."""
    yy, xx = np.mgrid[:48, :48]
    inside = (yy - 24) ** 2 + (xx - 24) ** 2 <= 14**2
    rgba = np.zeros((48, 48, 4), np.uint8)
    rgba[inside] = (240, 140, 20, 255)
    out = Upscaler(default_model).upscale(rgba)
    assert out.shape == (192, 192, 4)
    visible = out[:, :, 3] >= 128
    # The alpha edge sits where it was: area ratio close to the input's.
    assert abs(visible.mean() - inside.mean()) < 0.02
    red = out[:, :, 0][visible].astype(int)
    assert red.min() >= 200, red.min()
    naive = Upscaler(default_model).upscale(rgba[:, :, :3])  # black surround, no alpha handling
    assert naive[:, :, 0][visible].min() < red.min() - 30


def test_one_pixel_image(tiny_model: RRDBNet) -> None:
    out = Upscaler(tiny_model, precision="fp32").upscale(np.full((1, 1, 3), 128, np.uint8))
    assert out.shape == (4, 4, 3)


class _BoxMeanX4(torch.nn.Module):
    """A 9x9 mean with zero padding, then x4 pixel replication: a flat image stays flat where
    the window has context, and goes dark where zero padding fills it, as in a network."""

    def __init__(self) -> None:
        super().__init__()
        self.config = RRDBNetConfig(scale=4)
        self.mean = torch.nn.Conv2d(3, 3, 9, padding=4, groups=3, bias=False)
        torch.nn.init.constant_(self.mean.weight, 1 / 81)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.interpolate(self.mean(x), scale_factor=4, mode="nearest")


FLAT_COLOUR = np.array([82, 95, 88], np.uint8)


@pytest.mark.parametrize("size", [(1, 1), (2, 2), (1, 64), (64, 1)])
def test_tiny_inputs_come_out_as_the_middle_of_a_large_image(size: tuple[int, int]) -> None:
    """An input smaller than the model's context gets the colour a large flat image gets in
    its middle, not the black of the model's zero padding."""
    upscaler = Upscaler(_BoxMeanX4(), precision="fp32")
    large = upscaler.upscale(np.broadcast_to(FLAT_COLOUR, (64, 64, 3)).copy())
    out = upscaler.upscale(np.broadcast_to(FLAT_COLOUR, (*size, 3)).copy())
    top, left = (256 - out.shape[0]) // 2, (256 - out.shape[1]) // 2
    middle = large[top : top + out.shape[0], left : left + out.shape[1]]
    np.testing.assert_allclose(out, middle, atol=1)
    if size[0] == size[1]:
        np.testing.assert_allclose(out, np.broadcast_to(FLAT_COLOUR, out.shape), atol=1)


@pytest.mark.parametrize("size", [(1, 1), (2, 2), (1, 64)])
def test_default_model_keeps_the_colour_of_tiny_inputs(
    default_model: torch.nn.Module, size: tuple[int, int]
) -> None:
    """The bundled model on a flat input smaller than its context: the mean colour within 3
    levels, and no pixel further off than on a flat 64x64 image (8 levels of GAN texture)."""
    upscaler = Upscaler(default_model)
    large = upscaler.upscale(np.broadcast_to(FLAT_COLOUR, (64, 64, 3)).copy())
    out = upscaler.upscale(np.broadcast_to(FLAT_COLOUR, (*size, 3)).copy())
    assert out.shape == (4 * size[0], 4 * size[1], 3)
    mean = out.reshape(-1, 3).mean(axis=0)
    assert np.abs(mean - FLAT_COLOUR).max() <= 3, mean
    assert (
        np.abs(out.astype(int) - FLAT_COLOUR).max() <= np.abs(large.astype(int) - FLAT_COLOUR).max()
    )


def test_pixel_limit_refuses_before_work(tiny_model: RRDBNet) -> None:
    upscaler = Upscaler(tiny_model, max_pixels=1000)
    with pytest.raises(InputError, match="above the limit of 0.0 MPix"):
        upscaler.upscale(np.zeros((100, 100, 3), np.uint8))


def test_bad_settings(tiny_model: RRDBNet) -> None:
    with pytest.raises(ConfigError, match="fp16 is not supported on the CPU"):
        Upscaler(tiny_model, device="cpu", precision="fp16")
    with pytest.raises(InputError, match="tile-overlap"):
        Upscaler(tiny_model, tile=64, tile_overlap=32)
    with pytest.raises(InputError, match="HxWx"):
        Upscaler(tiny_model).upscale(np.zeros((4, 4, 2), np.uint8))


def test_pixel_unshuffle_model_on_odd_sizes() -> None:
    torch.manual_seed(0)
    model = RRDBNet(RRDBNetConfig(nf=8, nb=1, gc=4, scale=2, input_unshuffle=2))
    out = Upscaler(model, precision="fp32", tile=32, tile_overlap=4).upscale(
        np.zeros((37, 45, 3), np.uint8)
    )
    assert out.shape == (74, 90, 3)


class _Doubler(torch.nn.Module):
    """A x2 'generator' (pixel replication: outputs known to the bit) whose subclasses fail
    or go non-finite on purpose; its one weight carries the precision the engine chose."""

    def __init__(self) -> None:
        super().__init__()
        self.config = RRDBNetConfig(scale=2)
        self.weight = torch.nn.Parameter(torch.ones(1))

    def double(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.interpolate(x * self.weight, scale_factor=2, mode="nearest")


class _NaNInLowPrecision(_Doubler):
    """Returns NaN when run in bf16, like an overflowing network."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.double(x)
        return y * float("nan") if self.weight.dtype == torch.bfloat16 else y


def test_non_finite_tiles_are_recomputed_in_fp32() -> None:
    image = np.random.default_rng(2).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    with pytest.warns(UserWarning, match="recomputed in fp32"):
        out = Upscaler(_NaNInLowPrecision(), precision="bf16").upscale(image)
    np.testing.assert_array_equal(out, image.repeat(2, 0).repeat(2, 1))


class _FailsOnLargeTiles(_Doubler):
    def __init__(self, limit: int, error: RuntimeError) -> None:
        super().__init__()
        self.limit = limit
        self.error = error

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] > self.limit:
            raise self.error
        return self.double(x)


# What torch says on a GPU when a tile is too large for memory, or for cuDNN's and CUDA's
# 32-bit indexing (the messages of torch 2.x; the last two are not out-of-memory errors).
TOO_LARGE_ERRORS = [
    torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB"),
    RuntimeError(
        "cuDNN error: CUDNN_STATUS_NOT_SUPPORTED. This error may appear if you passed"
        " in a non-contiguous input."
    ),
    RuntimeError(
        "Expected canUse32BitIndexMath(input) && canUse32BitIndexMath(output) to be"
        " true, but got false."
    ),
]


@pytest.mark.parametrize("error", TOO_LARGE_ERRORS, ids=["oom", "cudnn", "32-bit-index"])
def test_a_tile_too_large_retries_with_smaller_tiles(error: RuntimeError) -> None:
    image = np.random.default_rng(3).integers(0, 256, (100, 100, 3), dtype=np.uint8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = Upscaler(
            _FailsOnLargeTiles(limit=70, error=error),
            precision="fp32",
            tile=256,
            tile_overlap=8,
            tile_context=0,
        ).upscale(image)
    assert any("retrying with 64x64 tiles" in str(w.message) for w in caught)
    np.testing.assert_array_equal(out, image.repeat(2, 0).repeat(2, 1))


def test_an_error_that_no_tile_size_cures_is_not_retried() -> None:
    error = RuntimeError(
        "Given groups=1, weight of size [64, 3, 3, 3], expected input to have"
        " 3 channels, but got 4 channels instead"
    )
    upscaler = Upscaler(_FailsOnLargeTiles(limit=70, error=error), precision="fp32", tile=256)
    image = np.zeros((100, 100, 3), np.uint8)
    with (
        warnings.catch_warnings(record=True) as caught,
        pytest.raises(RuntimeError, match="groups"),
    ):
        warnings.simplefilter("always")
        upscaler.upscale(image)
    assert not caught


def test_auto_tile_keeps_the_widest_activation_under_the_element_limit(
    tiny_model: RRDBNet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fake element limit (the real one is 2^31 - 1, cuDNN's): the automatic tile's window
    (the tile and its context) stays under it and is the largest multiple of 8 that does."""
    upscaler = Upscaler(tiny_model, precision="fp32")
    scale, widest = upscaler.scale, engine.widest_activation(tiny_model)
    assert widest == max(m.out_channels for m in tiny_model.modules() if hasattr(m, "out_channels"))
    unbounded = upscaler.auto_tile()
    limit = widest * (scale * 200) ** 2
    monkeypatch.setattr(engine, "MAX_TENSOR_ELEMENTS", limit)
    tile = upscaler.auto_tile()
    assert tile < unbounded
    window = tile + 2 * upscaler.tile_context  # what the model sees of a tile
    assert widest * (scale * window) ** 2 <= limit < widest * (scale * (window + 8)) ** 2


def test_one_instance_serves_many_threads(tiny_model: RRDBNet) -> None:
    upscaler = Upscaler(tiny_model, precision="fp32", tile=32, tile_overlap=8, tile_context=8)
    rng = np.random.default_rng(4)
    images = [rng.integers(0, 256, (40 + 7 * i, 50 - 3 * i, 3), dtype=np.uint8) for i in range(6)]
    expected = [upscaler.upscale(image) for image in images]
    results: dict[int, np.ndarray] = {}

    def work(index: int) -> None:
        results[index] = upscaler.upscale(images[index])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(images))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index, reference in enumerate(expected):
        np.testing.assert_array_equal(results[index], reference)


def test_compiled_model_gives_the_same_image(tiny_model: RRDBNet) -> None:
    image = np.random.default_rng(6).integers(0, 256, (24, 20, 3), dtype=np.uint8)
    eager = Upscaler(tiny_model, precision="fp32").upscale(image)
    torch.manual_seed(0)
    twin = RRDBNet(tiny_model.config)
    twin.load_state_dict(tiny_model.state_dict())
    compiled = Upscaler(twin, precision="fp32", compile_model=True).upscale(image)
    assert np.abs(compiled.astype(int) - eager).max() <= 1


def _host_blend(
    upscaler: Upscaler, image: np.ndarray, tile: int, overlap: int, context: int
) -> np.ndarray:
    """The engine's output as it blended on the host in numpy before blending moved to the
    device: float32 tiles (each computed from its window, `context` more pixels a side),
    products and sums in tile order, a division, rounding by `convert`. For an HxWx3 image
    whose windows need no mirrored border."""
    height, width = image.shape[:2]
    s = upscaler.scale
    acc = np.zeros((height * s, width * s, 3), np.float32)
    weight = np.zeros((height * s, width * s, 1), np.float32)
    for y0, y1 in axis_spans(height, tile, overlap, context):
        wy0, wy1 = context_window((y0, y1), height, (0, height), context)
        for x0, x1 in axis_spans(width, tile, overlap, context):
            wx0, wx1 = context_window((x0, x1), width, (0, width), context)
            x = torch.from_numpy(convert(image[wy0:wy1, wx0:wx1], np.float32))
            x = x.permute(2, 0, 1)[None].contiguous(memory_format=torch.channels_last)
            with torch.inference_mode():
                if upscaler.dtype == torch.float32:
                    y = upscaler._run(x)
                else:
                    with torch.autocast("cpu", dtype=upscaler.dtype):
                        y = upscaler._run(x.to(upscaler.dtype)).float()
            window_out = y.clamp(0, 1)[0].permute(1, 2, 0).numpy()
            out = window_out[(y0 - wy0) * s : (y1 - wy0) * s, (x0 - wx0) * s : (x1 - wx0) * s]
            row_weight = ramp_weights((y0, y1), height, overlap, s)
            w = (row_weight[:, None] * ramp_weights((x0, x1), width, overlap, s)[None, :])[
                :, :, None
            ]
            acc[y0 * s : y1 * s, x0 * s : x1 * s] += out * w
            weight[y0 * s : y1 * s, x0 * s : x1 * s] += w
    return convert(acc / weight, image.dtype)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("size", [(30, 27), (70, 93)], ids=["one-tile", "3x4-tiles"])
@pytest.mark.parametrize("sample_type", [np.uint8, np.uint16, np.float32])
def test_blending_on_the_device_gives_the_host_blend_bit_for_bit(
    tiny_model: RRDBNet, precision: str, size: tuple[int, int], sample_type: type
) -> None:
    """On the CPU the device-side path (and its single-tile shortcut, which skips blending)
    gives the bits of the numpy host blend, in batches of 1 and of 4 tiles, each tile
    computed from its window of 8 more pixels a side."""
    rng = np.random.default_rng(7)
    if sample_type is np.float32:
        image = rng.random((*size, 3), dtype=np.float32)
    else:
        image = rng.integers(0, np.iinfo(sample_type).max + 1, (*size, 3), dtype=sample_type)
    for batch in (1, 4):
        upscaler = Upscaler(
            tiny_model,
            precision=precision,
            tile=32,
            tile_overlap=6,
            tile_context=8,
            tile_batch=batch,
        )
        out = upscaler.upscale(image)
        expected = _host_blend(upscaler, image, tile=32, overlap=6, context=8)
        assert out.dtype == expected.dtype == sample_type
        assert out.tobytes() == expected.tobytes(), (batch, np.abs(out - expected).max())


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_batched_tiles_of_the_default_model_equal_one_at_a_time(
    default_model: torch.nn.Module, photo_rgb: np.ndarray, precision: str
) -> None:
    """x4plus's 64-channel oneDNN convolutions give each tile of a batch the bits it gets
    alone (2x2 tiles of 48 px, one forward of two)."""
    image = photo_rgb[:72, :72]
    outputs = [
        Upscaler(
            default_model,
            precision=precision,
            tile=48,
            tile_overlap=12,
            tile_context=0,  # 2x2 tiles of 48 px: the batching is under test, not the context
            tile_batch=batch,
        ).upscale(image)
        for batch in (1, 2)
    ]
    np.testing.assert_array_equal(outputs[0], outputs[1])


class _NaNWhereWhite(_Doubler):
    """In bf16, NaN for the tiles that hold a pixel of value 1."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.double(x)
        if self.weight.dtype != torch.bfloat16:
            return y
        white = x.flatten(1).amax(dim=1) >= 1
        return torch.where(white[:, None, None, None], float("nan"), y)


CUDA = pytest.param(
    "cuda",
    marks=[
        pytest.mark.cuda,
        pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
    ],
)


@pytest.mark.parametrize("device", ["cpu", CUDA])
def test_a_non_finite_tile_in_a_batch_is_recomputed_in_fp32_alone(device: str) -> None:
    """A 3x3-tile image whose top-left tile comes out NaN in bf16, three tiles a forward: that
    tile is recomputed in fp32 and the image is the plain doubling (values exact in bf16)."""
    image = np.random.default_rng(8).integers(0, 64, (80, 80, 3)).astype(np.float32) / 64
    image[2, 3] = 1.0
    upscaler = Upscaler(
        _NaNWhereWhite(),
        device=device,
        precision="bf16",
        tile=32,
        tile_overlap=8,
        tile_context=0,  # pixel replication needs none: the NaN stays in one tile
        tile_batch=3,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = upscaler.upscale(image)
    assert [str(w.message) for w in caught] == [
        "non-finite values in a low-precision tile; recomputed in fp32"
    ]
    np.testing.assert_allclose(out, image.repeat(2, 0).repeat(2, 1), rtol=0, atol=1e-6)


class _FailsOnLargeBatches(_Doubler):
    def __init__(self, most: int) -> None:
        super().__init__()
        self.most = most

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > self.most:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return self.double(x)


def test_a_batch_too_large_retries_with_fewer_tiles_per_forward() -> None:
    image = np.random.default_rng(9).integers(0, 256, (80, 80, 3), dtype=np.uint8)
    upscaler = Upscaler(
        _FailsOnLargeBatches(most=1),
        precision="fp32",
        tile=32,
        tile_overlap=8,
        tile_context=0,
        tile_batch=4,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = upscaler.upscale(image)
    assert [str(w.message) for w in caught] == [
        "CUDA out of memory. Tried to allocate 20.00 GiB; retrying with 1 tile(s) per forward"
    ]
    np.testing.assert_array_equal(out, image.repeat(2, 0).repeat(2, 1))


def test_tiles_per_forward_fit_free_memory_and_the_element_bound(
    tiny_model: RRDBNet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CUDA rule on made-up numbers: free memory less the band's accumulators, divided by
    one tile's activations; at most MAX_TENSOR_ELEMENTS in the batch's widest activation."""
    upscaler = Upscaler(tiny_model, precision="fp32")
    assert upscaler._tiles_per_forward(64, 64, 4000) == 1  # on the CPU: one at a time
    upscaler.device = torch.device("cuda")
    per_tile = engine.BYTES_PER_PIXEL[torch.float32] * 64 * 64  # x4: scale**2 / 16 == 1
    band = engine.BAND_BYTES_PER_PIXEL * 2 * 64 * 4 * 4000
    monkeypatch.setattr(Upscaler, "_free_memory", lambda self: band + 5.5 * per_tile)
    assert upscaler._tiles_per_forward(64, 64, 4000) == 5
    widest = engine.widest_activation(tiny_model)
    monkeypatch.setattr(engine, "MAX_TENSOR_ELEMENTS", 3 * widest * (4 * 64) ** 2)
    assert upscaler._tiles_per_forward(64, 64, 4000) == 3
    monkeypatch.setattr(Upscaler, "_free_memory", lambda self: band / 2)
    assert upscaler._tiles_per_forward(64, 64, 4000) == 1  # never none


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("sample_type", [np.uint8, np.uint16, np.float32])
def test_on_cuda_tiles_are_blended_rounded_and_copied_back_exactly(
    nearest_model: torch.nn.Module, sample_type: type
) -> None:
    """On the GPU, with automatic batches: one tile and 3x3 tiles of pixel replication come
    back as replication, in 8 and 16 bits exactly (rounded on the device) and in float."""
    rng = np.random.default_rng(10)
    if sample_type is np.float32:
        image = rng.random((100, 90, 3), dtype=np.float32)
    else:
        image = rng.integers(0, np.iinfo(sample_type).max + 1, (100, 90, 3), dtype=sample_type)
    expected = image.repeat(4, 0).repeat(4, 1)
    tolerance = 1e-6 if sample_type is np.float32 else 0
    for tile in (128, 40):
        upscaler = Upscaler(
            nearest_model,
            device="cuda",
            precision="fp32",
            tile=tile,
            tile_overlap=8,
            tile_context=0,
        )
        out = upscaler.upscale(image)
        assert out.dtype == sample_type
        np.testing.assert_allclose(out, expected, rtol=0, atol=tolerance)
