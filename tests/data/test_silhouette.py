"""Person silhouettes from keypoints (posekit.data.silhouette)."""

import numpy as np

from posekit.data.silhouette import body_mask, extent_box
from posekit.skeletons import LSP14


def test_body_mask_covers_the_limbs_and_extent_box_contains_it():
    kp = np.zeros((14, 3))
    kp[:, 2] = 2
    kp[:, 0] = np.linspace(40, 60, 14)
    kp[:, 1] = np.linspace(20, 120, 14)
    mask = body_mask(kp, LSP14, (160, 100))
    assert mask[70, 50] > 0.9 and mask[5, 5] == 0
    x, y, w, h = extent_box(kp, LSP14)
    ys, xs = np.nonzero(mask > 0.5)
    assert xs.min() >= x - 1 and xs.max() <= x + w + 1 and ys.min() >= y - 1 and ys.max() <= y + h + 1
