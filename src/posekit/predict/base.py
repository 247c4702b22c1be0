"""The one :class:`Predictor` base every pipeline (top-down, bottom-up, DeepCut, classic) derives from.

The base owns what is the same for all of them: the image and box checks, the device, the network pass
with the flip test, the video loop, and the cost report. A pipeline overrides only what differs:

- :meth:`Predictor._predict_image`: every person of a checked uint8 BGR image (the search);
- :meth:`Predictor._predict_boxes`: one person per given box;
- :meth:`Predictor._predict_frame`: a video frame, when a pipeline carries something from the previous one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from posekit.predict.flip import forward_with_mirror, mirror_average
from posekit.predict.inputs import checked_boxes, checked_image
from posekit.predict.video import VideoPredictions
from posekit.preprocess import normalize_image
from posekit.runtime.device import default_device
from posekit.skeletons import Skeleton
from posekit.track import PoseTracker
from posekit.types import Prediction


class Predictor:
    """Poses of people in images and videos: ``predict(image, boxes=None) -> list[Prediction]``.

    skeleton: the keypoints it answers in. device: where its networks run (None = CUDA where available).
    flip_test: average the network's outputs with those of the mirrored input.
    Keypoints come back (K, 3) = (x, y, score) in the input image's pixels (pixel centres, x right, y down).
    """

    detector = None  # the person detector of a top-down pipeline; None where the network finds people itself
    last_timing: dict | None = None  # {"detector": seconds} of the latest image, where a pipeline records it
    padding = 1.25  # a box is looked at enlarged this much (what evaluation divides annotated boxes by)

    def __init__(self, skeleton: Skeleton, device: str | torch.device | None = None, flip_test: bool = False) -> None:
        self.skeleton = skeleton
        self.device = default_device(device)
        self.flip_test = flip_test

    # ----------------------------------------------------------------------------------- public
    def predict(self, image: str | Path | np.ndarray, boxes: np.ndarray | list | None = None) -> list[Prediction]:
        """Predict poses.

        image: a path, or an H x W x 3 uint8 array in **BGR** order (OpenCV's ``cv2.imread`` order).
        boxes: (N, 4) person boxes (x, y, w, h) in image pixels, one prediction each, in their order; None =
            find the people.
        Returns a list of :class:`~posekit.types.Prediction`, sorted by score when the people were found
        here; empty when nobody is found.
        """
        image = checked_image(image)
        if boxes is None:
            return self._predict_image(image)
        boxes = checked_boxes(boxes)
        return self._predict_boxes(image, boxes) if len(boxes) else []

    def predict_video(self, source: str | Path | int, track: bool = False, tracker: PoseTracker | None = None
                      ) -> VideoPredictions:
        """Poses through a video: an iterator of (frame_index, frame uint8 BGR, predictions), one per frame.

        source: a video file, a camera index (``0``) or a stream URL (``rtsp://...``), opened by OpenCV.
        track: follow people through the frames (:mod:`posekit.track`): each prediction gets a ``track_id``
            stable through the video, ``keypoints`` smoothed over time (One-Euro) and the network's own in
            ``raw_keypoints``. People are searched at the tracker's ``low_score`` (by default half this
            pipeline's ``person_threshold``): those under the threshold are kept only when they continue a track.
        tracker: a :class:`~posekit.track.PoseTracker` of your own settings (implies ``track``).
        A pipeline may run frames with other settings than photos (:meth:`_video_settings`: the top-down pipeline's
        ``video_refine_steps``); the predictor is left as it was after each frame.

        Frames are decoded in a background thread (a small bounded queue); the returned object's ``timing``
        holds the time split (decode, detector, pose, tracking), ``fps`` the video's rate. The video is released
        however the loop ends (exhausted, ``break``, an exception, ``close()``)::

            for index, frame, people in predictor.predict_video("clip.mp4", track=True):
                print(index, [(p.track_id, p.score) for p in people])
        """
        threshold = getattr(self, "person_threshold", None)
        make = None
        if tracker is not None:
            make = lambda fps: tracker  # noqa: E731
        elif track:
            high = float(threshold) if threshold is not None else 0.0
            make = lambda fps: PoseTracker(high_score=high, low_score=high / 2, fps=fps)  # noqa: E731
        low = None if make is None or threshold is None else (tracker.low_score if tracker else threshold / 2)
        settings = self._video_settings()
        if low is not None:
            settings["person_threshold"] = low  # the tracker decides on the people under the threshold

        def step(frame: np.ndarray, previous: list[Prediction]) -> list[Prediction]:
            self.last_timing = None
            with self.using(**settings):  # for this frame only: the predictor stays as it was for photos
                return self._predict_frame(frame, previous)

        return VideoPredictions(source, step, lambda: (self.last_timing or {}).get("detector"), make)

    @contextmanager
    def using(self, **settings) -> Iterator[Predictor]:
        """These settings (attribute name -> value, e.g. ``person_threshold=0.3``) for the duration of a ``with``
        block, restored however it ends; an attribute the pipeline does not have is an AttributeError. Not for
        a predictor shared between threads (each server worker owns its predictors)."""
        saved = {key: getattr(self, key) for key in settings}
        for key, value in settings.items():
            setattr(self, key, value)
        try:
            yield self
        finally:
            for key, value in saved.items():
                setattr(self, key, value)

    @property
    def last_stats(self) -> dict | None:
        """The cost of the latest image, for pipelines that record one (DeepCut's ILP); else None."""
        return None

    def runtime_summary(self) -> dict | None:
        """The cost over every image so far, for pipelines that record one; else None."""
        return None

    # ------------------------------------------------------------------------- for subclasses
    def _predict_image(self, image: np.ndarray) -> list[Prediction]:
        raise NotImplementedError

    def _predict_boxes(self, image: np.ndarray, boxes: np.ndarray) -> list[Prediction]:
        raise NotImplementedError

    def _video_settings(self) -> dict:
        """Settings (attribute name -> value) this pipeline runs video frames with instead of its photo settings
        (none here; the top-down pipeline's ``video_refine_steps``)."""
        return {}

    def _predict_frame(self, frame: np.ndarray, previous: list[Prediction]) -> list[Prediction]:
        """A video frame's people; ``previous``: the frame before's (every frame on its own here)."""
        return self._predict_image(checked_image(frame))

    @torch.no_grad()
    def _network_outputs(self, model, inputs: np.ndarray, limb_flip=None) -> dict[str, torch.Tensor]:
        """``model``'s outputs (float tensors) for (N, H, W, 3) uint8 BGR network inputs, flip-averaged when
        ``flip_test`` is set (:mod:`posekit.predict.flip`)."""
        x = torch.stack([normalize_image(i) for i in inputs]).to(self.device)
        flip_index = self.skeleton.flip_index if self.flip_test else None
        return mirror_average(*forward_with_mirror(model, x, flip_index), flip_index, limb_flip)
