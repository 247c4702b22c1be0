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


def test_coco19_results_are_coco17_and_cocoeval_scores_them(tmp_path):
    """A union-skeleton prediction written by results_json is read by pycocotools' loadRes and scored by COCOeval
    as it is: a perfect prediction scores AP 1."""
    import json

    import numpy as np
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from posekit.skeletons import COCO17, COCO19
    from posekit.types import Prediction, results_json

    rng = np.random.default_rng(0)
    xy = rng.uniform(50, 150, (17, 2))
    gt = {"images": [{"id": 1, "width": 200, "height": 200}], "categories": [{"id": 1, "name": "person",
          "keypoints": list(COCO17.joints), "skeleton": []}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 10000.0,
                           "bbox": [50, 50, 100, 100], "num_keypoints": 17,
                           "keypoints": np.concatenate([xy, np.full((17, 1), 2)], 1).reshape(-1).tolist()}]}
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    kp = np.zeros((19, 3))
    kp[:17, :2], kp[:, 2] = xy, 0.9
    kp[17:, :2] = 100  # neck, head top: not COCO keypoints
    results = results_json([("a.jpg", None, [Prediction(kp, 0.9, np.array([50.0, 50, 100, 100]), COCO19)])])
    assert results[0]["skeleton"] == "coco17" and len(results[0]["keypoints"]) == 51
    coco = COCO(str(tmp_path / "gt.json"))
    evaluator = COCOeval(coco, coco.loadRes(results), "keypoints")
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    assert evaluator.stats[0] == pytest.approx(1.0)
