"""The one image reader every command uses: upright pixels, single frames, the same suffixes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageOps

from rwsr.data.folders import list_images
from rwsr.errors import InputError
from rwsr.imageio import EXIF_ORIENTATION, image_size, read_image, read_image_file
from rwsr.upscale.batch import OutputNaming, plan_jobs


def stored_landscape() -> np.ndarray:
    """10x16 pixels with a red left edge: the top edge once orientation 6 turns it upright."""
    stored = np.zeros((10, 16, 3), np.uint8)
    stored[:, :4] = (255, 0, 0)
    return stored


def exif(orientation: int) -> bytes:
    tags = Image.Exif()
    tags[EXIF_ORIENTATION] = orientation
    return tags.tobytes()


def test_exif_orientation_of_a_jpeg_is_applied(tmp_path: Path) -> None:
    path = tmp_path / "rotated.jpg"
    Image.fromarray(stored_landscape()).save(path, exif=exif(6), quality=100)
    upright = read_image(path)
    assert upright.shape == (16, 10, 3)  # portrait, as every viewer shows it
    assert upright[:3, :, 0].mean() > 200 and upright[-3:, :, 0].mean() < 60
    assert image_size(path) == (10, 16)  # the header agrees with the pixels
    assert read_image(path, channels=None).shape == (16, 10, 3)


@pytest.mark.parametrize("suffix", [".png", ".webp", ".tif"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_matches_pillows_transpose(
    tmp_path: Path, suffix: str, orientation: int
) -> None:
    stored = np.random.default_rng(orientation).integers(0, 256, (6, 10, 3), dtype=np.uint8)
    path = tmp_path / f"o{orientation}{suffix}"
    options = {"lossless": True} if suffix == ".webp" else {}
    Image.fromarray(stored).save(path, exif=exif(orientation), **options)
    with Image.open(path) as handle:
        expected = np.asarray(ImageOps.exif_transpose(handle).convert("RGB"))
    np.testing.assert_array_equal(read_image(path), expected)
    assert image_size(path) == (expected.shape[1], expected.shape[0])


def test_tiff_orientation_is_applied_once(tmp_path: Path) -> None:
    """OpenCV turns a TIFF by its Orientation tag itself; turning it again was wrong."""
    stored = stored_landscape()
    pillow, plain = tmp_path / "pillow.tif", tmp_path / "tifffile.tif"
    Image.fromarray(stored).save(pillow, exif=exif(6))
    tifffile.imwrite(plain, stored, photometric="rgb", extratags=[(274, 3, 1, 6, True)])
    expected = np.swapaxes(stored, 0, 1)[:, ::-1]  # 90 degrees clockwise
    for path in (pillow, plain):
        np.testing.assert_array_equal(read_image(path), expected)
        np.testing.assert_array_equal(read_image_file(path).pixels, expected)
        assert image_size(path) == (10, 16)


@pytest.mark.parametrize("suffix", [".gif", ".webp", ".png"])
def test_animations_are_refused_naming_the_file_and_frames(tmp_path: Path, suffix: str) -> None:
    frames = [Image.fromarray(np.full((12, 20, 3), 60 * k, np.uint8)) for k in range(3)]
    path = tmp_path / f"animated{suffix}"
    options = {"lossless": True} if suffix == ".webp" else {}
    frames[0].save(path, save_all=True, append_images=frames[1:], **options)
    with Image.open(path) as handle:
        assert handle.n_frames == 3  # the file really is an animation
    for read in (read_image, read_image_file):
        with pytest.raises(InputError, match=f"{path}: has 3 frames; rwsr reads single images"):
            read(path)


def test_a_single_frame_gif_is_an_image(tmp_path: Path) -> None:
    pixels = np.zeros((12, 20, 3), np.uint8)
    pixels[:, 10:] = (0, 128, 255)
    path = tmp_path / "still.gif"
    Image.fromarray(pixels).save(path)
    np.testing.assert_array_equal(read_image(path), pixels)
    assert read_image_file(path).pixels.shape == (12, 20, 3)


def test_folders_and_files_given_by_name_accept_the_same_suffixes(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(folder / "still.gif")
    (folder / "notes.txt").write_text("not an image")
    assert [path.name for path in list_images(folder)] == ["still.gif"]
    naming = OutputNaming(directory=tmp_path / "out", suffix="_x4")
    from_folder, _ = plan_jobs([folder], naming)
    by_name, notes = plan_jobs([folder / "still.gif", folder / "notes.txt"], naming)
    assert [job.source for job in from_folder] == [job.source for job in by_name]
    assert by_name[0].output.name == "still_x4.png"  # GIF's palette would lose colours
    suffixes = ".bmp, .gif, .jpeg, .jpg, .png, .tif, .tiff, .webp"
    assert notes == [f"{folder / 'notes.txt'}: skipped, not an image ({suffixes})"]
