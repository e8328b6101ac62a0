"""Reading and writing image files with clear per-file errors.

Arrays are HxWxC in RGB(A) channel order with the file's own integer type (uint8 or uint16);
`to_float` / `from_float` convert to the model contract (float32 in [0, 1]).
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import tifffile
from PIL import Image

from rwsr.atomic import atomic_path
from rwsr.errors import InputError

# We report decoding failures ourselves, per file; OpenCV's own stderr lines would only confuse.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
# rwsr refuses oversized inputs itself (--max-pixels, checked from the header before any
# decoding); Pillow's own fixed limit would override the user's choice.
Image.MAX_IMAGE_PIXELS = None

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


# --------------------------------------------------------------------------- with metadata

EXIF_ORIENTATION = 0x0112
# The IFD0 tags that describe the photo rather than its storage: the only ones carried into
# the output. Pillow reads a TIFF's own IFD0 as its EXIF, with the input's size, strips,
# compression and photometric; written into the output they would describe the input's
# pixels (a 384x384 result claiming 96x384; CMYK claiming SEPARATED and unreadable).
# ImageDescription and Software are left out: TIFF writers keep layout there (tifffile's
# shape JSON), and the output's writer is not the input's.
_PHOTO_TAGS = frozenset(
    {
        0x010F,  # Make
        0x0110,  # Model
        EXIF_ORIENTATION,
        0x011A,  # XResolution
        0x011B,  # YResolution
        0x0128,  # ResolutionUnit
        0x0132,  # DateTime
        0x013B,  # Artist
        0x013E,  # WhitePoint
        0x013F,  # PrimaryChromaticities
        0x8298,  # Copyright
        0x8769,  # Exif IFD (exposure, lens, dates, ...)
        0x8825,  # GPS IFD
    }
)
# EXIF orientation -> how to turn the stored pixels upright (numpy operations, in order).
_ORIENTATION_FIXES = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: np.swapaxes(a, 0, 1),
    6: lambda a: np.swapaxes(a, 0, 1)[:, ::-1],
    7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1],
    8: lambda a: np.swapaxes(a, 0, 1)[::-1],
}


@dataclass(frozen=True)
class ImageFile:
    """Pixels turned upright (EXIF orientation applied), in the file's channels and bit depth,
    with the colour profile and EXIF block to carry into the output (orientation reset to 1)."""

    pixels: np.ndarray
    icc_profile: bytes | None
    exif: bytes | None


def image_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(width, height) from the file header, without decoding the pixels."""
    path = Path(path)
    if path.is_file() and path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty (0 bytes)")
    try:
        with Image.open(path) as handle:
            return handle.size
    except Image.DecompressionBombError:
        raise InputError(f"{path}: image is too large to open safely") from None
    except (OSError, ValueError) as error:
        if isinstance(error, FileNotFoundError):
            raise InputError(f"{path}: no such file") from None
        raise InputError(f"{path}: not a readable image ({error})") from None


def read_image_file(path: str | os.PathLike[str], *, max_pixels: int | None = None) -> ImageFile:
    """Read pixels (OpenCV: 8/16-bit, gray/RGB/RGBA) and metadata (Pillow) of an image file.

    `max_pixels` is checked from the header before any pixel is decoded.
    """
    path = Path(path)
    width, height = image_size(path)
    if max_pixels is not None and width * height > max_pixels:
        raise InputError(
            f"{path}: {width}x{height} = {width * height / 1e6:.1f} MPix is above the limit of"
            f" {max_pixels / 1e6:.1f} MPix (raise it with --max-pixels)"
        )
    pixels = read_image(path, channels=None)
    try:
        with Image.open(path) as handle:
            # OpenCV turns CMYK into RGB plus an alpha the file lacks; its CMYK profile no
            # longer describes the pixels.
            cmyk = handle.mode == "CMYK"
            if cmyk:
                pixels = pixels[:, :, :3]
            icc = None if cmyk else handle.info.get("icc_profile") or None
            exif = handle.getexif()
            orientation = int(exif.get(EXIF_ORIENTATION, 1) or 1)
            for tag in set(exif) - _PHOTO_TAGS:
                del exif[tag]
            exif_bytes = None
            if len(exif):
                exif[EXIF_ORIENTATION] = 1
                exif_bytes = exif.tobytes()
    except (OSError, ValueError, SyntaxError) as error:  # Pillow's errors for damaged metadata
        raise InputError(f"{path}: unreadable metadata ({error})") from None
    if pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    fix = _ORIENTATION_FIXES.get(orientation)
    if fix is not None:
        pixels = np.ascontiguousarray(fix(pixels))
    return ImageFile(pixels=pixels, icc_profile=icc, exif=exif_bytes)


