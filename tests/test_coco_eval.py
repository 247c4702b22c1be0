"""Tests for posekit.coco_eval: hand-computed OKS values, and OKS-AP / box AP against pycocotools' COCOeval
on randomized cases and on the real COCO-mini val annotations."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from posekit.coco_eval import COCO_SIGMAS, oks, oks_ap, oks_ap_people

STAT_KEYS = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")


def _data_root() -> Path:
    env = os.environ.get("POSEKIT_DATA")
    # <repo>/../shared/datasets: this file is <repo>/tests/test_coco_eval.py
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def test_oks_hand_computed():
    sigmas = np.array([0.1, 0.2, 0.3])
    # vars = (2 sigma)^2 = 0.04, 0.16, 0.36; area 100; squared errors 1 and 4 on the two labelled joints:
    # e = d^2 / vars / area / 2 = 1/0.04/100/2 = 0.125 and 4/0.16/100/2 = 0.125 -> OKS = exp(-0.125).
    gt = np.array([[10.0, 10.0, 2], [20.0, 20.0, 1], [0.0, 0.0, 0]])
    pred = np.array([[11.0, 10.0, 0.9], [20.0, 22.0, 0.8], [500.0, 500.0, 0.1]])  # joint 2 not labelled
    assert oks(pred, gt, 100.0, sigmas) == pytest.approx(math.exp(-0.125), rel=1e-12)
    # A GT without labelled keypoints: distance to its box tripled about the centre. Box (0, 0, 10, 10)
    # -> region [-10, 20] x [-10, 20]. Predictions (25, 5), (0, 0), (-13, 24): d^2 = 25, 0, 9 + 16 = 25.
    # e = 25/0.04/200 = 3.125, 0, 25/0.36/200 = 0.347222..; mean over all three joints.
    gt0 = np.zeros((3, 3))
    pred0 = np.array([[25.0, 5.0], [0.0, 0.0], [-13.0, 24.0]])
    expected = (math.exp(-3.125) + 1.0 + math.exp(-25 / 0.36 / 200)) / 3
    assert oks(pred0, gt0, 100.0, sigmas, gt_box=[0, 0, 10, 10]) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError):
        oks(pred0, gt0, 100.0, sigmas)
    np.testing.assert_allclose(COCO_SIGMAS[:3], [0.026, 0.025, 0.025])


# ------------------------------------------------------------------------------------------------
# OKS-AP vs pycocotools
# ------------------------------------------------------------------------------------------------


def _pycocotools_stats(gt: dict, dets: list[dict]) -> dict[str, float]:
    pytest.importorskip("pycocotools")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(copy.deepcopy(dets))
        ev = COCOeval(coco_gt, coco_dt, iouType="keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return dict(zip(STAT_KEYS, (float(s) for s in ev.stats), strict=True))


def _compare(gt: dict, dets: list[dict]) -> float:
    gt_before, dets_before = copy.deepcopy(gt), copy.deepcopy(dets)
    ours = oks_ap(gt, dets)
    assert gt == gt_before and dets == dets_before, "oks_ap must not modify its inputs"
    ref = _pycocotools_stats(gt, dets)
    diff = max(abs(ours[k] - ref[k]) for k in STAT_KEYS)
    assert diff <= 1e-6, (ours, ref)
    return diff


def _perturb(rng, kpts: np.ndarray, box, scale: float) -> list[float]:
    """Detection keypoints (flat x, y, score) from GT (K, 3): labelled joints + Gaussian noise, the others
    anywhere in the box."""
    x, y, w, h = box
    xy = kpts[:, :2] + rng.normal(0.0, scale, size=(len(kpts), 2))
    unl = kpts[:, 2] == 0
    xy[unl, 0] = x + rng.random(unl.sum()) * max(w, 1.0)
    xy[unl, 1] = y + rng.random(unl.sum()) * max(h, 1.0)
    out = np.concatenate([xy, rng.random((len(kpts), 1))], axis=1)
    return [round(float(v), 3) for v in out.reshape(-1)]


def _score(rng) -> float:
    # one decimal: plenty of ties between detections, within and across images
    return float(np.round(rng.random(), 1))


def _random_case(rng, n_images: int, two_categories: bool = False, with_bbox: bool = False):
    ids = rng.choice(10_000, n_images, replace=False)
    images = [{"id": int(i), "width": 640, "height": 480} for i in ids]
    categories = [{"id": 1, "name": "person"}] + ([{"id": 2, "name": "other"}] if two_categories else [])
    anns, dets = [], []
    for im in images:
        for _ in range(int(rng.integers(0, 6))):
            r = rng.random()
            if r < 0.1:
                area = float(rng.choice([32.0**2, 96.0**2]))  # exactly on an area-range bound
            else:
                area = float(np.exp(rng.uniform(np.log(8**2), np.log(300**2))))  # small .. large
            side = math.sqrt(area)
            w = side * rng.uniform(0.6, 1.4)
            h = area / w
            x0, y0 = rng.uniform(0, 400), rng.uniform(0, 300)
            k = np.zeros((17, 3))
            k[:, 0] = x0 + rng.random(17) * w
            k[:, 1] = y0 + rng.random(17) * h
            k[:, 2] = rng.choice([0, 1, 2], size=17, p=[0.3, 0.2, 0.5])
            if rng.random() < 0.15:
                k[:, 2] = 0  # num_keypoints == 0: ignored GT
            k[k[:, 2] == 0, :2] = 0.0
            k = np.round(k, 2)
            crowd = int(rng.random() < 0.1)
            box = [round(x0, 2), round(y0, 2), round(w, 2), round(h, 2)]
            anns.append({
                "id": len(anns) + 1, "image_id": im["id"], "category_id": 1, "iscrowd": crowd,
                "keypoints": [float(v) for v in k.reshape(-1)], "num_keypoints": int((k[:, 2] > 0).sum()),
                "area": round(area, 2), "bbox": box,
            })
            if rng.random() < 0.3:
                # a near twin (often crowd, often in another area range): detections of the first person
                # then overlap both, exercising the matcher's crowd / ignored-GT rules
                twin = k.copy()
                lab = twin[:, 2] > 0
                twin[lab, :2] += np.round(rng.normal(0.0, 0.03 * side, size=(lab.sum(), 2)), 2)
                anns.append({
                    "id": len(anns) + 1, "image_id": im["id"], "category_id": 1,
                    "iscrowd": int(rng.random() < 0.5), "keypoints": [float(v) for v in twin.reshape(-1)],
                    "num_keypoints": int(lab.sum()), "bbox": box,
                    "area": round(area * float(rng.choice([0.3, 1.0, 3.0])), 2),
                })
            for _ in range(int(rng.choice([0, 1, 1, 1, 2]))):  # missed, found, found twice
                scale = side * rng.choice([0.01, 0.05, 0.1, 0.3])
                dets.append({"image_id": im["id"], "category_id": 1, "score": _score(rng),
                             "keypoints": _perturb(rng, k, box, scale)})
        n_fp = int(rng.choice([0, 1, 3, 25], p=[0.4, 0.3, 0.2, 0.1]))  # 25: more than maxDets = 20
        for _ in range(n_fp):
            w, h = rng.uniform(5, 250), rng.uniform(5, 250)
            box = [rng.uniform(0, 400), rng.uniform(0, 300), w, h]
            cat = int(rng.choice([1, 2])) if two_categories else 1
            dets.append({"image_id": im["id"], "category_id": cat,
                         "score": _score(rng), "keypoints": _perturb(rng, np.zeros((17, 3)), box, 0.0)})
    if not dets:
        dets.append({"image_id": images[0]["id"], "category_id": 1, "score": 0.5,
                     "keypoints": _perturb(rng, np.zeros((17, 3)), [0, 0, 50, 50], 0.0)})
    if with_bbox:
        for d in dets:
            xy = np.asarray(d["keypoints"]).reshape(-1, 3)[:, :2]
            lo, hi = xy.min(0) - 3, xy.max(0) + 3
            d["bbox"] = [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])]
    rng.shuffle(dets)
    return {"images": images, "annotations": anns, "categories": categories}, dets


def test_oks_ap_matches_pycocotools_randomized():
    rng = np.random.default_rng(20240611)
    diffs = []
    n_cases = 30
    for case in range(n_cases):
        gt, dets = _random_case(rng, n_images=int(rng.integers(1, 12)), two_categories=case % 7 == 3,
                                with_bbox=case % 10 == 5)
        diffs.append(_compare(gt, dets))
    assert max(diffs) <= 1e-6


def test_oks_ap_edge_cases_match_pycocotools():
    rng = np.random.default_rng(7)
    gt, dets = _random_case(rng, n_images=4)
    # every GT ignored (crowd or no keypoints): pycocotools reports -1 everywhere
    all_ignored = copy.deepcopy(gt)
    for a in all_ignored["annotations"]:
        a["iscrowd"] = 1
    _compare(all_ignored, dets)
    assert oks_ap(all_ignored, dets)["AP"] == -1.0
    # perfect detections of the non-ignored GT -> AP = AR = 1
    perfect = [{"image_id": a["image_id"], "category_id": 1, "score": 0.9, "keypoints": a["keypoints"]}
               for a in gt["annotations"] if not a["iscrowd"] and a["num_keypoints"] > 0]
    if perfect:
        _compare(gt, perfect)
        res = oks_ap(gt, perfect)
        assert res["AP"] == pytest.approx(1.0) and res["AR"] == pytest.approx(1.0)


def test_oks_ap_matches_pycocotools_on_coco_mini():
    path = _data_root() / "coco_mini" / "annotations" / "person_keypoints_val2017.json"
    if not path.exists():
        pytest.skip(f"{path} not found (set POSEKIT_DATA)")
    gt = json.loads(path.read_text())
    rng = np.random.default_rng(0)
    diffs = []
    for trial in range(3):
        dets = []
        for a in gt["annotations"]:
            if rng.random() < 0.15:
                continue  # missed
            k = np.asarray(a["keypoints"], dtype=float).reshape(-1, 3)
            scale = math.sqrt(max(a["area"], 1.0)) * rng.choice([0.01, 0.03, 0.08, 0.2])
            dets.append({"image_id": a["image_id"], "category_id": 1, "score": _score(rng),
                         "keypoints": _perturb(rng, k, a["bbox"], scale)})
        for im in gt["images"]:
            for _ in range(int(rng.integers(0, 3 + trial))):  # false positives
                w, h = rng.uniform(10, 300), rng.uniform(10, 300)
                box = [rng.uniform(0, im["width"] - w), rng.uniform(0, im["height"] - h), w, h]
                dets.append({"image_id": im["id"], "category_id": 1, "score": _score(rng),
                             "keypoints": _perturb(rng, np.zeros((17, 3)), box, 0.0)})
        rng.shuffle(dets)
        diffs.append(_compare(gt, dets))
        res = oks_ap(gt, dets)
        assert 0.0 < res["AP"] < 1.0
    assert max(diffs) <= 1e-6


def test_oks_ap_people_builds_the_coco_dicts_oks_ap_needs():
    """People and predictions per image -> the same AP as the hand-written COCO dicts; people with no
    labelled keypoint dropped, crowds kept as ignore regions, ``area`` from the person or the callable."""
    from posekit.types import Person

    rng = np.random.default_rng(0)
    kp = np.concatenate([rng.uniform(0, 100, (17, 2)), np.full((17, 1), 2.0)], axis=1)
    person = Person(keypoints=kp, box=np.array([0.0, 0.0, 100, 100]), area=5000.0)
    unlabelled = Person(keypoints=np.zeros((17, 3)), box=np.array([0.0, 0.0, 10, 10]), area=100.0)
    crowd = Person(keypoints=np.zeros((17, 3)), box=np.array([200.0, 200, 50, 50]), is_crowd=True, area=2500.0)
    moved = kp.copy()
    moved[:, :2] += 3.0
    found = [[(moved, 0.9), (moved + [[200, 200, 0]], 0.5)], []]
    result = oks_ap_people([[person, unlabelled, crowd], [person]], found)
    assert result["num_people"] == 3  # two real people and the crowd region
    gt = {"images": [{"id": 0}, {"id": 1}], "categories": [{"id": 1}], "annotations": [
        {"id": 1, "image_id": 0, "category_id": 1, "keypoints": kp.reshape(-1).tolist(), "num_keypoints": 17,
         "area": 5000.0, "bbox": [0.0, 0.0, 100, 100], "iscrowd": 0},
        {"id": 2, "image_id": 0, "category_id": 1, "keypoints": [0.0] * 51, "num_keypoints": 0, "area": 2500.0,
         "bbox": [200.0, 200, 50, 50], "iscrowd": 1},
        {"id": 3, "image_id": 1, "category_id": 1, "keypoints": kp.reshape(-1).tolist(), "num_keypoints": 17,
         "area": 5000.0, "bbox": [0.0, 0.0, 100, 100], "iscrowd": 0}]}
    dets = [{"image_id": 0, "category_id": 1, "keypoints": m.reshape(-1).tolist(), "score": s}
            for m, s in found[0]]
    assert {k: v for k, v in result.items() if k != "num_people"} == oks_ap(gt, dets)
    assert 0 < result["AP"] < 1  # the second image's person is missed
    tiny = oks_ap_people([[person]], [found[0][:1]], area=lambda p: 1.0)
    assert tiny["AP"] < oks_ap_people([[person]], [found[0][:1]])["AP"]  # a 3 px error on a tiny area fails


# ------------------------------------------------------------------------------------------------
# box AP vs pycocotools
# ------------------------------------------------------------------------------------------------


def test_box_ap_matches_pycocotools_on_coco_mini():
    """Person boxes of the real COCO-mini val annotations (crowd regions included), jittered, missed and
    padded with false positives: box_ap equals COCOeval(iouType="bbox") to 1e-6."""
    pytest.importorskip("pycocotools")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from posekit.coco_eval import box_ap

    path = _data_root() / "coco_mini" / "annotations" / "person_keypoints_val2017.json"
    if not path.exists():
        pytest.skip(f"{path} not found (set POSEKIT_DATA)")
    gt = json.loads(path.read_text())
    assert any(a["iscrowd"] for a in gt["annotations"])
    rng = np.random.default_rng(1)
    dets = []
    for a in gt["annotations"]:
        if rng.random() < 0.2:
            continue
        x, y, w, h = a["bbox"]
        j = rng.normal(0, rng.choice([0.02, 0.1, 0.3]), 4) * [w, h, w, h]
        box = (x + j[0], y + j[1], max(1.0, w + j[2]), max(1.0, h + j[3]))
        dets.append({"image_id": a["image_id"], "category_id": 1, "score": _score(rng),
                     "bbox": [round(float(v), 2) for v in box]})
    for im in gt["images"]:
        for _ in range(int(rng.integers(0, 3))):
            w, h = rng.uniform(5, 200), rng.uniform(5, 200)
            x, y = float(rng.uniform(0, im["width"] - w)), float(rng.uniform(0, im["height"] - h))
            dets.append({"image_id": im["id"], "category_id": 1, "score": _score(rng), "bbox": [x, y, w, h]})
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        ev = COCOeval(coco_gt, coco_gt.loadRes(copy.deepcopy(dets)), iouType="bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    ours = box_ap(gt, dets)
    ref = {"AP": ev.stats[0], "AP50": ev.stats[1], "AP75": ev.stats[2], "APs": ev.stats[3], "APm": ev.stats[4],
           "APl": ev.stats[5], "AR": ev.stats[8]}
    for k, v in ref.items():
        assert abs(ours[k] - v) <= 1e-6, (k, ours[k], v)
    assert 0.05 < ours["AP"] < 0.9
