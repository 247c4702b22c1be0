"""The video loop: frames decoded in a background thread, posed (and tracked) here, drawn and written in another
background thread, with the time each stage takes per frame.

Decoding and writing overlap with the networks: each runs in its own thread behind a small bounded queue (OpenCV
releases Python's lock while it decodes and encodes), so a slow network never lets decoded frames pile up in
memory and a slow disk never holds the networks up for more than a queue's worth of frames.

:class:`VideoPredictions` is what :meth:`Predictor.predict_video <posekit.predict.base.Predictor.predict_video>`
returns; :class:`FrameWriter` writes the drawn video; :class:`VideoTiming` keeps the time split (decode, detector,
pose, tracking, writing).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

from posekit.predict.inputs import open_video, video_fps, video_frames
from posekit.track import PoseTracker
from posekit.types import Prediction

__all__ = ["FrameWriter", "VideoPredictions", "VideoTiming"]

_END = object()  # the end of a queue's items


class VideoTiming:
    """Seconds spent per stage over a video's frames. Decode and writing run in background threads, so the
    stages overlap and their sum exceeds the wall time; ``frames_per_s`` is frames over wall time."""

    STAGES = ("decode", "detector", "pose", "tracking", "writing")

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(self.STAGES, 0.0)
        self.frames = 0
        self.started = time.perf_counter()
        self.ended: float | None = None
        self._lock = threading.Lock()

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self.seconds[stage] += seconds

    def stop(self) -> None:
        """Mark the end of the work (called again later, e.g. once the writer is done, it moves the end)."""
        self.ended = time.perf_counter()

    def summary(self) -> dict:
        """{"frames", "wall_s", "frames_per_s", "ms_per_frame": {stage: ms}}."""
        wall = (self.ended or time.perf_counter()) - self.started
        n = max(self.frames, 1)
        return {"frames": self.frames, "wall_s": round(wall, 3), "frames_per_s": round(self.frames / wall, 2),
                "ms_per_frame": {s: round(1000 * v / n, 2) for s, v in self.seconds.items()}}

    def line(self) -> str:
        """The split as one line for people: ms per frame and the frames/s each stage alone would allow."""
        s = self.summary()
        parts = [f"{stage} {ms:.1f} ms" + (f" ({1000 / ms:.0f}/s)" if ms > 0 else "")
                 for stage, ms in s["ms_per_frame"].items()]
        return (f"{s['frames']} frames in {s['wall_s']:.1f} s = {s['frames_per_s']:.1f} frames/s; per frame: "
                + ", ".join(parts) + " (decode and writing run in background threads, beside the networks)")


class _Prefetch:
    """Items of ``frames`` produced by a background thread into a queue of ``size`` items; decode time recorded.
    The source is closed (the video released) by that thread however the loop ends."""

    def __init__(self, frames: Iterator, timing: VideoTiming, size: int = 4) -> None:
        self._frames, self._timing = frames, timing
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, size))
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="posekit-decode", daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                t0 = time.perf_counter()
                item = next(self._frames, _END)
                if item is _END:
                    break
                self._timing.add("decode", time.perf_counter() - t0)
                if not self._put(item):
                    break
        except BaseException as e:  # handed to the consumer, raised there
            self._error = e
        finally:
            self._frames.close()
            self._put(_END)

    def __iter__(self):
        return self

    def __next__(self):
        if self._stop.is_set():  # closed: nothing more comes
            raise StopIteration
        item = self._queue.get()
        if item is _END:
            self._thread.join()
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            self._queue.put(_END)  # a later next() stops again
            raise StopIteration
        return item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def stop(self) -> None:
        """Ask the thread to end (it releases the video within ~0.1 s) without waiting for it."""
        self._stop.set()


class VideoPredictions:
    """(frame_index, frame uint8 BGR, predictions) for each frame of a video file, camera or stream: an iterator,
    also a context manager; ``close()`` (or leaving the ``with``) stops decoding and releases the video.

    step: ``(frame, previous predictions) -> predictions``, the pipeline; detector_seconds: after a step, the
    seconds its detector took (None = not recorded: all of it counts as pose); tracker: a
    :class:`~posekit.track.PoseTracker` made for the video's fps (None = untracked). Attributes: ``fps`` (the
    video's, 25 when it does not say), ``total_frames`` (None for cameras and streams), ``timing``.
    """

    def __init__(self, source, step: Callable[[np.ndarray, list[Prediction]], list[Prediction]],
                 detector_seconds: Callable[[], float | None] = lambda: None,
                 tracker: Callable[[float], PoseTracker] | None = None, prefetch: int = 4) -> None:
        cap = open_video(source)
        self.fps = video_fps(cap)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.total_frames = count if count > 0 else None
        self.timing = VideoTiming()
        self.tracker = tracker(self.fps) if tracker is not None else None
        self._step, self._detector_seconds = step, detector_seconds
        self._cap = cap
        self._frames = _Prefetch(video_frames(source, cap), self.timing, prefetch)
        self._previous: list[Prediction] = []

    def __iter__(self):
        return self

    def __next__(self) -> tuple[int, np.ndarray, list[Prediction]]:
        try:
            index, frame = next(self._frames)
        except StopIteration:
            self.timing.stop()
            raise
        t0 = time.perf_counter()
        preds = self._step(frame, self._previous)
        seconds = time.perf_counter() - t0
        detector = min(self._detector_seconds() or 0.0, seconds)
        self.timing.add("detector", detector)
        self.timing.add("pose", seconds - detector)  # the pose network and everything around it
        self._previous = preds
        if self.tracker is not None:
            t0 = time.perf_counter()
            preds = self.tracker.update(preds, index)
            self.timing.add("tracking", time.perf_counter() - t0)
        self.timing.frames += 1
        return index, frame, preds

    def close(self) -> None:
        self._frames.close()
        self._cap.release()  # (already released unless decoding never began)
        self.timing.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:  # dropped without close(): the decoding thread must not wait forever
        frames = getattr(self, "_frames", None)
        if frames is not None:
            frames.stop()


class FrameWriter:
    """A drawn video written by a background thread: ``write(frame, predictions)`` queues (blocking when
    ``size`` frames wait), ``draw(frame, predictions) -> image`` and the encoding run in the thread, the time
    they take is added to ``timing``'s "writing". ``close()`` finishes the queue and releases the file (always
    call it: ``with FrameWriter(...)``); an error in the thread is raised by the next ``write`` or ``close``."""

    def __init__(self, path: str | Path, fps: float, draw: Callable[[np.ndarray, list[Prediction]], np.ndarray],
                 timing: VideoTiming | None = None, size: int = 8, fourcc: str = "mp4v") -> None:
        self.path, self.fps, self._draw, self._fourcc = Path(path), float(fps), draw, fourcc
        self._timing = timing
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, size))
        self._error: BaseException | None = None
        self._failed = self._reported = False
        self._thread = threading.Thread(target=self._run, name="posekit-write", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        writer = None
        try:
            while (item := self._queue.get()) is not _END:
                if self._failed:
                    continue  # drain: the producer must never block on a dead writer
                try:
                    t0 = time.perf_counter()
                    image = self._draw(*item)
                    if writer is None:
                        h, w = image.shape[:2]
                        writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*self._fourcc), self.fps,
                                                 (w, h))
                    writer.write(image)
                    if self._timing is not None:
                        self._timing.add("writing", time.perf_counter() - t0)
                except Exception as e:
                    self._error, self._failed = e, True
        finally:
            if writer is not None:
                writer.release()

    def _raise(self) -> None:
        if self._failed and not self._reported:
            self._reported = True
            raise self._error

    def write(self, frame: np.ndarray, predictions: list[Prediction]) -> None:
        self._raise()
        self._queue.put((frame, predictions))

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_END)
            self._thread.join()
        self._raise()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
