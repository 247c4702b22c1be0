"""What a worker does with one upload: a photo's or a video's people as COCO results (plain functions, run in
the pool's threads, never in the event loop).

Result JSON (the body of ``POST /v1/predict`` and of a job's result)::

    {"model": "default", "model_sha256": "...", "kind": "image" | "video", "file_name": "photo.jpg",
     "sha256": "<sha256 of the uploaded bytes>", "person_threshold": 0.2, "tracked": false, "seconds": 0.41,
     "images": [{"id": 1, "file_name": "photo.jpg", "width": 640, "height": 480, "frame": 0 (videos)}],
     "results": [COCO-17 result per person: image_id, category_id, keypoints [x, y, score] x 17 in the image's
                 pixels (pixel centres, x right, y down), score, bbox [x, y, w, h], frame for videos; tracked
                 videos: track_id and keypoints_raw (the network's own keypoints; "keypoints" are smoothed)]}

A tracked video keeps the people the tracker returns (:meth:`Predictor.predict_video
<posekit.predict.base.Predictor.predict_video>`): those under ``person_threshold`` but over half of it are there
when they continue a track (an occluded person keeps their id), as in ``posekit predict --track``.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

import posekit.zoo as zoo
from posekit.serve.uploads import UploadError, decode_image
from posekit.skeletons import get_skeleton
from posekit.viz import draw_pose

#: the drawn video's codec: VP8 in WebM plays in every browser; this OpenCV build has no H.264 encoder
#: (``cv2.VideoWriter_fourcc(*"avc1")`` fails to open: only a hardware h264_v4l2m2m encoder is compiled in)
VIDEO_FOURCC, VIDEO_SUFFIX, VIDEO_MEDIA_TYPE = "VP80", ".webm", "video/webm"


@dataclass
class Progress:
    """A video's progress, written by the worker and read by the job table: frames done of ``total``."""

    total: int = 0
    done: int = 0
    cancel: threading.Event = field(default_factory=threading.Event)
    deadline: float = float("inf")  # time.time() after which the video stops (a job's time limit)
    preview: bytes | None = None  # the latest drawn frame as JPEG (twice a second at most): the page's live view
    preview_frame: int = -1
    _preview_at: float = 0.0

    def show(self, index: int, drawn: np.ndarray) -> None:
        """Keep ``drawn`` (frame ``index``) as the preview when the last one is over half a second old."""
        if time.time() - self._preview_at >= 0.5:
            ok, jpeg = cv2.imencode(".jpg", drawn, [cv2.IMWRITE_JPEG_QUALITY, 80])
            if ok:
                self.preview, self.preview_frame, self._preview_at = jpeg.tobytes(), index, time.time()


class Cancelled(RuntimeError):
    """A video job stopped because its client cancelled it."""


def _model_sha(name: str) -> str:
    try:
        return zoo.get(name).sha256
    except zoo.UnknownModel:
        return ""


def _threshold_settings(predictor, threshold: float | None) -> tuple[float | None, float, dict]:
    """(the predictor's stored person threshold or None, the threshold in force, the settings to run with:
    ``threshold`` in place of the stored one, for :meth:`~posekit.predict.base.Predictor.using`)."""
    stored = getattr(predictor, "person_threshold", None)
    settings = {"person_threshold": threshold} if threshold is not None and stored is not None else {}
    return stored, (threshold if threshold is not None else (stored or 0.0)), settings


def skeletons(results: list[dict]) -> dict:
    """What a page needs to draw the results: per skeleton named in them, its joints, limbs and sides."""
    out = {}
    for name in {r["skeleton"] for r in results}:
        sk = get_skeleton(name)
        out[name] = {"joints": list(sk.joints), "limbs": [list(limb) for limb in sk.limbs],
                     "side": ["L" if sk.is_left(i) else "R" if sk.is_right(i) else "C" for i in range(sk.num_joints)]}
    return out


def predict_image(models, model: str, path: Path, file_name: str, threshold: float | None, max_pixels: int,
                  sha256: str) -> dict:
    """One photo's people (see the module docstring for the JSON)."""
    start = time.perf_counter()
    image = decode_image(path.read_bytes(), file_name, max_pixels)
    predictor = models.get(model)
    stored, used, settings = _threshold_settings(predictor, threshold)
    with predictor.using(**settings):  # (safe: a worker owns its predictors)
        people = [p for p in predictor.predict(image) if p.score >= used]
    h, w = image.shape[:2]
    return {"model": model, "model_sha256": _model_sha(model), "kind": "image", "file_name": file_name,
            "sha256": sha256, "person_threshold": used, "tracked": False,
            "seconds": round(time.perf_counter() - start, 3),
            "model_person_threshold": stored, "images": [{"id": 1, "file_name": file_name, "width": w, "height": h}],
            "results": (results := [p.to_dict(1, file_name) for p in people]), "skeletons": skeletons(results)}


