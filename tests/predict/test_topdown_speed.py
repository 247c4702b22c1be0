"""The top-down pipeline's speed paths give the numbers the plain paths give: the batch-wide network pass equals the
base's per-crop one, boxes that cannot pass the person threshold are not posed (the same people come out), and a
re-crop is skipped only where it would look at the same region (``refine_iou``)."""

import cv2
import numpy as np
import pytest
import torch

from posekit.api import load_model
from posekit.predict.base import Predictor
from posekit.predict.flip import mirror_average, mirror_average_numpy
from posekit.preprocess import normalize_image, normalize_images


@pytest.fixture(scope="module")
def default():
    return load_model("default", backend="onnxruntime", threads=2)


@pytest.fixture(scope="module")
def frames(data_root):
    cap = cv2.VideoCapture(str(data_root / "unlabeled" / "vtest.avi"))
    out = []
    for i in range(120):
        ok, frame = cap.read()
        assert ok
        if i % 40 == 0:
            out.append(frame)
    cap.release()
    return out


def _same_people(a: list, b: list) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x.keypoints, y.keypoints, atol=1e-3)
        assert x.score == pytest.approx(y.score, abs=1e-4)
        np.testing.assert_allclose(x.box, y.box, atol=1e-3)


def test_batch_normalisation_equals_the_per_image_one(data_root):
    image = cv2.imread(str(data_root / "unlabeled" / "messi5.jpg"))
    crops = np.stack([image[:160, :160], image[100:260, 200:360], image[::-1][:160, -160:]])
    one_by_one = torch.stack([normalize_image(c) for c in crops]).numpy()
    assert np.array_equal(normalize_images(crops), one_by_one)


@pytest.mark.parametrize("flip", [True, False])
def test_the_batched_network_pass_equals_the_base_pass(tiny_topdown, data_root, flip):
    predictor = load_model(tiny_topdown, backend="torch", device="cpu", flip_test=flip)
    image = cv2.imread(str(data_root / "unlabeled" / "messi5.jpg"))
    crops = np.stack([cv2.resize(image[:, i * 100: i * 100 + 300], predictor.input_size) for i in range(3)])
    fast = predictor._network_outputs(predictor.model, crops)
    plain = Predictor._network_outputs(predictor, predictor.model, crops)
    # what decoding reads is there (offsets only for refine "offsets"), with the same numbers
    assert "heatmaps" in fast and set(fast) <= set(plain)
    assert ("offsets" in fast) == (predictor.codec.refine == "offsets")
    for key in fast:
        torch.testing.assert_close(fast[key], plain[key], rtol=0, atol=1e-6)


def test_the_numpy_mirror_average_equals_the_torch_one():
    rng = np.random.default_rng(0)
    flip_index = np.array([1, 0, 3, 2, 4])
    shapes = {"heatmaps": (3, 5, 8, 6), "offsets": (3, 5, 2, 8, 6), "coords": (3, 5, 2), "scores": (3, 5)}
    out = {k: rng.random(s, dtype=np.float32) for k, s in shapes.items()}
    flipped = {k: rng.random(s, dtype=np.float32) for k, s in shapes.items()}
    want = mirror_average({k: torch.from_numpy(v) for k, v in out.items()},
                          {k: torch.from_numpy(v) for k, v in flipped.items()}, flip_index)
    got = mirror_average_numpy(out, flipped, flip_index)
    for key in shapes:
        assert np.array_equal(got[key], want[key].numpy()), key
    assert mirror_average_numpy(out, None, None)["heatmaps"] is not None
    with pytest.raises(ValueError, match="pafs"):
        mirror_average_numpy({"pafs": out["heatmaps"]}, {"pafs": out["heatmaps"]}, flip_index)


def test_hopeless_boxes_are_not_posed_and_the_people_are_the_same(default, frames, data_root):
    plain = load_model("default", backend="onnxruntime", threads=2, skip_hopeless=False)
    crops_saved = 0
    images = [*frames, cv2.imread(str(data_root / "unlabeled" / "basketball1.png"))]
    for image in images:
        _same_people(default.predict(image), plain.predict(image))
        assert default.last_crops <= plain.last_crops
        crops_saved += plain.last_crops - default.last_crops
    assert crops_saved > 0  # vtest.avi has low-scoring boxes (posts, the sign) that are no longer posed


def test_refine_iou_one_reposes_only_moved_boxes_and_zero_reposes_none(default, frames):
    every = load_model("default", backend="onnxruntime", threads=2, refine_iou=1.5)  # IoU < 1.5: every box
    none = load_model("default", backend="onnxruntime", threads=2, refine_iou=0.0)
    first_pass = load_model("default", backend="onnxruntime", threads=2, refine_steps=0)
    for frame in frames:
        _same_people(default.predict(frame), every.predict(frame))
        assert default.last_crops <= every.last_crops
        _same_people(none.predict(frame), first_pass.predict(frame))
        assert none.last_crops == first_pass.last_crops


def test_last_timing_splits_detector_and_pose(default, frames):
    default.predict(frames[0])
    timing = default.last_timing
    assert set(timing) == {"detector", "pose"}
    assert 0 < timing["detector"] < 5 and 0 < timing["pose"] < 10
    assert default.last_crops > 0 and default.last_crops % 2 == 0  # flip test: each crop with its mirror
