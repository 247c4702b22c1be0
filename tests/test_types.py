"""posekit.types helpers."""

import numpy as np
import pytest

from posekit.types import keypoint_area


def test_keypoint_area_is_the_labelled_keypoint_box_enlarged_1_25_per_side():
    kp = np.array([[10.0, 20.0, 2], [50.0, 100.0, 1], [500.0, 500.0, 0]])  # the unlabelled joint is ignored
    assert keypoint_area(kp) == pytest.approx((40 * 1.25) * (80 * 1.25))
    assert keypoint_area(np.zeros((3, 3))) == 0.0


def test_a_prediction_reads_by_joint_name_and_gives_its_coco_result():
    import numpy as np
    import pytest

    from posekit.skeletons import LSP14
    from posekit.types import Prediction

    kp = np.arange(14 * 3, dtype=float).reshape(14, 3)
    person = Prediction(kp, 0.5, np.array([1.0, 2.0, 3.0, 4.0]), LSP14)
    np.testing.assert_array_equal(person["left_wrist"], kp[LSP14.index("left_wrist")])
    with pytest.raises(KeyError, match="no joint 'nose'"):
        person["nose"]
    d = person.to_dict(image_id=7)
    assert d["image_id"] == 7 and d["category_id"] == 1 and len(d["keypoints"]) == 42 and d["bbox"] == [1, 2, 3, 4]
