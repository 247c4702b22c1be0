"""What a blob of bytes is, from its first bytes (its "magic" signature), never from a file name: an image
format posekit decodes, a video, or something else described in words for an error message.

Used by :mod:`posekit.image_io` to refuse non-images before decoding them.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Identity", "identify"]

#: ISO base-media ``ftyp`` brands of still images (HEIF, AVIF); every other brand is a video (MP4, MOV, 3GP ...)
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"mif2"}
_AVIF_BRANDS = {b"avif", b"avis"}
#: QuickTime files without an ``ftyp`` box start with one of these atoms
_QUICKTIME_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}


@dataclass(frozen=True)
class Identity:
    """``kind``: "image" (``name`` is the format: JPEG, PNG, GIF, WEBP, BMP, TIFF, AVIF), "heif" (a HEIC/HEIF
    still photo), "video" (``name`` e.g. "an MP4/MOV video"), "empty" or "other" (``name`` says what it looks
    like, e.g. "text (it starts 'hello world')")."""

    kind: str
    name: str


def identify(data: bytes) -> Identity:
    """The :class:`Identity` of ``data`` from its first bytes."""
    if not data:
        return Identity("empty", "empty (0 bytes)")
    head = data[:64]
    image = _image_format(head)
    if image:
        return Identity("image", image)
    if head[4:8] == b"ftyp":  # ISO base media: a HEIF still photo or a video (AVIF is caught above)
        return Identity("heif", "a HEIC/HEIF photo") if head[8:12] in _HEIF_BRANDS else \
            Identity("video", "an MP4/MOV video")
    video = _video_format(data, head)
    if video:
        return Identity("video", video)
    return Identity("other", _describe(head, data))


def _image_format(head: bytes) -> str:
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:2] == b"BM" and len(head) >= 26:
        return "BMP"
    if head[:4] in (b"II*\0", b"MM\0*"):
        return "TIFF"
    if head[4:8] == b"ftyp" and (head[8:12] in _AVIF_BRANDS or (
            head[8:12] in _HEIF_BRANDS and any(head[i:i + 4] in _AVIF_BRANDS for i in range(16, 40, 4)))):
        return "AVIF"  # (an AVIF may name the generic HEIF brand mif1 first, avif among the compatible ones)
    return ""


def _video_format(data: bytes, head: bytes) -> str:
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "an AVI video"
    if head[:4] == b"\x1a\x45\xdf\xa3":  # EBML: Matroska and WebM
        return "a WebM video" if b"webm" in head else "an MKV (Matroska) video"
    if head[4:8] in _QUICKTIME_ATOMS:
        return "a QuickTime (MOV) video"
    if head[:4] in (b"\0\0\x01\xba", b"\0\0\x01\xb3"):
        return "an MPEG video"
    if head[:1] == b"\x47" and data[188:189] == b"\x47" and data[376:377] == b"\x47":
        return "an MPEG transport stream (TS) video"
    if head[:3] == b"FLV":
        return "an FLV video"
    if head[:8] == b"\x30\x26\xb2\x75\x8e\x66\xcf\x11":
        return "a WMV/ASF video"
    return ""


def _describe(head: bytes, data: bytes) -> str:
    """What non-image, non-video data looks like, in words."""
    lower = head.lstrip().lower()
    for start, words in ((b"%pdf", "a PDF document"), (b"pk\x03\x04", "a ZIP archive (or an Office document)"),
                         (b"\x1f\x8b", "gzip-compressed data"), (b"<!doctype html", "an HTML page"),
                         (b"<html", "an HTML page"), (b"<svg", "an SVG drawing (vector graphics)"),
                         (b"<?xml", "an XML document"), (b"8bps", "a Photoshop (PSD) file")):
        if lower.startswith(start):
            return words
    if head[:4] == b"RIFF":
        return f"a RIFF container of type {head[8:12].decode('latin-1')!r} (e.g. audio), not an image"
    text = _as_text(data[:200])
    if text is not None:
        if lower[:1] in (b"{", b"["):
            return f"JSON or other text (it starts {text!r})"
        return f"text (it starts {text!r})"
    return "binary data of an unknown kind (its first bytes are " + head[:8].hex(" ") + ")"


def _as_text(chunk: bytes) -> str | None:
    """The first ~40 characters when ``chunk`` is printable UTF-8 text, else None."""
    try:
        text = chunk.decode("utf-8")
    except UnicodeDecodeError as e:  # a character cut at the end of the chunk is still text
        if e.start < len(chunk) - 3:
            return None
        text = chunk[:e.start].decode("utf-8")
    if not text or any(not (c.isprintable() or c in "\r\n\t") for c in text):
        return None
    text = " ".join(text.split())
    return text[:40] + ("..." if len(text) > 40 else "")
