"""Image files through the upscaler keep bit depth, mode, orientation and metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from PIL import ExifTags, Image, ImageCms

from rwsr.imageio import EXIF_ORIENTATION, read_image_file, write_image_file
from rwsr.upscale.batch import Job, upscale_file
from rwsr.upscale.engine import Upscaler

ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.fixture
def upscaler(nearest_model: torch.nn.Module) -> Upscaler:
    return Upscaler(nearest_model, precision="fp32")


def _x4(pixels: np.ndarray) -> np.ndarray:
    return pixels.repeat(4, axis=0).repeat(4, axis=1)


def _gradient(height: int, width: int, channels: int, dtype: type) -> np.ndarray:
    peak = np.iinfo(dtype).max
    yy, xx = np.mgrid[:height, :width]
    planes = [(yy * 7 + xx * 3 + 40 * c) % peak for c in range(channels)]
    return np.stack(planes, axis=2).astype(dtype)


def _run(upscaler: Upscaler, source: Path, tmp_path: Path, ext: str | None = None) -> Path:
    output = tmp_path / "out" / f"{source.stem}_x4{ext or source.suffix}"
    result = upscale_file(upscaler, Job(source, output), outscale=None, overwrite=False)
    assert result.status == "done", result.message
    return output


def test_16bit_rgb_png_stays_16bit_with_profile(upscaler: Upscaler, tmp_path: Path) -> None:
    source = tmp_path / "deep.png"
    pixels = _gradient(12, 9, 3, np.uint16) * 7 + 1
    write_image_file(source, pixels, icc_profile=ICC)
    assert read_image_file(source).icc_profile == ICC  # our own 16-bit PNG writer embeds it
    out = read_image_file(_run(upscaler, source, tmp_path))
    assert out.pixels.dtype == np.uint16
    np.testing.assert_array_equal(out.pixels, _x4(pixels))  # every 16-bit value survives
    assert out.icc_profile == ICC


def test_16bit_gray_tiff(upscaler: Upscaler, tmp_path: Path) -> None:
    source = tmp_path / "gray.tif"
    pixels = _gradient(10, 11, 1, np.uint16)[:, :, 0] * 97
    tifffile.imwrite(source, pixels, iccprofile=ICC)
    out_path = _run(upscaler, source, tmp_path)
    out = read_image_file(out_path)
    assert out.pixels.dtype == np.uint16
    np.testing.assert_array_equal(out.pixels, _x4(pixels))
    with tifffile.TiffFile(out_path) as handle:
        assert handle.pages[0].tags["InterColorProfile"].value == ICC


def test_gray_and_rgba_keep_their_mode(upscaler: Upscaler, tmp_path: Path) -> None:
    gray = _gradient(10, 12, 1, np.uint8)[:, :, 0]
    rgba = _gradient(10, 12, 4, np.uint8)
    rgba[:, :, 3] = np.linspace(100, 255, 12, dtype=np.uint8)[None, :]  # nowhere fully transparent
    Image.fromarray(gray, "L").save(tmp_path / "g.png")
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.webp", lossless=True, exact=True)
    with Image.open(_run(upscaler, tmp_path / "g.png", tmp_path)) as out:
        assert out.mode == "L"
        np.testing.assert_array_equal(np.asarray(out), _x4(gray))
    for name in ("a.png", "a.webp"):
        with Image.open(_run(upscaler, tmp_path / name, tmp_path)) as out:
            assert out.mode == "RGBA"
            result = np.asarray(out)
            colour_error = np.abs(result[:, :, :3].astype(int) - _x4(rgba)[:, :, :3])
            assert colour_error.max() <= (
                0 if name.endswith(".png") else 12
            )  # WebP output is lossy
            # Alpha is resized smoothly (bicubic), so it follows the input's ramp closely.
            assert np.abs(result[:, :, 3].astype(int) - _x4(rgba)[:, :, 3]).max() <= 14


def test_exif_orientation_applied_and_reset(upscaler: Upscaler, tmp_path: Path) -> None:
    """A landscape 16x10 pixel block stored with orientation 6 (rotate 90 cw) is a 10x16
    portrait picture; the output is upright (portrait) and says orientation 1."""
    stored = np.zeros((10, 16, 3), np.uint8)
    stored[:, :4] = (255, 0, 0)  # red on the stored left edge -> top edge once upright
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    exif[0x010F] = "rwsr-test-camera"  # Make
    source = tmp_path / "rotated.jpg"
    Image.fromarray(stored).save(source, exif=exif.tobytes(), quality=100, icc_profile=ICC)
    out_path = _run(upscaler, source, tmp_path)
    with Image.open(out_path) as out:
        assert out.size == (40, 64)  # portrait: width 10*4, height 16*4
        assert out.getexif()[EXIF_ORIENTATION] == 1
        assert out.getexif()[0x010F] == "rwsr-test-camera"
        assert out.info["icc_profile"] == ICC
    upright = read_image_file(source).pixels
    assert upright.shape == (16, 10, 3)
    assert upright[:3, :, 0].mean() > 200 and upright[-3:, :, 0].mean() < 60


def test_tiff_orientation_is_applied_once(upscaler: Upscaler, tmp_path: Path) -> None:
    """OpenCV's TIFF decoder applies the Orientation tag itself: turning the pixels again gave
    a landscape result of a portrait picture (rotated twice)."""
    stored = _gradient(10, 16, 3, np.uint8)
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    source = tmp_path / "rotated.tif"
    Image.fromarray(stored).save(source, exif=exif.tobytes())
    out_path = _run(upscaler, source, tmp_path)
    with Image.open(out_path) as out:
        assert out.size == (40, 64)  # portrait, once
        assert out.getexif()[EXIF_ORIENTATION] == 1
        result = np.asarray(out)
    np.testing.assert_array_equal(result, _x4(np.swapaxes(stored, 0, 1)[:, ::-1]))


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp"])
def test_exif_and_gps_blocks_of_a_phone_photo_go_into_tiff(
    upscaler: Upscaler, tmp_path: Path, suffix: str
) -> None:
    """A phone photo's EXIF has an Exif block (exposure, dates) and a GPS block: written as
    TIFF they made libtiff fail ("Error setting from dictionary") and no file was written."""
    exif = Image.Exif()
    exif[0x010F] = "rwsr-test-phone"  # Make
    exif.get_ifd(ExifTags.IFD.Exif).update({0x829A: 0.01, 0x9003: "2024:05:01 10:00:00"})
    gps = {1: "N", 2: (52.0, 31.0, 12.5), 3: "E", 4: (13.0, 24.0, 1.0)}
    exif.get_ifd(ExifTags.IFD.GPSInfo).update(gps)
    source = tmp_path / f"phone{suffix}"
    stored = _gradient(6, 8, 3, np.uint8)
    Image.fromarray(stored).save(source, exif=exif.tobytes(), quality=100, lossless=True)
    out_path = _run(upscaler, source, tmp_path, ext=".tif")
    with Image.open(out_path) as out:
        written = out.getexif()
        assert written[0x010F] == "rwsr-test-phone"
        assert written.get_ifd(ExifTags.IFD.Exif)[0x9003] == "2024:05:01 10:00:00"
        assert written.get_ifd(ExifTags.IFD.Exif)[0x829A] == 0.01
        assert written.get_ifd(ExifTags.IFD.GPSInfo) == gps
        np.testing.assert_array_equal(np.asarray(out), _x4(read_image_file(source).pixels))


def test_jpeg_output_drops_alpha_with_a_note(upscaler: Upscaler, tmp_path: Path) -> None:
    Image.fromarray(_gradient(8, 8, 4, np.uint8), "RGBA").save(tmp_path / "a.png")
    output = tmp_path / "a.jpg"
    result = upscale_file(upscaler, Job(tmp_path / "a.png", output), outscale=None, overwrite=False)
    assert result.status == "done" and "alpha channel dropped" in result.message
    with Image.open(output) as image:
        assert image.mode == "RGB"
