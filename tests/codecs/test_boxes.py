"""CenterBoxCodec: encode -> decode gives the boxes back; NMS and IoU on hand-checked cases."""

import numpy as np

from posekit.codecs.boxes import CenterBoxCodec, box_iou, fit_calibration, nms


def test_encode_decode_round_trip():
    codec = CenterBoxCodec((256, 192), (64, 48))
    boxes = np.array([[10.3, 20.7, 50.0, 120.0], [150.2, 30.0, 80.5, 140.25]])
    t = codec.encode(boxes)
    assert t["centers"].shape == (1, 48, 64) and t["sizes"].shape == (2, 48, 64)
    assert t["box_mask"].sum() == 2 and t["centers"].max() == 1.0
    got, scores = codec.decode(t["centers"][0], t["sizes"], t["offsets"], threshold=0.5)
    assert len(got) == 2 and np.all(scores == 1.0)
    order = np.argsort(got[:, 0])
    np.testing.assert_allclose(got[order], boxes, atol=1e-4)


def test_small_boxes_and_crowds_become_ignore_regions():
    codec = CenterBoxCodec((128, 128), (32, 32), min_box=6)
    t = codec.encode(np.array([[10, 10, 3, 20], [60, 60, 30, 40]]), ignore_boxes=np.array([[0, 100, 40, 20]]))
    assert t["box_mask"].sum() == 1
    assert t["ignore"][0, 2:8, 2:4].all()  # the 3-px-wide person: cells 2..3 across, 2..8 down
    assert t["ignore"][0, 26, 5] == 1  # the crowd region
    assert t["ignore"][0][t["centers"][0] >= 1].sum() == 0


def test_iou_and_nms():
    a = np.array([[0, 0, 10, 10], [5, 0, 10, 10], [100, 100, 5, 5]], dtype=float)
    np.testing.assert_allclose(box_iou(a[:1], a[1:2]), [[50 / 150]])
    assert list(nms(a, np.array([0.9, 0.8, 0.7]), 0.3)) == [0, 2]
    assert list(nms(a, np.array([0.9, 0.8, 0.7]), 0.5)) == [0, 1, 2]


def test_calibration_fits_a_known_logistic():
    rng = np.random.default_rng(0)
    s = rng.uniform(0.01, 0.99, 20000)
    logit = np.log(s / (1 - s))
    p = 1 / (1 + np.exp(-(2.0 * logit - 1.0)))
    y = rng.random(20000) < p
    a, b = fit_calibration(s, y)
    assert abs(a - 2.0) < 0.15 and abs(b + 1.0) < 0.1


def test_greedy_match_counts_each_person_once():
    from posekit.codecs.boxes import greedy_match

    gts = np.array([[0, 0, 10, 10], [50, 50, 10, 10]], dtype=float)
    boxes = np.array([[1, 0, 10, 10], [0, 1, 10, 10], [50, 50, 10, 10], [200, 0, 5, 5]], dtype=float)
    assert list(greedy_match(boxes, gts)) == [True, False, True, False]
    assert list(greedy_match(boxes, np.zeros((0, 4)))) == [False] * 4
