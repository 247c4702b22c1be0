"""One uploaded file, streamed from the request body into a fresh temporary folder, with limits.

The multipart body is parsed as it arrives (python-multipart's push parser, the one Starlette uses), so an upload
over the size limit is refused after ``limit + 1`` bytes, never after the whole body was spooled; the declared
``Content-Length`` is checked before a byte is read. The client's file name is never used as a path: the file is
written as ``upload.bin`` inside a folder from :func:`tempfile.mkdtemp`, and the name is only echoed, sanitised.

Also here: what kind of file the bytes are (image or video, from their first bytes, not the client's
content-type or name), and photo decoding (:mod:`posekit.image_io`) with the server's pixel limit and statuses.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

import posekit.image_io as image_io
from posekit.image_sniff import identify

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
        if self.upload.size < 64 <= self.upload.size + len(chunk) and self.upload.form_field == "image":
            with open(self.upload.path, "rb") as f:  # refuse a video sent as a photo before it is all uploaded
                if sniff(f.read(64) + chunk) == "video":
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
    """``"video"`` / ``"image"`` from a file's first bytes (:func:`posekit.image_sniff.identify`: the magic
    signature, never the client's name or content-type); None when neither."""
    kind = identify(head).kind
    return {"video": "video", "image": "image", "heif": "image"}.get(kind)


def decode_image(data: bytes, name: str, max_pixels: int) -> np.ndarray:
    """A photo's bytes as an H x W x 3 uint8 BGR array, upright (:func:`posekit.image_io.decode_image`: EXIF
    orientation, grey / 16-bit / alpha / CMYK, an animation's first frame; its pixel count checked on the header
    before decoding). Raises :class:`UploadError` 413 for too many pixels, 422 for anything else it refuses."""
    try:
        return image_io.decode_image(data, name=name, max_pixels=max_pixels)
    except image_io.ImageError as e:
        message = str(e)
        too_big = "header declares" in message and "accepted" in message
        raise UploadError(413 if too_big else 422, message + (" (posekit serve --max-pixels)" if too_big else "")
                          ) from None