def video_info(path: Path, file_name: str, max_pixels: int, max_frames: int) -> tuple[int, int, int, float]:
    """(width, height, frames, fps) of a video, checked against the limits; 422 when it cannot be read."""
    cap = cv2.VideoCapture(str(path))
    try:
        ok, frame = cap.read() if cap.isOpened() else (False, None)
        if not ok:
            raise UploadError(422, f"{file_name}: not a readable video (corrupt, or a codec OpenCV cannot decode)")
        h, w = frame.shape[:2]
        frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0) or 25.0
    finally:
        cap.release()
    if w * h > max_pixels:
        raise UploadError(413, f"{file_name}: frames of {w} x {h} pixels are over the server's limit of "
                               f"{max_pixels / 1e6:.0f} megapixels (posekit serve --max-pixels)")
    if frames > max_frames:
        raise UploadError(413, f"{file_name}: {frames} frames is over the server's limit of {max_frames} "
                               "(posekit serve --max-frames)")
    return w, h, frames, fps


def _draw(frame: np.ndarray, people: list) -> np.ndarray:
    """A video frame with its people: thinner sticks than a photo's (people in videos are often small), boxes,
    and over each box one label on a dark patch: the track id in yellow (tracked videos), then the score. The
    labels are drawn last, so a person's sticks never cover another's id."""
    out = frame.copy()
    long_side = max(frame.shape[:2])
    thickness = max(1, round(long_side / 400))
    for p in people:
        x, y, w, h = (int(round(v)) for v in p.box)
        cv2.rectangle(out, (x, y), (x + w, y + h), (255, 255, 255), 1, cv2.LINE_AA)
        out = draw_pose(out, p.keypoints, p.skeleton, thickness=thickness)
    scale, font = max(0.4, long_side / 1600), cv2.FONT_HERSHEY_SIMPLEX
    for p in people:
        parts = ([(f"id {p.track_id}", (0, 255, 255))] if p.track_id is not None else []) + \
            [(f"{p.score:.2f}", (255, 255, 255))]
        sizes = [cv2.getTextSize(text, font, scale, 1) for text, _ in parts]
        text_h = max(size[1] for size, _ in sizes)
        gap = max(3, round(8 * scale))
        width = sum(size[0] for size, _ in sizes) + gap * (len(parts) + 1)
        # above the box (inside it at the frame's top), moved left where it would run off the frame
        x, top = max(0, min(int(p.box[0]), out.shape[1] - width)), max(0, int(p.box[1]) - text_h - 2 * gap)
        cv2.rectangle(out, (x, top), (x + width, top + text_h + 2 * gap), (24, 24, 24), cv2.FILLED)
        for (text, colour), (size, _) in zip(parts, sizes):
            cv2.putText(out, text, (x + gap, top + text_h + gap), font, scale, colour, 1, cv2.LINE_AA)
            x += size[0] + gap
    return out


def predict_video(models, model: str, path: Path, file_name: str, threshold: float | None, track: bool,
                  limits: tuple[int, int], sha256: str, progress: Progress, drawn: Path | None = None) -> dict:
    """Every frame's people (image ids = frame + 1); ``drawn``: also write the drawn video there (VP8 WebM).
    ``limits``: (max pixels per frame, max frames). Stops with :class:`Cancelled` when ``progress.cancel`` is set."""
    start = time.perf_counter()
    w, h, frames, fps = video_info(path, file_name, *limits)
    progress.total = frames
    predictor = models.get(model)
    stored, used, settings = _threshold_settings(predictor, threshold)
    writer = cv2.VideoWriter(str(drawn), cv2.VideoWriter_fourcc(*VIDEO_FOURCC), fps, (w, h)) if drawn else None
    images, results = [], []
    with predictor.using(**settings):  # (a tracker's thresholds are set when the stream starts)
        stream = predictor.predict_video(path, track=track)
        try:
            for index, frame, people in stream:
                if progress.cancel.is_set():
                    raise Cancelled(f"{file_name}: cancelled after {index} frames")
                if time.time() > progress.deadline:
                    raise UploadError(413, f"{file_name}: stopped after {index} frames, at the server's time limit for "
                                           "a video (posekit serve --job-timeout)")
                if index >= limits[1]:
                    break
                if not track:  # tracked: the tracker decided (low-score people only where they continue a track)
                    people = [p for p in people if p.score >= used]
                images.append({"id": index + 1, "file_name": file_name, "frame": index, "width": w, "height": h})
                results += [p.to_dict(index + 1, file_name, index) for p in people]
                if writer is not None:
                    picture = _draw(frame, people)
                    writer.write(picture)
                    progress.show(index, picture)
                progress.done = index + 1
        finally:
            stream.close()
            if writer is not None:
                writer.release()
    progress.total = max(progress.total, progress.done)
    return {"model": model, "model_sha256": _model_sha(model), "kind": "video", "file_name": file_name,
            "sha256": sha256, "person_threshold": used, "tracked": track,
            "seconds": round(time.perf_counter() - start, 3), "fps": fps, "model_person_threshold": stored,
            "images": images, "results": results, "skeletons": skeletons(results)}


def write_json(result: dict, path: Path) -> Path:
    """A result written as JSON (a job's result stays on disk, not in the server's memory)."""
    path.write_text(json.dumps(result))
    return path
