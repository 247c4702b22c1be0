"""posekit.types helpers."""

import numpy as np
import pytest

from posekit.types import keypoint_area


def test_keypoint_area_is_the_labelled_keypoint_box_enlarged_1_25_per_side():
    kp = np.array([[10.0, 20.0, 2], [50.0, 100.0, 1], [500.0, 500.0, 0]])  # the unlabelled joint is ignored
    assert keypoint_area(kp) == pytest.approx((40 * 1.25) * (80 * 1.25))
    assert keypoint_area(np.zeros((3, 3))) == 0.0
