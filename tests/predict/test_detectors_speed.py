"""YOLOX's decoding reads only the anchors it keeps: the same boxes and scores as decoding every anchor."""

import cv2
import numpy as np
import torch

import posekit
from posekit.predict.detectors import clip_boxes, nms


def _decode_every_anchor(detector, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The decoding as first written: all 3,549 anchors x 85 outputs in float64, then the threshold."""
    x, ratio = detector.network_input(image)
    (out,) = detector.network(torch.from_numpy(x)).values()
    pred = out[0].numpy().astype(np.float64)
    cells, strides = detector._grid
    centre = (pred[:, :2] + cells) * strides
    size = np.exp(np.clip(pred[:, 2:4], -10, 10)) * strides
    scores = pred[:, 4] * pred[:, 5]
    keep = scores >= detector.threshold
    boxes = np.concatenate([centre[keep] - size[keep] / 2, size[keep]], axis=1) / ratio
    scores = scores[keep]
    order = nms(boxes, scores, detector.iou_threshold)[: detector.max_boxes]
    return clip_boxes(boxes[order], image.shape), scores[order]


def test_yolox_decoding_of_the_kept_anchors_equals_decoding_them_all(data_root):
    detector = posekit.load_model("default", backend="onnxruntime", threads=2).detector
    cap = cv2.VideoCapture(str(data_root / "unlabeled" / "vtest.avi"))
    ok, frame = cap.read()
    cap.release()
    assert ok
    for image in (frame, cv2.imread(str(data_root / "unlabeled" / "basketball1.png"))):
        boxes, scores = detector.detect(image)
        want_boxes, want_scores = _decode_every_anchor(detector, image)
        assert len(boxes) >= 2  # people found (vtest's walkers, both players)
        np.testing.assert_array_equal(boxes, want_boxes)
        np.testing.assert_array_equal(scores, want_scores)
