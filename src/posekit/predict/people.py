"""From posed candidates to people: a pose's confidence, and duplicates removed by OKS-NMS."""

from __future__ import annotations

import numpy as np

from posekit.coco_eval import oks
from posekit.types import box_from_keypoints


def keypoint_confidence(keypoints: np.ndarray, floor: float = 0.2) -> np.ndarray:
    """A person's pose confidence from (N, K, 3) keypoints: the mean score of the keypoints scoring over
    ``floor`` (0 when none does), the rescoring of the HRNet / SimpleBaseline COCO pipelines: joints
    outside the crop of a truncated person do not drag a good pose down."""
    s = keypoints[..., 2]
    over = s > floor
    return np.where(over.any(-1), (s * over).sum(-1) / np.maximum(over.sum(-1), 1), 0.0)


def oks_nms(keypoints: np.ndarray, scores: np.ndarray, sigmas: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy OKS non-maximum suppression over people (N, K, 3) in image pixels: indices kept, by score.
    A person is dropped when its OKS against a kept, higher-scoring one exceeds ``threshold`` (the kept
    one acting as ground truth, area = its keypoint box); as the COCO top-down pipelines do."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    keep: list[int] = []
    for i in order:
        dup = False
        for j in keep:
            ref = keypoints[j].copy()
            ref[:, 2] = 1.0
            box = box_from_keypoints(ref)
            if oks(keypoints[i][:, :2], ref, max(box[2] * box[3], 1.0), sigmas) > threshold:
                dup = True
                break
        if not dup:
            keep.append(int(i))
    return np.asarray(keep, dtype=np.int64)
