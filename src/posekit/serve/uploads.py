"""One uploaded file, streamed from the request body into a fresh temporary folder, with limits.

The multipart body is parsed as it arrives (python-multipart's push parser, the one Starlette uses), so an upload
over the size limit is refused after ``limit + 1`` bytes, never after the whole body was spooled; the declared
``Content-Length`` is checked before a byte is read. The client's file name is never used as a path: the file is
written as ``upload.bin`` inside a folder from :func:`tempfile.mkdtemp`, and the name is only echoed, sanitised.

Also here: what kind of file the bytes are (image or video, from their first bytes, not the client's
content-type or name), and the image decoder with its pixel limit.
"""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

FILE_FIELDS = ("image", "video", "file")  # image: a photo; video: a video; file: either, told apart by its bytes
MAX_FIELD_BYTES = 1024  # an option's value (model name, threshold ...)
MAX_PARTS = 8


class UploadError(ValueError):
    """A request the server refuses: ``status`` (4xx) and a message that says what to change."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Upload:
    """The one file of a request and its text fields. ``path``: inside the request's temporary folder."""

    form_field: str = ""
    file_name: str = ""  # sanitised, for echoing only
    path: Path | None = None
    size: int = 0
    sha256: str = ""
    fields: dict[str, str] = field(default_factory=dict)


def safe_name(raw: str) -> str:
    """A client's file name made safe to echo: its last path component, no control characters, at most 120
    characters; letters of any script are kept (``"../../etc/passwd.jpg"`` -> ``"passwd.jpg"``)."""
    name = re.split(r"[\\/]", raw or "")[-1]
    name = "".join(c for c in unicodedata.normalize("NFC", name) if unicodedata.category(c)[0] != "C")
    name = name.strip().lstrip(".")
    return name[:120] or "upload"


class _Receiver:
    """The parser's callbacks: headers of each part, the file part written to disk as it arrives."""

    def __init__(self, folder: Path, max_bytes: dict[str, int]) -> None:
        self.folder, self.max_bytes = folder, max_bytes
        self.upload = Upload()
        self.parts = 0
        self._headers: dict[bytes, bytes] = {}
        self._name = b""
        self._value = b""
        self._text: bytearray | None = None
        self._file = None
        self._digest = None

    def callbacks(self) -> dict:
        return {"on_part_begin": self._begin, "on_header_field": self._header_field,
                "on_header_value": self._header_value, "on_header_end": self._header_end,
                "on_headers_finished": self._headers_done, "on_part_data": self._data, "on_part_end": self._end}

    def _begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise UploadError(400, f"too many form fields: at most {MAX_PARTS} (one file and its options)")
        self._headers, self._name, self._value = {}, b"", b""

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._name += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._name.lower()] = self._value
        self._name, self._value = b"", b""

    def _headers_done(self) -> None:
        disposition, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if disposition != b"form-data" or b"name" not in options:
            raise UploadError(400, "each multipart part needs 'Content-Disposition: form-data; name=...'")
        name = options[b"name"].decode("utf-8", "replace")
        if b"filename" not in options:  # a text option
            if name in FILE_FIELDS:
                raise UploadError(400, f"field {name!r} must be a file upload (a filename in the part's header)")
            self._text, self._current = bytearray(), name
            return
        if name not in FILE_FIELDS:
            raise UploadError(400, f"unexpected file field {name!r}: send the file as one of {', '.join(FILE_FIELDS)}")
        if self.upload.path is not None:
            raise UploadError(400, "too many files: send one file per request (several photos: one request each)")
        raw = options[b"filename"]
        self.upload.form_field = name
        self.upload.file_name = safe_name(raw.decode("utf-8") if _is_utf8(raw) else raw.decode("latin-1"))
        self.upload.path = self.folder / "upload.bin"
        self._file, self._digest, self._text = open(self.upload.path, "wb"), hashlib.sha256(), None

    def _data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._text is not None:
            self._text += chunk
            if len(self._text) > MAX_FIELD_BYTES:
                raise UploadError(400, f"form field {self._current!r} is over {MAX_FIELD_BYTES} bytes")
            return
        if self.upload.size < 16 <= self.upload.size + len(chunk) and self.upload.form_field == "image":
            with open(self.upload.path, "rb") as f:  # refuse a video sent as a photo before it is all uploaded
                if sniff(f.read(16) + chunk) == "video":
                    raise UploadError(415, f"{self.upload.file_name} is a video, sent as a photo: send it as the "
                                           "field 'video' (or to POST /v1/jobs for progress and a drawn video)")
        self.upload.size += len(chunk)
        limit = self.max_bytes[self.upload.form_field]
        if self.upload.size > limit:
            raise UploadError(413, f"the {self.upload.form_field} is over the server's limit of {limit / 1e6:.0f} MB "
                                   "(posekit serve --max-upload-mb)")
        self._digest.update(chunk)
        self._file.write(chunk)  # 64 kB at a time: short enough not to hold up the event loop

    def _end(self) -> None:
        if self._text is not None:
            self.upload.fields[self._current] = self._text.decode("utf-8", "replace")
            self._text = None
        elif self._file is not None:
            self._file.close()
            self._file = None
            self.upload.sha256 = self._digest.hexdigest()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


