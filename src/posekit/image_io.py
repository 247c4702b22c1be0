"""Image files and bytes -> the uint8 (H, W, 3) BGR array, upright, that every predictor takes; or an
:class:`ImageError` that says what is wrong and what is accepted.

Read: JPEG (8-bit, grey, Adobe CMYK, the multi-picture MPO kind some cameras write: its first picture), PNG
(1-16 bit, grey, grey + alpha, palette, RGBA, the first frame of an APNG), GIF (first frame), WebP, BMP, TIFF
(first page; 8 or 16 bit), AVIF.

What is decided here, once for every path (files, folders, datasets, uploads):

- **Refused before any pixel is decoded**: empty data; data that is no image (the message says what it
  looks like: text, an HTML page, a PDF ...); a video (MP4/MOV, AVI, MKV/WebM, MPEG, ...); HEIC; a header
  declaring more than ``max_pixels`` pixels or a side over OpenCV's limit; a truncated JPEG (no end marker
  after its scan) or PNG (no IEND chunk). Truncated files are refused rather than half decoded: libjpeg
  fills the missing rows grey without an error, and people posed on a half-grey photo are wrong answers.
- **EXIF orientation** (1..8) is applied here and only here: OpenCV is always told to ignore it
  (``IMREAD_IGNORE_ORIENTATION``) because OpenCV 4.14 honours it for JPEG, PNG and WebP but fails on an
  oriented TIFF -- one implementation, never a double rotation.
- **16 bit** values are scaled to 8 bit with rounding (v * 255 / 65535), not truncated.
- **Alpha** (RGBA, grey + alpha, palette or GIF transparency) is composited over white, as image viewers and
  browsers show it on a white page; transparent pixels' stored colours are often arbitrary.
- **CMYK JPEGs** are converted by OpenCV's libjpeg-turbo path with the Adobe convention (inverted CMYK, as
  Photoshop writes it and browsers assume); within ~1 grey level of Pillow on an Adobe CMYK file.
- **Animations and multi-page files** (GIF, APNG, WebP, TIFF): the first frame is used and a warning says so.

Plain JPEG and PNG headers are read here (a few microseconds, so dataset loading keeps OpenCV's speed);
Pillow (imported only then) reads the other formats' headers lazily, through its format classes so that its
own decompression-bomb limit never disagrees with ``max_pixels``: the one limit is ours.
"""

from __future__ import annotations

import io
import logging
import os
import struct
from dataclasses import dataclass, field

import cv2
import numpy as np

from posekit.image_sniff import identify

__all__ = ["ACCEPTED", "MAX_PIXELS", "DecodedImage", "ImageError", "decode", "decode_image", "orient"]

log = logging.getLogger(__name__)

#: the formats named in error messages
ACCEPTED = "JPEG, PNG, GIF, WebP, BMP, TIFF or AVIF"

#: default pixel limit: the largest phone photos (200-MP sensors: 16,320 x 12,240 = 199.8 MP) with 5 % to
#: spare; one decodes to 630 MB of BGR. Decompression bombs beyond it are refused from their header.
MAX_PIXELS = 210_000_000

#: OpenCV refuses larger images itself (with an assertion); the same limits, said clearly
OPENCV_MAX_PIXELS = int(os.environ.get("OPENCV_IO_MAX_IMAGE_PIXELS", 1 << 30))
OPENCV_MAX_SIDE = min(int(os.environ.get("OPENCV_IO_MAX_IMAGE_WIDTH", 1 << 20)),
                      int(os.environ.get("OPENCV_IO_MAX_IMAGE_HEIGHT", 1 << 20)))

_IMDECODE_FLAGS = cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION
_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_ROTATION_WORDS = {2: "mirrored left-right", 3: "rotated 180 degrees", 4: "mirrored top-bottom",
                   5: "transposed", 6: "rotated 90 degrees clockwise", 7: "transversed",
                   8: "rotated 90 degrees counter-clockwise"}


class ImageError(ValueError):
    """Data that posekit will not decode as a photo; the message names the input, says what is wrong and
    what is accepted. A ValueError, so the CLI reports it as a user error (exit status 2)."""


@dataclass(frozen=True)
class DecodedImage:
    """A decoded photo: ``image`` uint8 (H, W, 3) BGR, upright (EXIF orientation applied), in the pixel frame
    every prediction is returned in; ``format`` as detected from the bytes ("JPEG", "PNG" ...); ``notes``:
    what was done beyond plain decoding ("EXIF orientation 6: rotated 90 degrees clockwise", "alpha composited
    over white"); ``warnings``: what the caller should tell the user ("GIF with 12 frames: the first one is
    used")."""

    image: np.ndarray
    format: str
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass
class _Header:
    """What a file's header declares: (width, height) as stored (before orientation), EXIF orientation,
    frame/page count; ``truncated`` when the data ends before the image does."""

    format: str
    width: int
    height: int
    orientation: int = 1
    frames: int = 1
    truncated: bool = False
    notes: list[str] = field(default_factory=list)


