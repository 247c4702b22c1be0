"""The record types every part of posekit speaks: Person, Sample, Prediction.

Conventions, stated once for the whole package:

* Coordinates are image pixels, float, x to the right and y down, with pixel *centres* at integer
  values (the centre of the top-left pixel is (0, 0)).
* ``keypoints`` is a float array of shape (K, 3). For ground truth the columns are (x, y, v) with the
  COCO visibility convention: v = 0 not labelled (x, y are meaningless, stored as 0), v = 1 labelled
  but occluded, v = 2 labelled and visible. For predictions the third column is a confidence score.
* ``box`` is (x, y, w, h) in image pixels, x/y the top-left corner.
* K and the joint order come from the record's :class:`~posekit.skeletons.Skeleton`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from posekit.skeletons import COCO17, Skeleton, map_keypoints


def box_from_keypoints(keypoints: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """Tight (x, y, w, h) box around the labelled keypoints of a (K, 3) array, grown by ``margin``
    (a fraction of each side, split evenly). Returns zeros when no keypoint is labelled."""
    labelled = keypoints[:, 2] > 0
    if not labelled.any():
        return np.zeros(4, dtype=np.float64)
    xy = keypoints[labelled, :2]
    x0, y0 = xy.min(axis=0)
    x1, y1 = xy.max(axis=0)
    w, h = x1 - x0, y1 - y0
    return np.array([x0 - w * margin / 2, y0 - h * margin / 2, w * (1 + margin), h * (1 + margin)])


def keypoint_area(keypoints: np.ndarray) -> float:
    """OKS area of a person with no annotated area (PROTOCOLS.md "Multi-person"): w x h of the box around
    their labelled keypoints with both sides enlarged x 1.25."""
    box = box_from_keypoints(keypoints, margin=0.25)
    return float(box[2] * box[3])


@dataclass
class Person:
    """One annotated person.

    keypoints: (K, 3) float64, (x, y, v) in image pixels, v in {0, 1, 2} (see module docstring).
    box: (4,) float64, (x, y, w, h) in image pixels; the dataset's own box where it has one, else the
        tight box around the labelled keypoints.
    head_size: PCKh normaliser in pixels (MPII: 0.6 x head-box diagonal), or None.
    is_crowd: COCO ``iscrowd`` regions; kept so evaluation can ignore them, never trained on.
    area: segmentation area (COCO), used by OKS; None where the dataset has none.
    extra: anything else the file carries that a user may want (centre/scale, track id...).
    """

    keypoints: np.ndarray
    box: np.ndarray
    head_size: float | None = None
    is_crowd: bool = False
    area: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def num_labelled(self) -> int:
        """Number of keypoints with v > 0."""
        return int((self.keypoints[:, 2] > 0).sum())


@dataclass
class Sample:
    """One image and the people annotated in it.

    image_path: the image file (or a video frame file) on disk.
    skeleton: the keypoint definition every person's (K, 3) array follows.
    people: the annotated people (may be empty).
    image_id: the dataset's identifier for the image (COCO id, LSP index, file stem...).
    image_size: (width, height) when the annotation states it, else None (read from the image).
    """

    image_path: Path
    skeleton: Skeleton
    people: list[Person]
    image_id: Any = None
    image_size: tuple[int, int] | None = None


@dataclass
class Prediction:
    """One predicted person.

    keypoints: (K, 3) float64, (x, y, score) in image pixels of the input image, score in [0, 1].
    score: person-level confidence (mean keypoint score unless the method says otherwise).
    box: (4,) float64, (x, y, w, h) in image pixels: the box the model looked at.
    skeleton: the model's keypoint definition.
    box_score: the person detector's score for the box (None when no detector found it).
    track_id: the person's id through a video (:mod:`posekit.track`), None outside tracking.
    raw_keypoints: (K, 3) the network's own keypoints when ``keypoints`` are smoothed over time (tracking),
        else None.
    """

    keypoints: np.ndarray
    score: float
    box: np.ndarray
    skeleton: Skeleton
    box_score: float | None = None
    track_id: int | None = None
    raw_keypoints: np.ndarray | None = None

    def __getitem__(self, joint: str) -> np.ndarray:
        """(3,) x, y, score of the joint named ``joint`` (``person["left_wrist"]``); a KeyError lists the
        skeleton's joint names."""
        return self.keypoints[self.skeleton.index(joint)]

    def to_dict(self, image_id: int = 0, file_name: str | None = None, frame: int | None = None) -> dict:
        """This person as one COCO result (what pycocotools' ``loadRes`` reads): ``image_id``, ``category_id`` 1
        (person), flat ``keypoints`` (x, y, score) x K, ``score``, ``bbox`` (x, y, w, h), plus ``file_name`` /
        ``frame`` saying which image the id stands for. A skeleton that holds all of COCO-17's joints (the
        ``coco19`` union) writes exactly COCO-17's 17, in its order, so that ``COCOeval`` scores them as they are;
        any other writes its own joints; ``skeleton`` names which. A tracked person also has ``track_id`` and
        ``keypoints_raw`` (the unsmoothed keypoints, flat, in the same joints as ``keypoints``)."""
        keypoints, skeleton, raw = self.keypoints, self.skeleton, self.raw_keypoints
        if skeleton.name != COCO17.name and set(COCO17.joints) <= set(skeleton.joints):
            keypoints = map_keypoints(keypoints, skeleton, COCO17)
            raw = None if raw is None else map_keypoints(np.asarray(raw), skeleton, COCO17)
            skeleton = COCO17
        out = {
            "image_id": int(image_id),
            "category_id": 1,
            "keypoints": [round(float(v), 3) for v in keypoints.reshape(-1)],
            "score": round(float(self.score), 5),
            "bbox": [round(float(v), 2) for v in self.box],
            "skeleton": skeleton.name,
        }
        if file_name is not None:
            out["file_name"] = file_name
        if frame is not None:
            out["frame"] = int(frame)
        if self.track_id is not None:
            out["track_id"] = int(self.track_id)
        if raw is not None:
            out["keypoints_raw"] = [round(float(v), 3) for v in np.asarray(raw).reshape(-1)]
        return out