async def receive(request, folder: Path, max_bytes: dict[str, int]) -> Upload:
    """Stream ``request``'s multipart body into ``folder``; ``max_bytes``: the size limit per file field.
    Raises :class:`UploadError` (400 malformed, 411/413 sizes, 415 not multipart) for a body it refuses."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or not options.get(b"boundary"):
        raise UploadError(415, "send the file as multipart/form-data (curl -F image=@photo.jpg); got content-type "
                               f"{request.headers.get('content-type') or 'none'!r}")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max(max_bytes.values()) + 64 * 1024:
        raise UploadError(413, f"the request body ({int(declared) / 1e6:.0f} MB) is over the server's limit of "
                               f"{max(max_bytes.values()) / 1e6:.0f} MB (posekit serve --max-upload-mb)")
    receiver = _Receiver(folder, max_bytes)
    parser = MultipartParser(options[b"boundary"], receiver.callbacks(), max_header_size=2048)
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as e:
        raise UploadError(400, f"malformed multipart body: {e}") from None
    finally:
        receiver.close()
    upload = receiver.upload
    if upload.path is None:
        raise UploadError(400, "no file in the request: send one as the form field 'image' (a photo), 'video' or "
                               "'file' (curl -F image=@photo.jpg)")
    if upload.size == 0:
        raise UploadError(400, f"the uploaded file {upload.file_name!r} is empty (0 bytes)")
    return upload


# ------------------------------------------------------------------------------------------ what the bytes are
def sniff(head: bytes) -> str | None:
    """``"video"`` / ``"image"`` from a file's first bytes (at least 16), None when neither is recognised."""
    if head[:4] == b"RIFF" and head[8:12] == b"AVI " or head[:4] == b"\x1a\x45\xdf\xa3":  # AVI, Matroska/WebM
        return "video"
    if head[4:8] == b"ftyp":  # ISO media: HEIF/AVIF photos share the box with MP4/MOV videos
        return "image" if head[8:12] in (b"heic", b"heix", b"avif", b"mif1", b"msf1") else "video"
    if head[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3") or head[:3] == b"FLV":
        return "video"  # MPEG program / elementary stream, Flash video
    if head[:4] == b"\x30\x26\xb2\x75":  # ASF / WMV
        return "video"
    signatures = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")
    if head.startswith(signatures) or head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image"
    return None


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) a photo's header declares, read without decoding its pixels (Pillow's lazy open)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.size
    except Image.UnidentifiedImageError:
        raise UploadError(422, "not an image: its bytes are no format the server reads (JPEG, PNG, GIF, BMP, TIFF, "
                               "WebP)") from None
    except Image.DecompressionBombError:  # Pillow refuses > 2 x its own limit before we can ask: report that
        raise UploadError(413, "the image declares more pixels than any photo has (a decompression bomb)") from None
    except Exception as e:  # noqa: BLE001 -- any header Pillow cannot read is a broken image, said once
        raise UploadError(422, f"not a readable image: {e}") from None


def decode_image(data: bytes, name: str, max_pixels: int) -> np.ndarray:
    """A photo's bytes as an H x W x 3 uint8 BGR array, its pixel count checked from the header first; EXIF
    orientation applied; grey / 16-bit / alpha images converted; an animated GIF's first frame.
    Raises :class:`UploadError` 413 (too many pixels) or 422 (undecodable), naming the file."""
    w, h = image_size(data)
    if w * h > max_pixels:
        raise UploadError(413, f"{name}: {w} x {h} pixels is over the server's limit of {max_pixels / 1e6:.0f} "
                               "megapixels (posekit serve --max-pixels)")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)  # honours EXIF orientation
    if image is None:  # e.g. GIF where this OpenCV build has no decoder: Pillow's first frame
        image = _decode_with_pillow(data, name)
    if image.dtype != np.uint8 or image.ndim != 3 or min(image.shape[:2]) < 1:
        raise UploadError(422, f"{name}: decoded to an unusable {image.dtype} {image.shape} array")
    return image


def _decode_with_pillow(data: bytes, name: str) -> np.ndarray:
    from PIL import Image, ImageOps

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.seek(0)
            rgb = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    except Exception as e:  # noqa: BLE001
        raise UploadError(422, f"{name}: could not decode the image (truncated or corrupt?): {e}") from None
    return np.ascontiguousarray(rgb[:, :, ::-1])
