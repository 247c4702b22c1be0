"""Image files as phones, cameras and careless uploads make them, built from a real photo -- for the decoder's
tests and for anyone testing bad input (the server's upload tests reuse them).

Every function returns the file's bytes (write them where needed); ``photo`` is a uint8 (H, W, 3) BGR array,
by default :func:`real_photo` (``$POSEKIT_DATA/unlabeled/messi5.jpg``, 548 x 342, people in it).

    from tests.image_fixtures import real_photo, exif_rotated_jpeg  # or: from image_fixtures import ...
    photo = real_photo()
    upright = jpeg(photo)                       # the upright twin
    sideways = exif_rotated_jpeg(photo, 6)      # stored sideways, EXIF orientation 6: shows as ``photo``
    twin = upright_twin_png(sideways)           # its pixels turned upright by OpenCV, lossless: exactly equal

Good files (decode to the photo, up to compression): :func:`jpeg`, :func:`exif_rotated_jpeg`, :func:`upright_twin_png`,
:func:`png16`, :func:`grey_png`, :func:`grey_alpha_png`, :func:`rgba_png`, :func:`palette_png`,
:func:`cmyk_jpeg`, :func:`animated_gif`, :func:`encoded` (WebP, BMP, TIFF, AVIF through Pillow).
Bad ones (refused with an ImageError): :func:`truncated_jpeg`, :func:`truncated_png`, ``b""`` (0 bytes),
:func:`text_as_jpg`, :func:`html_as_jpg`, :func:`huge_declared_png` (100,000 x 100,000 declared, 1 kB of data),
:func:`video_bytes` (the real ``vtest.avi``; :func:`mp4_header` a made-up MP4 start), :func:`heic_header`.
:data:`UNICODE_NAME` is a file name with non-ASCII letters and a space, for path handling.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np

#: a file name with accents, CJK, an emoji and a space
UNICODE_NAME = "photo é 写真 📷.jpg"


def data_root() -> Path:
    """``$POSEKIT_DATA``, else ``<repo>/../shared/datasets`` (as tests/conftest.py)."""
    env = os.environ.get("POSEKIT_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "datasets"


def real_photo(name: str = "messi5.jpg") -> np.ndarray:
    """A real photo from ``$POSEKIT_DATA/unlabeled`` as uint8 (H, W, 3) BGR (messi5.jpg: 548 x 342)."""
    path = data_root() / "unlabeled" / name
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"real test photo not found: {path} (set POSEKIT_DATA)")
    return image


def _pil(photo: np.ndarray):
    from PIL import Image

    return Image.fromarray(cv2.cvtColor(photo, cv2.COLOR_BGR2RGB))


def _save(image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def jpeg(photo: np.ndarray, quality: int = 95) -> bytes:
    return cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


def stored_for_orientation(photo: np.ndarray, orientation: int) -> np.ndarray:
    """The pixels a camera stores so that applying EXIF ``orientation`` (1..8) shows ``photo`` upright: the
    inverse of each orientation's transform (6: the camera was turned, the stored picture lies rotated 90
    degrees counter-clockwise; viewers turn it clockwise)."""
    inverse = {1: lambda a: a, 2: lambda a: cv2.flip(a, 1), 3: lambda a: cv2.rotate(a, cv2.ROTATE_180),
               4: lambda a: cv2.flip(a, 0), 5: cv2.transpose,
               6: lambda a: cv2.rotate(a, cv2.ROTATE_90_COUNTERCLOCKWISE),
               7: lambda a: cv2.transpose(cv2.rotate(a, cv2.ROTATE_180)),
               8: lambda a: cv2.rotate(a, cv2.ROTATE_90_CLOCKWISE)}
    return np.ascontiguousarray(inverse[orientation](photo))


def exif_rotated_jpeg(photo: np.ndarray, orientation: int = 6, quality: int = 95) -> bytes:
    """A JPEG whose pixels are stored turned (:func:`stored_for_orientation`) with that EXIF orientation tag,
    as a phone held sideways writes it; displayed (orientation applied), it is ``photo``."""
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = orientation
    return _save(_pil(stored_for_orientation(photo, orientation)), "JPEG", quality=quality, exif=exif.tobytes())


def upright_twin_png(oriented_jpeg: bytes) -> bytes:
    """The upright twin of an EXIF-oriented JPEG with the very same pixels: its pixels turned upright by
    OpenCV's own EXIF handling (``cv2.imdecode``, ``IMREAD_COLOR``: independent of posekit's) and saved
    losslessly as PNG. (A twin encoded separately as JPEG differs by compression noise, to which pose
    networks are not blind.)"""
    upright = cv2.imdecode(np.frombuffer(oriented_jpeg, np.uint8), cv2.IMREAD_COLOR)
    return cv2.imencode(".png", upright)[1].tobytes()


def encoded(photo: np.ndarray, fmt: str, **kwargs) -> bytes:
    """``photo`` written by Pillow as ``fmt`` ("WEBP", "BMP", "TIFF", "AVIF", "PNG" ...)."""
    return _save(_pil(photo), fmt, **kwargs)


def png16(photo: np.ndarray) -> bytes:
    """A 16-bit RGB PNG of ``photo`` (value v -> v * 257, so 8-bit decoding must give ``photo`` back)."""
    return cv2.imencode(".png", photo.astype(np.uint16) * 257)[1].tobytes()


def grey_png(photo: np.ndarray) -> bytes:
    return cv2.imencode(".png", cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY))[1].tobytes()


def grey_alpha_png(photo: np.ndarray, transparent_rows: int = 0) -> bytes:
    """A grey + alpha PNG (Pillow mode LA), the top ``transparent_rows`` fully transparent."""
    image = _pil(photo).convert("LA")
    if transparent_rows:
        array = np.asarray(image).copy()
        array[:transparent_rows, :, 1] = 0
        from PIL import Image

        image = Image.fromarray(array, "LA")
    return _save(image, "PNG")


def rgba_png(photo: np.ndarray, transparent_rows: int = 0) -> bytes:
    """An RGBA PNG, the top ``transparent_rows`` fully transparent (their stored colour black)."""
    bgra = cv2.cvtColor(photo, cv2.COLOR_BGR2BGRA)
    bgra[:transparent_rows] = 0
    return cv2.imencode(".png", bgra)[1].tobytes()


def palette_png(photo: np.ndarray, colours: int = 256) -> bytes:
    """A palette (indexed colour) PNG of ``photo`` with an adaptive palette."""
    from PIL import Image

    return _save(_pil(photo).convert("P", palette=Image.Palette.ADAPTIVE, colors=colours), "PNG")


def cmyk_jpeg(photo: np.ndarray) -> bytes:
    """A CMYK JPEG as Pillow writes it: Adobe APP14 marker, inverted CMYK (as Photoshop does)."""
    return _save(_pil(photo).convert("CMYK"), "JPEG", quality=95)


def animated_gif(photo: np.ndarray, frames: int = 3) -> bytes:
    """An animated GIF: ``photo`` first, then mirrored and rotated copies."""
    from PIL import Image

    first = _pil(photo)
    rest = [first.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if i % 2 == 0 else first.rotate(10 * i)
            for i in range(frames - 1)]
    return _save(first, "GIF", save_all=True, append_images=rest, duration=100, loop=0)


def truncated_jpeg(photo: np.ndarray, keep: float = 0.5) -> bytes:
    """The first ``keep`` share of a JPEG (an interrupted download)."""
    data = jpeg(photo)
    return data[: int(len(data) * keep)]


def truncated_png(photo: np.ndarray, keep: float = 0.5) -> bytes:
    data = cv2.imencode(".png", photo)[1].tobytes()
    return data[: int(len(data) * keep)]


def text_as_jpg() -> bytes:
    """What a text file named photo.jpg holds."""
    return b"This is not a photo, just a note saved with the wrong name.\n"


def html_as_jpg() -> bytes:
    """A web page saved under an image name (a common accident with 'Save link as')."""
    return b"<!DOCTYPE html>\n<html><head><title>Photo</title></head><body><img src='a.jpg'></body></html>\n"


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def huge_declared_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid PNG header declaring ``width`` x ``height`` 8-bit RGB pixels, followed by a tiny IDAT (1 kB of
    compressed zeros, far short of the image) and IEND: a decompression bomb's header."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 100_000, 9)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def video_bytes() -> bytes:
    """A real video file (``$POSEKIT_DATA/unlabeled/vtest.avi``, AVI) -- e.g. to send as a photo."""
    return (data_root() / "unlabeled" / "vtest.avi").read_bytes()


def mp4_header() -> bytes:
    """The first bytes of an MP4 file (an ``ftyp`` box with brand isom, then an empty ``mdat``): enough to be
    recognised, not a playable video."""
    return struct.pack(">I", 24) + b"ftypisom" + b"\0\0\x02\0" + b"isomiso2" + struct.pack(">I", 8) + b"mdat"


def heic_header() -> bytes:
    """The first bytes of an iPhone HEIC photo (an ``ftyp`` box with brand heic), not a whole file."""
    return struct.pack(">I", 24) + b"ftypheic" + b"\0\0\0\0" + b"mif1heic" + struct.pack(">I", 8) + b"meta"
