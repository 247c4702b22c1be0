"""People followed through video frames: stable ids (ByteTrack-style association) and smoothed keypoints.

:class:`PoseTracker` takes each frame's :class:`~posekit.types.Prediction` list and returns the people it tracks,
each with a ``track_id``, One-Euro-smoothed ``keypoints`` (:mod:`posekit.smoothing`) and the network's own
keypoints in ``raw_keypoints``.

The association follows ByteTrack (Zhang et al., ECCV 2022), with posekit's keypoints added to the cost:

1. every live track's box is predicted to this frame by a constant-velocity (alpha-beta) filter on its box
   centre and size, and its keypoints are moved with it;
2. **high-score people** (score >= ``high_score``) are matched to all live tracks (Hungarian, scipy's
   ``linear_sum_assignment``) on the similarity ``iou_weight x box IoU + (1 - iou_weight) x OKS`` (the track's
   confident keypoints acting as the ground truth, its keypoint box x 1.25 as the area, the skeleton's OKS
   sigmas; OKS counted 0 for boxes that do not overlap); pairs under ``match_threshold`` stay unmatched;
3. **low-score people** (``low_score`` <= score < ``high_score``) are matched to the tracks left over, with the
   stricter ``low_match_threshold`` -- an occluded or blurred person keeps their id instead of being dropped;
4. unmatched high-score people start new tracks; unmatched low-score people are dropped; a track unmatched for
   more than ``max_age`` frames dies (a track seen only once dies at its first miss: a one-frame false positive
   must not hold an id).

Keypoints are smoothed per track and joint by a One-Euro filter on the pose *relative to the track's box centre*
(a steady alpha-beta filter of it, ``anchor_gain``): a person walking at a steady pace is then not smoothed into lagging
behind (only the limbs' motion about the body is filtered), and a joint held while unsure moves with the person.

Only tracks matched in this frame are returned. The default settings were chosen on composed videos of LSP
*training* people (benchmarks/tracking.md). Why posekit has its own tracker: the maintained libraries did
not fit beside posekit's dependencies (norfair 2.3 pins numpy < 2, which opencv-python-headless 4.14 cannot
use; boxmot needs torchvision, which does not load beside the CPU torch build, plus opencv-python, timm, gdown
and huggingface-hub); the algorithm is small and is tested in tests/test_track.py.

Coordinates: image pixels (x right, y down); boxes (x, y, w, h); time in seconds (frame index / fps).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from posekit.coco_eval import oks
from posekit.codecs.boxes import box_iou
from posekit.smoothing import DEFAULT_SMOOTHING, OneEuroFilter, OneEuroSettings
from posekit.types import Prediction, keypoint_area

__all__ = ["PoseTracker", "Track"]


@dataclass
class Track:
    """One followed person. box: (4,) x, y, w, h (filtered) at the last match; velocity: (2,) px per frame of
    the box centre (the size is held: a size velocity extrapolated over ``max_age`` frames would blow boxes up);
    keypoints: (K, 3) the last smoothed keypoints; last_frame: index of the last match; smoother: its One-Euro
    filter (None = no smoothing)."""

    track_id: int
    box: np.ndarray
    keypoints: np.ndarray
    last_frame: int
    smoother: OneEuroFilter | None
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))
    hits: int = 1
    anchor: np.ndarray | None = None  # (2,) the steadier centre the smoothing is relative to
    anchor_velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))

    def predicted_box(self, frame: int) -> np.ndarray:
        """The box moved to ``frame`` at constant velocity (centre and size), as x, y, w, h."""
        x, y, w, h = self.box
        dx, dy = self.velocity * (frame - self.last_frame)
        return np.array([x + dx, y + dy, w, h])

    def predicted_keypoints(self, frame: int) -> np.ndarray:
        """The last keypoints moved with the box centre to ``frame``, (K, 3)."""
        kp = self.keypoints.copy()
        kp[:, :2] += self.velocity[:2] * (frame - self.last_frame)
        return kp


def _center_size(box: np.ndarray) -> np.ndarray:
    x, y, w, h = box
    return np.array([x + w / 2, y + h / 2, w, h])


class PoseTracker:
    """ByteTrack-style tracker over posekit predictions (see the module docstring).

    high_score: people scoring at least this are matched first and may start tracks (a predictor's own
        ``person_threshold`` is the natural value); low_score: people between the two only continue tracks.
    max_age: frames a track survives unmatched (kept alive through short occlusions).
    iou_weight: weight of box IoU against keypoint OKS in the similarity (1 = boxes only; skeletons without
        OKS sigmas use boxes only).
    match_threshold / low_match_threshold: least similarity of a match in the first / second stage.
    smoothing: the One-Euro settings (None = no smoothing: keypoints are the raw ones).
    motion_gain: alpha-beta filter gains (position, velocity) of the constant-velocity box model that predicts
        where to look for a person (high = quick to follow a change of pace).
    anchor_gain: the gains of a second, steadier filter of the box centre that the smoothing is relative to
        (low = steadier; a lag of it is seen by the One-Euro filter as motion and followed).
    fps: frames per second, the filter's clock (``update``'s ``frame`` / fps seconds).
    """

    def __init__(self, high_score: float = 0.2, low_score: float = 0.1, max_age: int = 30,
                 iou_weight: float = 0.7, match_threshold: float = 0.1, low_match_threshold: float = 0.4,
                 smoothing: OneEuroSettings | None = DEFAULT_SMOOTHING, motion_gain: tuple[float, float] = (0.8, 0.3),
                 fps: float = 25.0, anchor_gain: tuple[float, float] = (0.3, 0.05)) -> None:
        if not 0 <= low_score <= high_score:
            raise ValueError(f"need 0 <= low_score <= high_score, got {low_score}, {high_score}")
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.high_score, self.low_score, self.max_age = float(high_score), float(low_score), int(max_age)
        self.iou_weight, self.match_threshold = float(iou_weight), float(match_threshold)
        self.low_match_threshold = float(low_match_threshold)
        self.smoothing, self.motion_gain, self.fps = smoothing, motion_gain, float(fps)
        self.anchor_gain = anchor_gain
        self.tracks: list[Track] = []
        self._next_id = 1
        self._frame = -1

    def update(self, predictions: list[Prediction], frame: int | None = None) -> list[Prediction]:
        """Track one frame's people. frame: the frame index (None = the previous one + 1); frames must increase.
        Returns copies of the matched and new people with ``track_id``, smoothed ``keypoints`` and
        ``raw_keypoints``, in the input's order."""
        frame = self._frame + 1 if frame is None else int(frame)
        if frame <= self._frame:
            raise ValueError(f"frames must increase: got {frame} after {self._frame}")
        self._frame = frame
        people = [p for p in predictions if p.score >= self.low_score]
        high = [i for i, p in enumerate(people) if p.score >= self.high_score]
        low = [i for i, p in enumerate(people) if p.score < self.high_score]
        live = list(range(len(self.tracks)))
        pairs, live_left, high_left = self._match(people, high, live, frame, self.match_threshold)
        low_pairs, _, _ = self._match(people, low, live_left, frame, self.low_match_threshold)
        out: dict[int, Prediction] = {}
        for t, d in pairs + low_pairs:
            out[d] = self._continue(self.tracks[t], people[d], frame)
        matched = {t for t, _ in pairs + low_pairs}
        self.tracks = [tr for i, tr in enumerate(self.tracks)
                       if i in matched or (tr.hits > 1 and frame - tr.last_frame <= self.max_age)]
        for d in high_left:
            out[d] = self._start(people[d], frame)
        return [out[d] for d in sorted(out)]

    # ----------------------------------------------------------------------------------- pieces
    def similarity(self, people: list[Prediction], tracks: list[Track], frame: int) -> np.ndarray:
        """(T, D) similarity of ``tracks`` (predicted to ``frame``) and ``people``: weighted IoU and OKS."""
        if not tracks or not people:
            return np.zeros((len(tracks), len(people)))
        boxes = np.stack([t.predicted_box(frame) for t in tracks])
        sim = box_iou(boxes, np.stack([p.box for p in people]))
        sigmas = people[0].skeleton.oks_sigmas
        if sigmas is None or self.iou_weight >= 1:
            return sim
        kps = np.zeros((len(tracks), len(people)))
        for i, (track, box) in enumerate(zip(tracks, boxes)):
            gt = track.predicted_keypoints(frame)
            gt[:, 2] = np.where(gt[:, 2] >= self._min_score, 2.0, 0.0)
            area = keypoint_area(gt) if gt[:, 2].any() else float(box[2] * box[3])
            for j, p in enumerate(people):
                if sim[i, j] <= 0:  # boxes apart: the keypoints are too (and OKS costs ~20 us a pair)
                    continue
                kps[i, j] = oks(p.keypoints[:, :2], gt, max(area, 1.0), np.asarray(sigmas), gt_box=box)
        return self.iou_weight * sim + (1 - self.iou_weight) * kps

    @property
    def _min_score(self) -> float:
        return self.smoothing.min_score if self.smoothing is not None else OneEuroSettings.min_score

    def _match(self, people: list[Prediction], candidates: list[int], live: list[int], frame: int,
               threshold: float) -> tuple[list[tuple[int, int]], list[int], list[int]]:
        """Hungarian matching of people ``candidates`` to tracks ``live`` (indices): (pairs (track, person),
        tracks left, people left)."""
        if not candidates or not live:
            return [], live, candidates
        sim = self.similarity([people[d] for d in candidates], [self.tracks[t] for t in live], frame)
        rows, cols = linear_sum_assignment(-sim)
        pairs = [(live[r], candidates[c]) for r, c in zip(rows, cols) if sim[r, c] >= threshold]
        used_t, used_d = {t for t, _ in pairs}, {d for _, d in pairs}
        return pairs, [t for t in live if t not in used_t], [d for d in candidates if d not in used_d]

    def _continue(self, track: Track, person: Prediction, frame: int) -> Prediction:
        """Update ``track`` with its matched ``person``: box motion model, smoothed keypoints."""
        gap = frame - track.last_frame
        predicted = _center_size(track.predicted_box(frame))
        residual = _center_size(person.box) - predicted
        a, b = self.motion_gain
        state = predicted + a * residual
        track.velocity = track.velocity + b * residual[:2] / gap
        shift = state[:2] - _center_size(track.box)[:2]
        track.box = np.array([state[0] - state[2] / 2, state[1] - state[3] / 2, state[2], state[3]])
        a, b = self.anchor_gain  # a second, steadier alpha-beta filter of the centre: the smoothing's reference
        predicted = track.anchor + track.anchor_velocity * gap
        residual = _center_size(person.box)[:2] - predicted
        track.anchor = predicted + a * residual
        track.anchor_velocity = track.anchor_velocity + b * residual / gap
        track.last_frame, track.hits = frame, track.hits + 1
        return self._output(track, person, frame, shift)

    def _start(self, person: Prediction, frame: int) -> Prediction:
        smoother = OneEuroFilter(self.smoothing) if self.smoothing is not None else None
        box = np.asarray(person.box, dtype=np.float64).copy()
        track = Track(self._next_id, box, person.keypoints.copy(), frame, smoother, anchor=_center_size(box)[:2])
        self._next_id += 1
        self.tracks.append(track)
        return self._output(track, person, frame, None)

    def _output(self, track: Track, person: Prediction, frame: int, shift: np.ndarray | None) -> Prediction:
        """The person with the track's id and smoothed keypoints. The filter sees the pose relative to the track's
        motion-filtered box centre, so a person walking at a steady pace is not smoothed into lagging behind
        (only the limbs' motion about the body is filtered) and held joints move with the person."""
        raw = np.asarray(person.keypoints, dtype=np.float64)
        if track.smoother is not None:
            anchor = track.anchor
            relative = raw.copy()
            relative[:, :2] -= anchor
            smoothed = track.smoother(relative, frame / self.fps, scale=float(track.box[3]))
            smoothed[:, :2] += anchor
        else:
            smoothed = raw.copy()
        track.keypoints = smoothed
        return dataclasses.replace(person, keypoints=smoothed, track_id=track.track_id, raw_keypoints=raw.copy())
