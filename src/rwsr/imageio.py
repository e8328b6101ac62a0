"""Reading and writing image files with clear per-file errors.

Arrays are HxWxC in RGB(A) channel order with the file's own integer type (uint8 or uint16);
`to_float` / `from_float` convert to the model contract (float32 in [0, 1]).
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from rwsr.atomic import atomic_path
from rwsr.errors import InputError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp"})


def is_image_path(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def read_image(path: str | os.PathLike[str], *, channels: int | None = 3) -> np.ndarray:
    """Decode `path` to an HxWxC uint8/uint16 RGB(A) array.

    `channels=3` converts gray and RGBA to RGB (alpha dropped), `channels=1` returns luma-free
    gray as HxWx1 via OpenCV's conversion, `None` keeps the file's channels (1, 3 or 4).
    """
    path = Path(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as error:
        raise InputError(f"{path}: cannot read file ({error.strerror or error})") from None
    if data.size == 0:
        raise InputError(f"{path}: file is empty (0 bytes)")
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if image is None:
        raise InputError(f"{path}: not a readable image (corrupt, truncated or unsupported format)")
    if image.dtype not in (np.uint8, np.uint16):
        raise InputError(f"{path}: unsupported sample type {image.dtype}; expected 8 or 16 bit")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.shape[2] == 3:
        image = image[:, :, ::-1]
    elif image.shape[2] == 4:
        image = image[:, :, [2, 1, 0, 3]]
    if channels == 3:
        if image.shape[2] == 1:
            image = np.repeat(image, 3, axis=2)
        image = image[:, :, :3]
    elif channels == 1 and image.shape[2] != 1:
        image = cv2.cvtColor(np.ascontiguousarray(image[:, :, :3]), cv2.COLOR_RGB2GRAY)[:, :, None]
    return np.ascontiguousarray(image)


def write_image(
    path: str | os.PathLike[str], image: np.ndarray, *, overwrite: bool = False, quality: int = 95
) -> None:
    """Encode an HxWxC (or HxW) uint8/uint16 RGB(A) array to `path` atomically.

    The format follows the suffix; `quality` applies to JPEG and WebP.
    """
    path = Path(path)
    if image.dtype not in (np.uint8, np.uint16):
        raise InputError(f"{path}: cannot write sample type {image.dtype}; convert to uint8/uint16")
    if image.ndim == 3 and image.shape[2] == 3:
        image = image[:, :, ::-1]
    elif image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, [2, 1, 0, 3]]
    params: list[int] = []
    suffix = path.suffix.lower()
    if suffix in {".jpg", ".jpeg"}:
        params = [cv2.IMWRITE_JPEG_QUALITY, quality]
    elif suffix == ".webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, quality]
    ok, encoded = cv2.imencode(suffix, np.ascontiguousarray(image), params)
    if not ok:
        raise InputError(f"{path}: OpenCV cannot encode this image as {suffix}")
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_bytes(encoded.tobytes())


def to_float(image: np.ndarray) -> np.ndarray:
    """uint8/uint16 -> float32 in [0, 1]."""
    return image.astype(np.float32) / float(np.iinfo(image.dtype).max)


def from_float(image: np.ndarray, dtype: type[np.integer] = np.uint8) -> np.ndarray:
    """float in [0, 1] -> uint8/uint16, clipped and rounded to nearest."""
    peak = float(np.iinfo(dtype).max)
    return np.clip(np.rint(np.asarray(image, dtype=np.float64) * peak), 0, peak).astype(dtype)
