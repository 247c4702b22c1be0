"""What a predictor is given: image files, folders, video frames, arrays and boxes -- checked once here,
with errors that say what was expected."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from posekit.image_io import decode_image

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".avif"}  # posekit.image_io
VIDEO_SUFFIXES = {".avi", ".mp4", ".mov", ".mkv", ".webm", ".mpg", ".mpeg"}


def iter_inputs(paths: list[str | Path]) -> Iterator[Path]:
    """Expand files and folders (sorted, images and videos) into a list of input files."""
    for p in map(Path, paths):
        if p.is_dir():
            yield from sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES)
        elif p.exists():
            yield p
        else:
            raise FileNotFoundError(f"input not found: {p}")


def video_source(source: str | int | Path) -> str | int:
    """What OpenCV opens for a video source: a camera index (an int, or a string of digits such as ``"0"``), a
    stream URL (``rtsp://``, ``http://`` ...) or a video file path, as it is."""
    if isinstance(source, int):
        return source
    text = str(source)
    if text.isdigit() and not Path(text).exists():  # a file named "0" stays a file
        return int(text)
    return text


def open_video(source: str | int | Path) -> cv2.VideoCapture:
    """An opened ``cv2.VideoCapture`` for a file, camera index or stream URL (:func:`video_source`); a
    ValueError saying what could not be opened otherwise."""
    what = video_source(source)
    cap = cv2.VideoCapture(what)
    if not cap.isOpened():
        cap.release()
        if isinstance(what, int):
            raise ValueError(f"cannot open camera {what}: is one connected, and free (not used by another program)?")
        if "://" in what:
            raise ValueError(f"cannot open stream: {what} (is the URL reachable, and a format OpenCV's FFmpeg reads?)")
        missing = "" if Path(what).exists() else " (no such file)"
        raise ValueError(f"cannot open video: {what}{missing}")
    return cap


def video_fps(cap: cv2.VideoCapture, default: float = 25.0) -> float:
    """A capture's frames per second (``default`` when the container or camera does not say)."""
    fps = cap.get(cv2.CAP_PROP_FPS)
    return float(fps) if fps and 0 < fps < 1000 else default


def video_frames(source: str | int | Path, cap: cv2.VideoCapture | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(frame index, frame uint8 BGR) of every frame of a video file, camera or stream (:func:`open_video`); a
    ValueError when it cannot be opened. ``cap``: an already opened capture of ``source``. The video is
    released however the caller stops (exhausted, ``break``, an exception)."""
    cap = open_video(source) if cap is None else cap
    try:
        index = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            yield index, frame
            index += 1
    finally:
        cap.release()


def checked_image(image) -> np.ndarray:
    """A predictor's image argument as a uint8 (H, W, 3) BGR array: an array is checked; a file path or the
    file's bytes are decoded upright by :func:`posekit.image_io.decode_image` (EXIF orientation applied,
    :class:`~posekit.image_io.ImageError` for data that is no image posekit reads); clear errors otherwise."""
    if image is None:
        raise TypeError("predict() needs an image: a file path, its bytes or an H x W x 3 uint8 BGR array, got None")
    if isinstance(image, (str, os.PathLike, bytes, bytearray, memoryview)):
        image = decode_image(image)
    elif not isinstance(image, np.ndarray):
        raise TypeError("predict() takes a file path, the file's bytes or an H x W x 3 uint8 BGR array, got "
                        f"{type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or min(image.shape[:2]) < 1:
        raise ValueError(f"image must be a non-empty H x W x 3 uint8 BGR array, got {image.dtype} {image.shape}")
    return image


def checked_boxes(boxes) -> np.ndarray:
    """Person boxes as a float (N, 4) array of x, y, w, h in image pixels. One box may be given as a flat
    (4,); any other shape -- an (N, 5) array with a score column, boxes as x0, y0, x1, y1 lists of another
    length -- is a ValueError saying what is expected, never silently reshaped."""
    array = np.asarray(boxes, dtype=np.float64)
    if array.shape == (4,):
        array = array[None]
    if array.size == 0:
        return array.reshape(0, 4)
    if array.ndim != 2 or array.shape[1] != 4:
        hint = " (drop the score column: boxes[:, :4])" if array.ndim == 2 and array.shape[1] == 5 else ""
        raise ValueError(f"boxes must be an (N, 4) array of x, y, w, h in image pixels, got shape {array.shape}"
                         + hint)
    if not np.isfinite(array).all():
        raise ValueError("boxes hold NaN or infinite values")
    return array
