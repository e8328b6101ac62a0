"""Reading and writing image files with clear per-file errors.

Arrays are HxWxC in RGB(A) channel order with the file's own integer type (uint8 or uint16);
`to_float` / `from_float` convert to the model contract (float32 in [0, 1]) by the conventions
of rwsr.sample_types.
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
from PIL import ExifTags, Image

from rwsr.atomic import atomic_path
from rwsr.errors import InputError
from rwsr.sample_types import from_unit, to_unit

# We report decoding failures ourselves, per file; OpenCV's own stderr lines would only confuse.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
# rwsr refuses oversized inputs itself (--max-pixels, checked from the header before any
# decoding); Pillow's own fixed limit would override the user's choice.
Image.MAX_IMAGE_PIXELS = None

# Every format the reader decodes; folders are scanned for these and a file given by name must
# carry one, so both ways of naming an input accept the same files.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif"})
EXIF_ORIENTATION = 0x0112
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
_TRANSPOSING = frozenset({5, 6, 7, 8})  # orientations whose upright picture swaps width, height
_ANIMATED_FORMATS = frozenset({"GIF", "WEBP", "PNG"})  # Pillow's names; PNG: APNG


def is_image_path(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def read_image(path: str | os.PathLike[str], *, channels: int | None = 3) -> np.ndarray:
    """Decode `path` to an upright HxWxC uint8/uint16 RGB(A) array.

    Every read of rwsr goes through here, so the EXIF orientation is applied once, the same
    way for every command, and an animation is refused rather than cut to its first frame.
    `channels=3` converts gray and RGBA to RGB (alpha dropped), `channels=1` returns luma-free
    gray as HxWx1 via OpenCV's conversion, `None` keeps the file's channels (1, 3 or 4).
    """
    return _read_upright(Path(path), channels)[0]


def _read_upright(path: Path, channels: int | None) -> tuple[np.ndarray, int]:
    """read_image, and the EXIF orientation the stored pixels had (1: stored upright)."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as error:
        raise InputError(f"{path}: cannot read file ({error.strerror or error})") from None
    if data.size == 0:
        raise InputError(f"{path}: file is empty (0 bytes)")
    header = _header(path)
    if header is not None and header.frames > 1:
        raise InputError(
            f"{path}: has {header.frames} frames; rwsr reads single images, so save the frame"
            " you want as its own file"
        )
    if header is not None and header.format == "GIF":
        image = _gif_pixels(path)  # OpenCV decodes GIF only from 4.11 on
    else:
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
        if image is None:
            raise InputError(
                f"{path}: not a readable image (corrupt, truncated or unsupported format)"
            )
        if image.ndim == 3 and image.shape[2] == 3:
            image = image[:, :, ::-1]
        elif image.ndim == 3 and image.shape[2] == 4:
            image = image[:, :, [2, 1, 0, 3]]
    if image.dtype not in (np.uint8, np.uint16):
        raise InputError(f"{path}: unsupported sample type {image.dtype}; expected 8 or 16 bit")
    if image.ndim == 2:
        image = image[:, :, None]
    orientation = 1 if header is None else header.orientation
    # OpenCV's TIFF decoder (libtiff's RGBA interface) turns the pixels by the Orientation
    # tag itself, whatever the flags; every other decoder leaves it to us.
    fix = _ORIENTATION_FIXES.get(orientation)
    if fix is not None and header is not None and header.format != "TIFF":
        image = fix(image)
    if channels == 3:
        if image.shape[2] == 1:
            image = np.repeat(image, 3, axis=2)
        image = image[:, :, :3]
    elif channels == 1 and image.shape[2] != 1:
        image = cv2.cvtColor(np.ascontiguousarray(image[:, :, :3]), cv2.COLOR_RGB2GRAY)[:, :, None]
    return np.ascontiguousarray(image), orientation


@dataclass(frozen=True)
class _Header:
    """What the reader needs to know before decoding: the container's format, the stored
    (width, height), the EXIF orientation and how many animation frames it holds."""

    format: str | None
    size: tuple[int, int]
    orientation: int
    frames: int


def _header(path: Path) -> _Header | None:
    """The header of `path` as Pillow parses it (no pixels decoded); None where Pillow cannot
    parse it, and then OpenCV alone decides whether the file is an image."""
    try:
        with Image.open(path) as handle:
            size = handle.size
            if handle.format == "TIFF":  # recent Pillow reports a TIFF's size turned upright
                tags = handle.tag_v2  # type: ignore[attr-defined]
                size = (int(tags.get(256, size[0])), int(tags.get(257, size[1])))
            return _Header(handle.format, size, _orientation(handle), _frames(handle))
    except Image.DecompressionBombError:
        raise InputError(f"{path}: image is too large to open safely") from None
    except (OSError, EOFError, ValueError, SyntaxError, struct.error):
        return None