def write_image_file(
    path: str | os.PathLike[str],
    pixels: np.ndarray,
    *,
    icc_profile: bytes | None = None,
    exif: bytes | None = None,
    overwrite: bool = False,
    quality: int = 95,
) -> list[str]:
    """Write pixels with their colour profile and EXIF where the format allows; atomic.

    16-bit pixels stay 16-bit in PNG and TIFF; JPEG, WebP and BMP get 8 bits. Returns
    warnings about what the format could not keep.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    notes: list[str] = []
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    if suffix in {".jpg", ".jpeg", ".bmp"} and channels == 4:
        pixels = pixels[:, :, :3]
        notes.append(f"{suffix} cannot store transparency: alpha channel dropped")
    if pixels.dtype == np.uint16 and suffix not in {".png", ".tif", ".tiff"}:
        pixels = from_float(to_float(pixels), np.uint8)
        notes.append(f"{suffix} holds 8 bits per channel: 16-bit output reduced to 8 bits")
    if pixels.dtype == np.uint16:
        _write_16bit(path, pixels, icc_profile, exif, overwrite)
        if exif and suffix != ".png":
            notes.append("EXIF is not written to 16-bit TIFF files")
        return notes
    if suffix == ".bmp" and (icc_profile or exif):
        notes.append("BMP cannot store a colour profile or EXIF: metadata dropped")
    image = Image.fromarray(pixels[:, :, 0] if pixels.ndim == 3 and channels == 1 else pixels)
    options: dict[str, object] = {}
    if suffix != ".bmp":
        if icc_profile:
            options["icc_profile"] = icc_profile
        if exif:
            options["exif"] = exif
    if suffix in {".jpg", ".jpeg", ".webp"}:
        options["quality"] = quality
    if suffix in {".tif", ".tiff"}:
        options["compression"] = "tiff_deflate"
    with atomic_path(path, overwrite=overwrite) as tmp:
        try:
            image.save(tmp, format=Image.registered_extensions()[suffix], **options)
        except (KeyError, OSError, ValueError) as error:
            raise InputError(f"{path}: cannot write {suffix} ({error})") from None
    return notes


def _write_16bit(
    path: Path, pixels: np.ndarray, icc: bytes | None, exif: bytes | None, overwrite: bool
) -> None:
    """16-bit RGB(A)/gray PNG or TIFF. Pillow cannot write 16-bit colour, so OpenCV encodes the
    PNG and the iCCP/eXIf chunks are inserted here (a few lines of the PNG spec); TIFF goes
    through tifffile, which stores the ICC profile as a tag."""
    if path.suffix.lower() in {".tif", ".tiff"}:
        photometric = "minisblack" if pixels.ndim == 2 or pixels.shape[2] == 1 else "rgb"
        with atomic_path(path, overwrite=overwrite) as tmp:
            tifffile.imwrite(
                tmp, pixels, photometric=photometric, compression="zlib", iccprofile=icc
            )
        return
    bgr = pixels
    if pixels.ndim == 3 and pixels.shape[2] == 3:
        bgr = pixels[:, :, ::-1]
    elif pixels.ndim == 3 and pixels.shape[2] == 4:
        bgr = pixels[:, :, [2, 1, 0, 3]]
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(bgr))
    if not ok:
        raise InputError(f"{path}: OpenCV cannot encode this image as PNG")
    data = encoded.tobytes()
    chunks = b""
    if icc:
        chunks += _png_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc))
    if exif:
        chunks += _png_chunk(b"eXIf", exif.removeprefix(b"Exif\x00\x00"))
    header_end = 8 + 8 + 13 + 4  # signature, IHDR length+type, IHDR data, CRC
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_bytes(data[:header_end] + chunks + data[header_end:])


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )
