"""What models cost on a CPU: FLOPs per input pixel against a hand count, every zoo entry's
cost, the time estimate and faster-model line of `rwsr upscale` (fake numbers, no timing),
and the zoo listing."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rwsr.cli.main import app
from rwsr.imageio import write_image
from rwsr.models import zoo
from rwsr.models.catalog import build_model
from rwsr.models.checkpoint import load_model
from rwsr.models.compact import CompactConfig
from rwsr.models.cost import (
    LONG_RUN_SECONDS,
    RunSize,
    estimate_line,
    estimate_run,
    flops_per_pixel,
    run_size,
)
from rwsr.models.edl import RWSREDLConfig
from rwsr.models.foreign import SpandrelConfig
from rwsr.models.rrdbnet import RRDBNetConfig
from rwsr.models.zoo import DEFAULT_MODEL, ZOO, FasterModel, weights_path, zoo_entry
from rwsr.upscale.engine import CONTEXT_OVERLAP, TILE_CONTEXT, Upscaler
from rwsr.upscale.tiling import axis_spans

CONV3 = 9  # multiply-adds per input and output channel of a 3x3 convolution


def _rrdb_macs(nf: int = 64, gc: int = 32, nb: int = 23) -> int:
    """Multiply-adds per trunk pixel of the RRDB trunk: 3 dense blocks of 5 convolutions."""
    dense = sum((nf + i * gc) * gc for i in range(4)) + (nf + 4 * gc) * nf
    return nb * 3 * dense * CONV3


def test_flops_per_pixel_match_a_hand_count() -> None:
    # Compact: every convolution at the input's resolution: 3->64, 32 x 64->64, 64->48.
    compact = (3 * 64 + 32 * 64 * 64 + 64 * 48) * CONV3
    assert flops_per_pixel(CompactConfig()) == 2 * compact == 2_418_048
    # RRDBNet x4: conv_first and the trunk at 1x, conv_up1 at 2x (4 pixels per input pixel),
    # conv_up2, conv_hr and conv_last at 4x (16).
    rrdb = (3 * 64 + 64 * 64 + 4 * 64 * 64 + 16 * (64 * 64 + 64 * 64 + 64 * 3)) * CONV3
    rrdb += _rrdb_macs()
    assert flops_per_pixel(RRDBNetConfig()) == 2 * rrdb == 35_853_696
    # The paper's head: 3 branches x 3 ResBlocks (3->64, 64->3) on the 4x output.
    head = 9 * (3 * 64 + 64 * 3) * CONV3 * 16
    assert flops_per_pixel(RWSREDLConfig(rrdb=RRDBNetConfig())) == 2 * (rrdb + head)
    assert 14 < flops_per_pixel(RRDBNetConfig()) / flops_per_pixel(CompactConfig()) < 15


def test_every_zoo_entry_carries_its_counted_cost_and_size() -> None:
    made_on_first_use = {
        "impressionism-df2k-x4": RRDBNetConfig(),
        "realesr-general-x4v3": CompactConfig(),
        "realesrgan-x2plus": RRDBNetConfig(scale=2, input_unshuffle=2),
    }
    for entry in ZOO:
        if entry.bundled:
            path = weights_path(entry)
            config = load_model(path).config
            assert path.stat().st_size == entry.size_bytes, entry.name
        else:
            config = made_on_first_use[entry.name]
        assert entry.flops_per_pixel == flops_per_pixel(config), entry.name
        if entry.faster is not None:
            faster = zoo_entry(entry.faster.name)
            assert faster.scale == entry.scale
            assert faster.flops_per_pixel < entry.flops_per_pixel / 10
    assert zoo_entry(DEFAULT_MODEL).cpu_speed is not None  # the reference the others scale from
    compact = zoo_entry("realesr-general-x4v3").cpu_speed
    assert compact is not None and compact.machine == zoo_entry(DEFAULT_MODEL).cpu_speed.machine


def test_a_long_run_names_a_faster_model_and_never_a_short_one() -> None:
    reference = zoo_entry(DEFAULT_MODEL).cpu_speed.seconds_per_megapixel
    measured = zoo_entry("realesr-general-x4v3").cpu_speed.seconds_per_megapixel
    long = estimate_run(DEFAULT_MODEL, RRDBNetConfig(), megapixels=2.0)
    assert long is not None and long.seconds == pytest.approx(2 * reference)
    assert long.seconds_per_megapixel == reference and long.basis.startswith("measured 2026-12-04")
    assert long.advice == (
        f"a faster model: --model realesr-general-x4v3 would take about {2 * measured:.0f} s"
        f" ({reference / measured:.0f}x faster)"  # both measured: no "estimated from FLOPs"
        f"; quality: {zoo_entry(DEFAULT_MODEL).faster.quality}"
    )
    line = estimate_line(long, 2.0)
    assert line.startswith(
        f"estimated time: {2 * reference / 60:.0f} min for 2.00 MP of input at"
        f" {reference:.0f} s/MP (measured"
    )
    short = estimate_run(
        DEFAULT_MODEL, RRDBNetConfig(), megapixels=LONG_RUN_SECONDS / reference * 0.9
    )
    assert short is not None and short.advice is None
    compact = estimate_run("realesr-general-x4v3", CompactConfig(), megapixels=20.0)
    assert compact is not None and compact.advice is None  # nothing faster at x4
    assert compact.seconds == pytest.approx(20 * measured)
    assert compact.basis.startswith("measured 2026-12-04")
    # A model without a measurement is estimated from the reference by its FLOPs.
    x2 = estimate_run("realesrgan-x2plus", RRDBNetConfig(scale=2), megapixels=1.0)
    assert x2 is not None and x2.basis.startswith("not measured: estimated from FLOPs")
    assert x2.seconds == pytest.approx(reference * 8_966_016 / 35_853_696)


def test_a_measured_quality_difference_is_said(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = zoo_entry(DEFAULT_MODEL)
    measured = FasterModel("realesr-general-x4v3", quality="-0.5 dB PSNR on City100 091-100")
    changed = dataclasses.replace(entry, faster=measured)
    monkeypatch.setattr(zoo, "ZOO", tuple(changed if e is entry else e for e in ZOO))
    estimate = estimate_run(DEFAULT_MODEL, RRDBNetConfig(), megapixels=1.0)
    assert estimate is not None and estimate.advice is not None
    assert estimate.advice.endswith("; quality: -0.5 dB PSNR on City100 091-100")


def test_files_are_estimated_from_their_flops_and_spandrel_models_not_at_all() -> None:
    config = RRDBNetConfig(nf=32, nb=2, gc=16)
    estimate = estimate_run("my_model.pth", config, megapixels=2.0)
    assert estimate is not None and estimate.advice is None
    reference = zoo_entry(DEFAULT_MODEL).cpu_speed.seconds_per_megapixel
    assert estimate.seconds == pytest.approx(2 * reference * flops_per_pixel(config) / 35_853_696)
    spandrel = SpandrelConfig(
        architecture="SwinIR",
        scale=2,
        in_channels=3,
        out_channels=3,
        purpose="SR",
        supports_half=True,
        supports_bfloat16=True,
    )
    assert estimate_run("swinir.pth", spandrel, megapixels=2.0) is None


def test_upscale_tells_the_estimate_and_a_faster_model_but_runs_the_one_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = tmp_path / "small.png"
    write_image(image, (np.random.default_rng(0).random((12, 16, 3)) * 255).astype(np.uint8))
    # A 1 MP photo in one tile.
    monkeypatch.setattr("rwsr.models.cost.run_size", lambda paths, upscaler: RunSize(1.0, 1.0))
    result = CliRunner().invoke(app, ["upscale", str(image), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    reference = zoo_entry(DEFAULT_MODEL).cpu_speed.seconds_per_megapixel  # over 2 min a MP
    measured = zoo_entry("realesr-general-x4v3").cpu_speed.seconds_per_megapixel
    assert (
        f"estimated time: {reference / 60:.0f} min for 1.00 MP of input at {reference:.0f} s/MP"
        " (measured" in result.output
    )
    assert (
        f"--model realesr-general-x4v3 would take about {measured:.0f} s"
        f" ({reference / measured:.0f}x faster" in result.output
    )
    assert "realesrgan-x4plus (rrdbnet): x4 on cpu" in result.output
    assert (tmp_path / "out" / "small_x4.png").is_file()


def test_the_estimate_counts_the_input_pixels(tmp_path: Path) -> None:
    for name, (height, width) in {"a.png": (100, 200), "b.png": (300, 400)}.items():
        write_image(tmp_path / name, np.zeros((height, width, 3), np.uint8))
    (tmp_path / "broken.png").write_bytes(b"not an image")
    paths = [tmp_path / "a.png", tmp_path / "b.png", tmp_path / "broken.png"]
    one_tile = Upscaler(build_model(RRDBNetConfig(nf=8, nb=1, gc=4)), tile=512)
    assert run_size(paths, one_tile) == RunSize(pytest.approx(0.14), pytest.approx(0.14))


def test_the_estimate_counts_the_tile_windows_the_network_runs_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes = {"photo.jpg": (4000, 3000), "small.png": (200, 100)}  # (width, height)
    monkeypatch.setattr("rwsr.models.cost.image_size", lambda path: sizes[Path(path).name])
    paths = [tmp_path / name for name in sizes]
    # A fixed tile, counted by hand: 240 px tiles with 40 px of context are 320 px windows;
    # 8 px overlap: ceil((4000 - 8) / 232) = 18 columns, ceil((3000 - 8) / 232) = 13 rows.
    compact = build_model(CompactConfig())
    size = run_size(paths, Upscaler(compact, device="cpu", precision="fp32", tile=240))
    assert size.megapixels == pytest.approx(12.02)
    assert size.network_megapixels == pytest.approx((18 * 13 * 320**2 + 200 * 100) / 1e6)
    # The automatic tile: the windows of the spans axis_spans gives, each the tile and its
    # context (smaller than the photo, so never cut to it).
    upscaler = Upscaler(compact, device="cpu", precision="fp32")
    tile = upscaler.auto_tile()
    assert tile < 3000
    rows = axis_spans(3000, tile, CONTEXT_OVERLAP, TILE_CONTEXT)
    cols = axis_spans(4000, tile, CONTEXT_OVERLAP, TILE_CONTEXT)
    windows = len(rows) * len(cols) * (tile + 2 * TILE_CONTEXT) ** 2
    size = run_size(paths, upscaler)
    assert size.network_megapixels == pytest.approx((windows + 200 * 100) / 1e6)
    assert size.network_megapixels > 1.5 * size.megapixels
    measured = zoo_entry("realesr-general-x4v3").cpu_speed.seconds_per_megapixel
    estimate = estimate_run("realesr-general-x4v3", CompactConfig(), size.network_megapixels)
    assert estimate is not None
    assert estimate.seconds == pytest.approx((windows + 200 * 100) / 1e6 * measured)
    assert estimate_line(estimate, size.megapixels, size.network_megapixels).startswith(
        f"estimated time: {estimate.seconds / 60:.0f} min for 12.02 MP of input"
        f" ({size.network_megapixels:.1f} MP through the network in tiles) at"
        f" {measured:.0f} s/MP (measured"
    )
    # A photo of one tile goes through as it is: its estimate and line are unchanged.
    small = run_size(paths[1:], upscaler)
    assert small == RunSize(0.02, 0.02)
    one = estimate_run("realesr-general-x4v3", CompactConfig(), small.network_megapixels)
    assert one is not None and one.seconds == pytest.approx(0.02 * measured)
    assert estimate_line(one, small.megapixels, small.network_megapixels) == estimate_line(
        one, 0.02
    )
    assert " MP of input at " in estimate_line(one, 0.02)


def test_upscale_estimates_a_tiled_photo_from_its_windows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = tmp_path / "photo.png"
    write_image(image, (np.random.default_rng(0).random((12, 16, 3)) * 255).astype(np.uint8))
    # The header says 4000x3000 (the run upscales the small file itself).
    monkeypatch.setattr("rwsr.models.cost.image_size", lambda path: (4000, 3000))
    tile = Upscaler(build_model(CompactConfig()), device="cpu", precision="fp32").auto_tile()
    rows = axis_spans(3000, tile, CONTEXT_OVERLAP, TILE_CONTEXT)
    cols = axis_spans(4000, tile, CONTEXT_OVERLAP, TILE_CONTEXT)
    network = len(rows) * len(cols) * (tile + 2 * TILE_CONTEXT) ** 2 / 1e6
    result = CliRunner().invoke(app, ["upscale", str(image), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    reference = zoo_entry(DEFAULT_MODEL).cpu_speed.seconds_per_megapixel
    assert (
        f"for 12.00 MP of input ({network:.1f} MP through the network in tiles) at"
        f" {reference:.0f} s/MP (measured" in result.output
    )
    measured = zoo_entry("realesr-general-x4v3").cpu_speed.seconds_per_megapixel
    assert f"--model realesr-general-x4v3 would take about {network * measured / 60:.0f} min" in (
        result.output
    )


def test_the_zoo_listing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RWSR_CACHE_DIR", str(tmp_path / "cache"))
    result = CliRunner().invoke(app, ["models", "list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert re.split(r"\s{2,}", lines[0]) == [
        "name", "scale", "size", "where", "CPU speed", "licence"
    ]  # fmt: skip
    rows = {line.split()[0]: line for line in lines[1 : 1 + len(ZOO)]}
    assert set(rows) == {entry.name for entry in ZOO}
    x4plus = re.split(r"\s{2,}", rows[DEFAULT_MODEL])
    assert x4plus[:5] == [f"{DEFAULT_MODEL} (default)", "x4", "33.5 MB", "bundled", "128 s/MP"]
    compact = re.split(r"\s{2,}", rows["realesr-general-x4v3"])
    assert compact[1:5] == ["x4", "2.4 MB", "made on first use", "7 s/MP"]
    assert compact[5].startswith("BSD-3-Clause")
    x2plus = re.split(r"\s{2,}", rows["realesrgan-x2plus"])
    assert x2plus[4] == "~32 s/MP (not measured)"  # 128 s/MP scaled by FLOPs
    assert "measured 2026-12-04 on 2 Intel Xeon cores" in result.output