def decode_image(data: bytes | bytearray | memoryview | str | os.PathLike, *, name: str = "",
                 max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """The uint8 (H, W, 3) BGR array, upright, of an image file path or its bytes (see :func:`decode`);
    its warnings (first frame of an animation used) are logged."""
    result = decode(data, name=name, max_pixels=max_pixels)
    if not (result.notes or result.warnings):
        return result.image
    label = name or (str(data) if isinstance(data, (str, os.PathLike)) else "image data")
    for note in result.notes:
        log.debug("%s: %s", label, note)
    for warning in result.warnings:
        log.warning("%s: %s", label, warning)
    return result.image


def decode(data: bytes | bytearray | memoryview | str | os.PathLike, *, name: str = "",
           max_pixels: int = MAX_PIXELS) -> DecodedImage:
    """Decode an image file (a path) or its bytes to a :class:`DecodedImage`.

    ``name`` labels messages (default: the path, else "image data"). ``max_pixels``: the largest width x
    height accepted, checked on the header before decoding. Raises :class:`ImageError` (a ValueError) for
    data that is not an image posekit reads; FileNotFoundError / IsADirectoryError for a bad path;
    TypeError for an argument that is neither a path nor bytes."""
    if not 0 < max_pixels <= OPENCV_MAX_PIXELS:
        raise ValueError(f"max_pixels must be in 1 .. {OPENCV_MAX_PIXELS:,} (OpenCV's own limit), got {max_pixels}")
    if isinstance(data, (str, os.PathLike)):
        name = name or str(data)
        data = _read_file(data)
    elif isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    elif not isinstance(data, bytes):
        raise TypeError(f"an image must be given as a file path or its bytes, got {type(data).__name__}")
    label = name or "image data"
    kind = _image_format(data, label)
    header = _read_header(kind, data, label)
    _check_header(header, label, max_pixels)
    image = _decode_pixels(data, header, label)
    image, notes = _to_bgr8(image, header.notes, label)
    image = orient(image, _orientation_left(header, image))
    if header.orientation != 1:
        notes.append(f"EXIF orientation {header.orientation}: {_ROTATION_WORDS[header.orientation]} to upright")
    warnings = []
    if header.frames > 1:
        what = "pages" if header.format == "TIFF" else "frames"
        warnings.append(f"{header.format} with {header.frames} {what}: the first one is used")
    return DecodedImage(image, header.format, tuple(notes), tuple(warnings))


def orient(image: np.ndarray, orientation: int) -> np.ndarray:
    """``image`` (H, W[, C]) as stored -> upright, for an EXIF orientation 1..8 (the TIFF/EXIF tag 0x0112:
    how the stored rows and columns map to the displayed picture). Others leave it unchanged."""
    if orientation == 2:
        return cv2.flip(image, 1)
    if orientation == 3:
        return cv2.rotate(image, cv2.ROTATE_180)
    if orientation == 4:
        return cv2.flip(image, 0)
    if orientation == 5:
        return cv2.transpose(image)
    if orientation == 6:
        return cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    if orientation == 7:
        return cv2.rotate(cv2.transpose(image), cv2.ROTATE_180)
    if orientation == 8:
        return cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return image


def _orientation_left(header: _Header, image: np.ndarray) -> int:
    """The EXIF orientation still to apply to OpenCV's decoding. OpenCV's TIFF decoder applies the tag itself
    even when told to ignore it (checked for all 8 values; 8 and 16 bit; grey, RGB, RGBA), so for a TIFF
    only an orientation that swaps the sides while the sides came back unswapped is left."""
    if header.format != "TIFF" or header.orientation == 1:
        return header.orientation
    unswapped = image.shape[:2] == (header.height, header.width) and header.width != header.height
    return header.orientation if header.orientation >= 5 and unswapped else 1


def _read_file(path: str | os.PathLike) -> bytes:
    """The file's bytes. os.open/os.read: half the cost of open().read() (7 against 13 us a small JPEG, which
    matters when a dataset decodes 160 x 100 px images); it also tells a folder and a missing file apart
    without extra stat calls."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        try:
            size = os.fstat(fd).st_size
            data = os.read(fd, size + 1)
            if len(data) == size:  # the whole file in one read: the usual case
                return data
            parts = [data]  # a short read, or a file that grew
            while part := os.read(fd, 1 << 24):
                parts.append(part)
            return b"".join(parts)
        finally:
            os.close(fd)
    except IsADirectoryError:
        raise IsADirectoryError(f"{path} is a folder, not an image file (posekit predict takes folders; "
                                "Predictor.predict takes one image)") from None
    except FileNotFoundError:
        raise FileNotFoundError(f"image file not found: {path}") from None


def _image_format(data: bytes, label: str) -> str:
    """The image format of ``data`` ("JPEG", "PNG" ...); an ImageError saying what it is otherwise."""
    who = identify(data)
    if who.kind == "image":
        return who.name
    if who.kind == "empty":
        raise ImageError(f"{label}: is empty (0 bytes): there is no image in it. posekit reads {ACCEPTED}")
    if who.kind == "video":
        raise ImageError(f"{label}: this is a video ({who.name}), not a photo; pose its frames with "
                         "`posekit predict VIDEO` or Predictor.predict_video, or save one frame as JPEG or PNG")
    if who.kind == "heif":
        raise ImageError(f"{label}: {who.name} (the iPhone camera's default format), which OpenCV cannot decode; "
                         f"export it as JPEG (iPhone: Settings > Camera > Formats > Most Compatible). posekit "
                         f"reads {ACCEPTED}")
    raise ImageError(f"{label}: not an image: it looks like {who.name}. posekit reads {ACCEPTED}")


def _read_header(kind: str, data: bytes, label: str) -> _Header:
    try:
        if kind == "JPEG":
            return _jpeg_header(data)
        if kind == "PNG":
            return _png_header(data)
        return _pillow_header(kind, data)
    except ImageError:
        raise
    except (struct.error, IndexError, SyntaxError, OSError, ValueError) as e:  # a damaged header
        raise ImageError(f"{label}: a damaged {kind} file: its header cannot be read ({e})") from None


def _check_header(header: _Header, label: str, max_pixels: int) -> None:
    w, h, kind = header.width, header.height, header.format
    if w * h > max_pixels or max(w, h) > OPENCV_MAX_SIDE:
        raise ImageError(f"{label}: the {kind} header declares {w:,} x {h:,} pixels ({_amount(w * h)}); "
                         f"at most {_amount(max_pixels)} and {OPENCV_MAX_SIDE:,} px a side are accepted. "
                         "Shrink the photo first (nothing was decoded)")
    if header.truncated:
        raise ImageError(f"{label}: a truncated {kind} file (the data ends before the image does: an "
                         "interrupted download or copy?); send the whole file")
    if w < 1 or h < 1:
        raise ImageError(f"{label}: a damaged {kind} file: its header declares {w} x {h} pixels")


def _amount(pixels: int) -> str:
    return f"{pixels / 1e6:,.0f} MP" if pixels >= 10_000_000 else f"{pixels:,} pixels"


def _decode_pixels(data: bytes, header: _Header, label: str) -> np.ndarray:
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), _IMDECODE_FLAGS)
    except cv2.error as e:
        raise ImageError(f"{label}: OpenCV could not decode this {header.format} file ({str(e).strip()})") from None
    if image is None or image.size == 0:
        raise ImageError(f"{label}: a damaged or unsupported {header.format} file: its header is readable but its "
                         f"pixels could not be decoded. posekit reads {ACCEPTED}")
    return image


def _to_bgr8(image: np.ndarray, notes: list[str], label: str) -> tuple[np.ndarray, list[str]]:
    """OpenCV's unchanged decoding (H, W[, 1|2|3|4]) uint8/uint16 -> (H, W, 3) uint8 BGR; alpha composited
    over white."""
    notes = list(notes)
    if image.dtype == np.uint16:
        image = cv2.convertScaleAbs(image, alpha=255.0 / 65535.0)  # rounds and saturates
        notes.append("16-bit values scaled to 8 bit")
    elif image.dtype != np.uint8:
        raise ImageError(f"{label}: {image.dtype} pixel values (HDR or scientific images) are not read: save "
                         "the image with 8- or 16-bit channels")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), notes
    channels = image.shape[2]
    if channels == 3:
        return image, notes
    if channels == 2:  # grey + alpha
        image = np.concatenate([cv2.cvtColor(image[:, :, 0], cv2.COLOR_GRAY2BGR), image[:, :, 1:]], axis=2)
    alpha = image[:, :, 3]
    if alpha.min() == 255:  # an opaque alpha channel
        return np.ascontiguousarray(image[:, :, :3]), notes
    notes.append("alpha composited over white")
    return _over_white(image[:, :, :3], alpha), notes


def _over_white(bgr: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 colour with (H, W) uint8 alpha, over white: round((c * a + 255 * (255 - a)) / 255)."""
    a = alpha[:, :, None].astype(np.uint16)
    return ((bgr.astype(np.uint16) * a + 255 * (255 - a) + 127) // 255).astype(np.uint8)


def _exif_orientation(tiff: bytes) -> int:
    """The orientation tag (0x0112) of IFD0 of an EXIF block (a TIFF structure, "Exif\\0\\0" stripped);
    1 when absent, unreadable or outside 1..8 (a damaged tag must not stop the photo)."""
    try:
        order = {b"II": "<", b"MM": ">"}[tiff[:2]]
        (offset,) = struct.unpack(order + "I", tiff[4:8])
        (count,) = struct.unpack(order + "H", tiff[offset:offset + 2])
        for i in range(min(count, 1000)):
            entry = tiff[offset + 2 + 12 * i: offset + 14 + 12 * i]
            tag, kind = struct.unpack(order + "HH", entry[:4])
            if tag == 0x0112 and kind == 3:  # SHORT
                (value,) = struct.unpack(order + "H", entry[8:10])
                return value if 1 <= value <= 8 else 1
    except (KeyError, struct.error):
        pass
    return 1


def _jpeg_header(data: bytes) -> _Header:
    """Walk a JPEG's markers up to its first scan: the frame size (SOFn) and the EXIF orientation (APP1);
    truncated when no end-of-image marker follows the scan (FF D9 cannot occur inside entropy-coded data,
    and a thumbnail's lies before the scan)."""
    pos, size, orientation, components = 2, None, None, 3
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ValueError(f"no marker at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            pos += 2
            continue
        length = data[pos + 2] << 8 | data[pos + 3]
        if length < 2:
            raise ValueError(f"a segment length of {length} at byte {pos}")
        if marker == 0xE1 and orientation is None and data.startswith(b"Exif\0\0", pos + 4):
            orientation = _exif_orientation(data[pos + 10:pos + 2 + length])
        elif marker in _SOF_MARKERS and size is None:
            height, width, components = struct.unpack(">HHB", data[pos + 5:pos + 10])
            size = (width, height)
        elif marker == 0xDA:  # start of scan: the header is over
            if size is None:
                raise ValueError("a scan before any frame header")
            truncated = not data.endswith(b"\xff\xd9") and data.rfind(b"\xff\xd9", pos) < 0
            notes = ["CMYK converted to BGR (Adobe convention)"] if components == 4 else []
            return _Header("JPEG", *size, orientation or 1, truncated=truncated, notes=notes)
        pos += 2 + length
    return _Header("JPEG", *(size or (0, 0)), orientation or 1, truncated=True)  # ends before its first scan


def _png_header(data: bytes) -> _Header:
    """IHDR's size, an eXIf chunk's orientation and an APNG's frame count (acTL), from the chunks before the
    first IDAT; truncated when there is no IEND chunk."""
    if data[12:16] != b"IHDR":
        raise ValueError("the first chunk is not IHDR")
    width, height = struct.unpack(">II", data[16:24])
    header = _Header("PNG", width, height)
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            break
        if kind == b"eXIf":
            header.orientation = _exif_orientation(data[pos + 8:pos + 8 + length])
        elif kind == b"acTL":
            header.frames = max(1, struct.unpack(">I", data[pos + 8:pos + 12])[0])
        pos += 12 + length
    header.truncated = data.rfind(b"IEND", max(0, len(data) - 4096)) < 0 and data.rfind(b"IEND") < 0
    return header


def _pillow_header(kind: str, data: bytes) -> _Header:
    """Size, orientation and frame count of a GIF, WebP, BMP, TIFF or AVIF from Pillow's lazy open (no
    pixels decoded). Its format class is used directly: ``Image.open`` would apply Pillow's own global
    decompression-bomb limit, which differs from ``max_pixels`` (and changing it would change it for every
    other user of Pillow in the process)."""
    from PIL import Image  # imported only here: 40 ms, not needed for JPEG and PNG

    Image.preinit()
    Image.init()
    factory = Image.OPEN.get(kind)
    if factory is None:  # e.g. AVIF before Pillow 11.3
        raise ImageError(f"{kind} is not readable with the installed Pillow {Image.__version__} (pip install "
                         f"-U pillow), or convert the image to JPEG or PNG")
    image = factory[0](io.BytesIO(data), "")
    try:
        width, height = image.size
        header = _Header(kind, width, height, frames=int(getattr(image, "n_frames", 1) or 1))
        if kind == "TIFF":  # the stored size: Pillow's ``size`` already swaps the sides for orientations 5..8
            header.width, header.height = image.tag_v2.get(256, width), image.tag_v2.get(257, height)
            value = image.tag_v2.get(0x0112, 1)
            header.orientation = value if value in range(1, 9) else 1
        elif image.info.get("exif"):
            raw = image.info["exif"]
            header.orientation = _exif_orientation(raw[6:] if raw.startswith(b"Exif\0\0") else raw)
        return header
    finally:
        image.close()
