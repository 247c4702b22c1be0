"""Person silhouettes drawn from keypoints: how a person is cut out of a photo without a segmentation mask.

How a person is cut out (the sources have no segmentation masks): :func:`body_mask` paints a soft
silhouette from the person's own keypoints -- a capsule along every limb of the skeleton, the filled
torso quadrilateral (shoulders, hips) and a disc around the head -- with a thickness proportional to the
person's torso length, then feathers its edge with a Gaussian blur. The silhouette is a rough body
shape: it carries some of the source background near the limbs and cuts off hands, feet and loose
clothing beyond the capsules.

Used by the composed scenes (:mod:`posekit.data.compose`) and by the pasted occluders of
:class:`~posekit.data.dataset.PoseDataset`; :func:`extent_box` is the box of such a silhouette, the
analogue of COCO's ``bbox`` for sets that annotate none.
"""

from __future__ import annotations

import cv2
import numpy as np

from posekit.skeletons import Skeleton
from posekit.types import box_from_keypoints

__all__ = ["body_mask", "extent_box", "person_scale"]


def person_scale(keypoints: np.ndarray, skeleton: Skeleton) -> float:
    """A length in pixels that grows with the person's size: the torso length (``skeleton.torso``) when
    both ends are labelled, else a third of the labelled keypoints' box diagonal (at least 4 px)."""
    a, b = skeleton.torso
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp[a, 2] > 0 and kp[b, 2] > 0:
        torso = float(np.hypot(*(kp[a, :2] - kp[b, :2])))
        if torso > 4:
            return torso
    box = box_from_keypoints(kp)
    return max(4.0, float(np.hypot(box[2], box[3])) / 3.0)


def _limb_radius(scale: float) -> float:
    return 0.16 * scale


def extent_box(keypoints: np.ndarray, skeleton: Skeleton) -> np.ndarray:
    """(x, y, w, h): the labelled keypoints' box grown on every side by the silhouette's limb radius
    (:func:`body_mask`), an estimate of the person's full extent (COCO's ``bbox`` analogue) for sets that
    annotate no box. Zeros when no keypoint is labelled."""
    box = box_from_keypoints(keypoints)
    if box[2] <= 0 and box[3] <= 0:
        return box
    r = _limb_radius(person_scale(keypoints, skeleton))
    return np.array([box[0] - r, box[1] - r, box[2] + 2 * r, box[3] + 2 * r])


def body_mask(keypoints: np.ndarray, skeleton: Skeleton, shape: tuple[int, int], feather: float = 0.35
              ) -> np.ndarray:
    """Soft silhouette (H, W) float32 in [0, 1] of a person drawn from their labelled keypoints (image
    pixels, (K, 3)): limb capsules of radius 0.16 x :func:`person_scale`, the torso quadrilateral, a head
    disc over the limbs ending at the head; the edge blurred over ``feather`` x radius."""
    H, W = shape
    kp = np.asarray(keypoints, dtype=np.float64)
    scale = person_scale(kp, skeleton)
    r = _limb_radius(scale)
    sub = 4  # draw at 1/16 px precision (cv2's shift argument)
    mask = np.zeros((H, W), dtype=np.uint8)

    def pt(i: int) -> tuple[int, int]:
        return (int(round(kp[i, 0] * (1 << sub))), int(round(kp[i, 1] * (1 << sub))))

    labelled = kp[:, 2] > 0
    thick = max(1, int(round(2 * r)))
    for a, b in skeleton.limbs:
        if labelled[a] and labelled[b]:
            cv2.line(mask, pt(a), pt(b), 255, thickness=thick, lineType=cv2.LINE_AA, shift=sub)
    for i in np.flatnonzero(labelled):
        cv2.circle(mask, pt(int(i)), max(1, int(round(r * (1 << sub)))), 255, -1, cv2.LINE_AA, shift=sub)
    names = skeleton.joints
    quad = [names.index(n) for n in ("left_shoulder", "right_shoulder", "right_hip", "left_hip") if n in names]
    if len(quad) == 4 and labelled[quad].all():
        cv2.fillPoly(mask, [np.array([pt(i) for i in quad], dtype=np.int32)], 255, cv2.LINE_AA, shift=sub)
    for head in ("head_top", "head", "nose"):
        if head in names and labelled[names.index(head)]:
            h = names.index(head)
            neck = next((names.index(n) for n in ("neck", "upper_neck") if n in names and labelled[names.index(n)]),
                        None)
            if neck is not None:  # a disc spanning neck to head top: the head itself, not a thin stick
                c = 0.5 * (kp[h, :2] + kp[neck, :2])
                rad = max(r, 0.55 * float(np.hypot(*(kp[h, :2] - kp[neck, :2]))))
                cv2.circle(mask, (int(round(c[0] * (1 << sub))), int(round(c[1] * (1 << sub)))),
                           max(1, int(round(rad * (1 << sub)))), 255, -1, cv2.LINE_AA, shift=sub)
            break
    out = mask.astype(np.float32) / 255.0
    sigma = feather * r
    if sigma >= 0.5:
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    return out
