"""Score a Predictor on a labelled dataset, the way users run it (PROTOCOLS.md).

By default each whole image goes to ``Predictor.predict`` with no ground-truth box (the model must
find the person itself); ``gt_boxes=True`` crops each annotated person's keypoint box instead (the
common "ground-truth box" protocol; say which when reporting).
"""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from posekit import metrics
from posekit.data.dataset import person_box
from posekit.infer import Predictor
from posekit.metrics import PCK_THRESHOLDS
from posekit.skeletons import map_keypoints
from posekit.types import Sample


def predict_dataset(predictor: Predictor, samples: list[Sample], gt_boxes: bool = False,
                    progress: bool = True) -> tuple[np.ndarray, np.ndarray, list]:
    """Predicted and ground-truth keypoints, both (N, K, 3) in image pixels and in the *model's*
    skeleton (ground truth re-expressed by joint name; joints the data lacks get v = 0), plus the
    people's head sizes (None where absent). Without ``gt_boxes`` every image must hold one person."""
    preds, gts, heads = [], [], []
    for sample in tqdm(samples, desc="evaluating", unit="img", disable=not progress):
        people = [p for p in sample.people if not p.is_crowd and p.num_labelled > 0]
        if not people:
            continue
        if gt_boxes:
            people = [p for p in people if person_box(p) is not None]
            boxes = [person_box(p) for p in people]  # the box training cropped by
            found = predictor.predict(sample.image_path, boxes=boxes)
        else:
            if len(people) != 1:
                raise ValueError(f"{sample.image_path}: {len(people)} people; whole-image evaluation scores "
                                 "single-person images only (use --gt-boxes for multi-person data)")
            found = predictor.predict(sample.image_path)
        for person, pred in zip(people, found):
            preds.append(pred.keypoints)
            gts.append(map_keypoints(person.keypoints, sample.skeleton, predictor.skeleton))
            heads.append(person.head_size)
    if not preds:
        raise ValueError("no labelled people to evaluate")
    return np.stack(preds), np.stack(gts), heads


def score(pred: np.ndarray, gt: np.ndarray, skeleton, head_sizes: list | None = None) -> dict:
    """The report's metrics: PCK@0.2 (torso) overall / per joint / per part, its curve and AUC over
    0:0.01:0.2, strict and loose PCP, PDJ; PCKh@0.5 when head sizes exist. Percentages."""
    torso = metrics.torso_size(gt, skeleton)
    pck = metrics.pck(pred, gt, torso, alpha=0.2)
    curve = metrics.pck_curve(pred, gt, torso, thresholds=PCK_THRESHOLDS)
    out = {
        "pck@0.2": _pct(pck["mean"]),
        "per_joint": _pct_dict(zip(skeleton.joints, pck["per_joint"])),
        "per_part": _pct_dict(metrics.group_by_part(pck["per_joint"], skeleton).items()),
        "auc": _pct(metrics.auc(PCK_THRESHOLDS, curve)),
        "pck_curve": {"thresholds": PCK_THRESHOLDS.tolist(), "values": [_pct(v) for v in curve]},
    }
    if skeleton.pcp_limbs:  # JHMDB / H3D define no PCP sticks
        strict = metrics.pcp(pred, gt, skeleton, strict=True)
        out["pcp"] = _pct(strict["mean"])
        out["pcp_per_limb"] = _pct_dict(strict["per_limb"].items())
        out["pcp_loose"] = _pct(metrics.pcp(pred, gt, skeleton, strict=False)["mean"])
    if skeleton.name == "mpii16" and head_sizes and all(h is not None for h in head_sizes):
        # PCKh as PROTOCOLS.md: pelvis and thorax excluded, <= 0.5 x head size.
        out["pckh@0.5"] = _pct(metrics.pckh(pred, gt, np.asarray(head_sizes, dtype=np.float64))["mean"])
    return out


def _pct(value: float) -> float | None:
    """Fraction -> percent rounded to 0.01; None (JSON null) where nothing was counted (NaN)."""
    value = float(value)
    return round(100.0 * value, 2) if np.isfinite(value) else None


def _pct_dict(items) -> dict:
    return {name: _pct(v) for name, v in items if np.isfinite(v)}