def _orientation(handle: Image.Image) -> int:
    """The EXIF orientation (1 when absent or damaged); for TIFF the tag OpenCV applies."""
    # A PNG's EXIF comes before its pixels (eXIf after IDAT, allowed before the third edition
    # of the PNG spec, is not looked for): Pillow would decode the whole image to find it.
    if handle.format == "PNG" and "exif" not in handle.info:
        return 1
    try:
        if handle.format == "TIFF":
            value = handle.tag_v2.get(EXIF_ORIENTATION, 1)  # type: ignore[attr-defined]
        else:
            value = handle.getexif().get(EXIF_ORIENTATION, 1)
        return int(value or 1)
    except (OSError, ValueError, TypeError, SyntaxError, struct.error):
        return 1


def _frames(handle: Image.Image) -> int:
    """Frames of an animation (GIF, WebP, APNG). A JPEG's extra pictures (MPO: depth map, HDR
    gain map) belong to the one photo, and a TIFF's pages are read as before: its first."""
    if handle.format not in _ANIMATED_FORMATS:
        return 1
    return int(getattr(handle, "n_frames", 1))


def _gif_pixels(path: Path) -> np.ndarray:
    """The one frame of a GIF as RGB, or RGBA where the palette has a transparent entry."""
    try:
        with Image.open(path) as handle:
            mode = "RGBA" if "transparency" in handle.info else "RGB"
            return np.asarray(handle.convert(mode))
    except (OSError, EOFError, ValueError, SyntaxError) as error:
        raise InputError(
            f"{path}: not a readable image (corrupt, truncated or unsupported format: {error})"
        ) from None


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
    """uint8/uint16 -> float32 in [0, 1] (rwsr.sample_types.to_unit)."""
    return to_unit(image, np.float32)


def from_float(image: np.ndarray, dtype: type[np.integer] = np.uint8) -> np.ndarray:
    """float in [0, 1] -> uint8/uint16, clipped and rounded to nearest in float64 (exact for
    float32 input; rwsr.sample_types.from_unit)."""
    return from_unit(np.asarray(image, dtype=np.float64), dtype)


# --------------------------------------------------------------------------- with metadata

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


@dataclass(frozen=True)
class ImageFile:
    """Pixels turned upright (EXIF orientation applied), in the file's channels and bit depth,
    with the colour profile and EXIF block to carry into the output (orientation reset to 1)."""

    pixels: np.ndarray
    icc_profile: bytes | None
    exif: bytes | None


def image_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """Upright (width, height), as read_image gives the pixels, from the file header without
    decoding them."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as error:  # missing, a symbolic link loop, no permission
        raise InputError(f"{path}: cannot read file ({error.strerror or error})") from None
    if size == 0 and path.is_file():
        raise InputError(f"{path}: file is empty (0 bytes)")
    header = _header(path)
    if header is None:
        raise InputError(f"{path}: not a readable image (corrupt, truncated or unsupported format)")
    width, height = header.size
    return (height, width) if header.orientation in _TRANSPOSING else (width, height)


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
    pixels, orientation = _read_upright(path, None)
    try:
        with Image.open(path) as handle:
            # OpenCV turns CMYK into RGB plus an alpha the file lacks; its CMYK profile no
            # longer describes the pixels.
            cmyk = handle.mode == "CMYK"
            if cmyk:
                pixels = pixels[:, :, :3]
            icc = None if cmyk else handle.info.get("icc_profile") or None
            exif = handle.getexif()
            for tag in set(exif) - _PHOTO_TAGS:
                del exif[tag]
            exif_bytes = None
            if len(exif):
                # The pixels are upright now; an orientation the reader did not apply (a PNG's
                # eXIf after its pixels) stays, so viewers still turn the output as the input.
                if orientation != 1 or EXIF_ORIENTATION not in exif:
                    exif[EXIF_ORIENTATION] = 1
                exif_bytes = exif.tobytes()
    except (OSError, ValueError, SyntaxError) as error:  # Pillow's errors for damaged metadata
        raise InputError(f"{path}: unreadable metadata ({error})") from None
    if pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
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
        # Pillow writes the Exif and GPS blocks (sub-IFDs) of a TIFF only uncompressed: libtiff,
        # its compressing writer, refuses them ("Error setting from dictionary").
        options["compression"] = "raw" if _has_exif_blocks(exif) else "tiff_deflate"
    with atomic_path(path, overwrite=overwrite) as tmp:
        try:
            image.save(tmp, format=Image.registered_extensions()[suffix], **options)
        except (KeyError, OSError, ValueError) as error:
            raise InputError(f"{path}: cannot write {suffix} ({error})") from None
    return notes


def _has_exif_blocks(exif: bytes | None) -> bool:
    """Whether an EXIF block holds an Exif or GPS sub-IFD (exposure, lens, dates, location)."""
    if not exif:
        return False
    parsed = Image.Exif()
    parsed.load(exif)
    return ExifTags.IFD.Exif in parsed or ExifTags.IFD.GPSInfo in parsed


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