def results_json(found: list[tuple[str, int | None, list[Prediction]]]) -> list[dict]:
    """COCO results for ``(file name, video frame or None, predictions)`` triples: image ids numbered
    from 1 in the order given (one per image or video frame, also for images where nobody was found,
    so the numbering does not depend on the results), each result naming its file (and frame)."""
    results = []
    for image_id, (file_name, frame, preds) in enumerate(found, start=1):
        results += [p.to_dict(image_id, file_name, frame) for p in preds]
    return results


def read_results(path: str | Path) -> list[tuple[str | None, int | None, Prediction]]:
    """Read back a results JSON written by ``posekit predict --json``: (file name, frame, Prediction)
    per result, keypoints in the skeleton each result names (with ``track_id`` and ``raw_keypoints`` where the
    result has them)."""
    import json

    from posekit.skeletons import get_skeleton

    out = []
    for r in json.loads(Path(path).read_text()):
        skeleton = get_skeleton(r["skeleton"])
        kp = np.asarray(r["keypoints"], dtype=np.float64).reshape(skeleton.num_joints, 3)
        raw = r.get("keypoints_raw")
        raw = None if raw is None else np.asarray(raw, dtype=np.float64).reshape(skeleton.num_joints, 3)
        track_id = None if r.get("track_id") is None else int(r["track_id"])
        out.append((r.get("file_name"), r.get("frame"),
                    Prediction(kp, float(r["score"]), np.asarray(r["bbox"], dtype=np.float64), skeleton,
                               track_id=track_id, raw_keypoints=raw)))
    return out
