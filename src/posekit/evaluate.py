"""Score a Predictor on a labelled dataset, the way users run it (PROTOCOLS.md).

By default each whole image goes to ``Predictor.predict`` with no ground-truth box (the model must
find the people itself). ``gt_boxes=True`` poses each annotated person in the box the dataset's protocol
hands a top-down method (:func:`gt_box`; PROTOCOLS.md "Ground-truth person boxes").

Single-person metrics (PCK, PCKh, PCP) need one prediction per annotated person: ``match="top"`` takes
the top-scoring person the predictor returns (LSP, PARSE: one person per image), ``match="nearest"``
the returned person nearest to each annotated one (mean distance over the joints both label; MPII
photos hold several people of whom one or two are annotated). A person with no prediction at all
counts as missed on every joint. Multi-person data in COCO format is scored with OKS-AP
(:func:`evaluate_oks`).
"""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

import posekit.metrics as metrics
from posekit.coco_eval import oks_ap
from posekit.data.dataset import person_box
from posekit.metrics import PCK_THRESHOLDS
from posekit.predict.base import Predictor
from posekit.skeletons import Skeleton, common_joints, map_keypoints
from posekit.types import Person, Sample, box_from_keypoints

#: what a --gt-boxes figure used, per dataset format (reported with every figure)
GT_BOX_SOURCES = {
    "mpii": "MPII annotated centre/scale: box side 200 x scale, cropped x 1.25 (the protocol's 200 x scale x 1.25)",
    "coco": "COCO annotated bbox, enlarged x 1.25 at crop time",
}
#: the MPII protocol's crop: side 200 x scale x MPII_CROP about the annotated centre
MPII_CROP = 1.25
KEYPOINT_BOX_SOURCE = "tight box around the ground-truth keypoints x 1.25 (the images are person-centred crops)"


def gt_box(person: Person, fmt: str, padding: float = 1.25) -> np.ndarray | None:
    """The person box the dataset's protocol hands a top-down method (PROTOCOLS.md), as (x, y, w, h) in
    image pixels *before* the predictor's ``padding``: MPII -> a square about ``center`` whose crop (x ``padding``)
    is the protocol's and the reference code's 200 x scale x 1.25 (:data:`MPII_CROP`; until 2026-12-02 the crop
    was 200 x scale, tighter than the protocol); COCO -> the annotated ``bbox``;
    others (LSP, LSPet, JHMDB: person-centred crops with no box) -> the keypoints' tight box."""
    if fmt == "mpii" and "center" in person.extra and person.extra.get("scale"):
        side = 200.0 * float(person.extra["scale"]) * MPII_CROP / padding
        c = np.asarray(person.extra["center"], dtype=np.float64)
        return np.array([c[0] - side / 2, c[1] - side / 2, side, side])
    if fmt == "coco":
        return person_box(person, source="annotation")
    return person_box(person)


def _nearest(preds: list, gt: np.ndarray, skeleton: Skeleton) -> np.ndarray | None:
    """The keypoints of the prediction nearest to ``gt`` (model skeleton, (K, 3)) by mean distance over
    the joints the ground truth labels; None when there is no prediction."""
    if not preds:
        return None
    labelled = gt[:, 2] > 0
    dists = [np.linalg.norm(p.keypoints[labelled, :2] - gt[labelled, :2], axis=1).mean() if labelled.any() else 0
             for p in preds]
    return preds[int(np.argmin(dists))].keypoints


def predict_dataset(predictor: Predictor, samples: list[Sample], gt_boxes: bool = False, fmt: str = "",
                    match: str = "top", progress: bool = True, images: list[np.ndarray] | None = None
                    ) -> tuple[np.ndarray, np.ndarray, list]:
    """Predicted and ground-truth keypoints, both (N, K, 3) in image pixels and in the *model's*
    skeleton (ground truth re-expressed by joint name; joints the data lacks get v = 0), plus the
    people's head sizes (None where absent). ``fmt`` (the dataset format) picks the ground-truth box
    source (:func:`gt_box`); ``match`` "top" or "nearest" (module docstring). A person the predictor
    missed gets a prediction of zeros (score 0), counted wrong. ``images``: the samples' pictures as
    arrays (e.g. corrupted copies, benchmarks/robustness.py) instead of their files."""
    if match not in ("top", "nearest"):
        raise ValueError(f"match must be 'top' or 'nearest', got {match!r}")
    K = predictor.skeleton.num_joints
    preds, gts, heads = [], [], []
    for i, sample in enumerate(tqdm(samples, desc="evaluating", unit="img", disable=not progress)):
        picture = sample.image_path if images is None else images[i]
        people = [p for p in sample.people if not p.is_crowd and p.num_labelled > 0]
        if not people:
            continue
        targets = [map_keypoints(p.keypoints, sample.skeleton, predictor.skeleton) for p in people]
        if gt_boxes:
            boxes = [gt_box(p, fmt, predictor.padding) for p in people]
            kept = [i for i, b in enumerate(boxes) if b is not None]
            people, targets = [people[i] for i in kept], [targets[i] for i in kept]
            found = [p.keypoints for p in predictor.predict(picture, boxes=[boxes[i] for i in kept])]
        else:
            returned = predictor.predict(picture)
            if match == "top":
                if len(people) != 1:
                    raise ValueError(f"{sample.image_path}: {len(people)} annotated people; the top-scoring "
                                     "person can stand for one only (use match='nearest' or --gt-boxes)")
                found = [returned[0].keypoints if returned else None]
            else:
                found = [_nearest(returned, t, predictor.skeleton) for t in targets]
        for person, target, kp in zip(people, targets, found):
            preds.append(np.zeros((K, 3)) if kp is None else kp)
            gts.append(target)
            heads.append(person.head_size)
    if not preds:
        raise ValueError("no labelled people to evaluate")
    return np.stack(preds), np.stack(gts), heads


#: the 12 limb joints every skeleton here shares: OKS-AP on them compares LSP-14 and COCO-17 models alike
LIMB_JOINTS = ("left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
               "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")


def oks_joints(model: Skeleton, data: Skeleton, only: tuple[str, ...] | None = None
               ) -> tuple[list[int], list[int], np.ndarray]:
    """The joints OKS is scored on when a ``model`` skeleton meets ``data``: (model indices, data indices,
    the data skeleton's sigmas for them), in the data's order (PROTOCOLS.md "Multi-person"); ``only``: of those,
    just the joints named (e.g. :data:`LIMB_JOINTS`)."""
    pairs = [(m, d) for m, d in common_joints(model, data) if only is None or data.joints[d] in only]
    if len(pairs) < 3:
        raise ValueError(f"{model.name} and {data.name} share {len(pairs)} joints")
    if data.oks_sigmas is None:
        raise ValueError(f"skeleton {data.name} has no OKS sigmas")
    di = [d for _, d in pairs]
    return [m for m, _ in pairs], di, np.asarray(data.oks_sigmas, dtype=np.float64)[di]


def evaluate_oks(predictor: Predictor, samples: list[Sample], gt_boxes: bool = False,
                 progress: bool = True, images: list[np.ndarray] | None = None,
                 joints: tuple[str, ...] | None = None) -> dict:
    """OKS-AP (PROTOCOLS.md "COCO" / "Multi-person") of the predictor on COCO-format samples, over the
    joints the model's skeleton and the data's share (the 12 limb joints for an LSP-14 model on COCO-17),
    with the data skeleton's sigmas for them; ground-truth people with none of those joints labelled are
    dropped, crowd regions kept as ignore regions; area = the annotation's ``area`` (keypoint box area
    when absent). ``gt_boxes``: each annotated person is posed in its ``bbox`` x 1.25 (a detection each).
    ``images``: the samples' pictures as arrays instead of their files (as :func:`predict_dataset`).
    ``joints``: score only these of the shared joints (e.g. :data:`LIMB_JOINTS`).
    Returns the :func:`posekit.coco_eval.oks_ap` summary in percent plus counts and the joints used."""
    if not samples:
        raise ValueError("no images to evaluate")
    data_skeleton = samples[0].skeleton
    mi, di, sigmas = oks_joints(predictor.skeleton, data_skeleton, joints)
    annotations, detections = [], []
    pictures = [s.image_path for s in samples] if images is None else images
    coco_images = []
    for image_id, sample in enumerate(tqdm(samples, desc="evaluating", unit="img", disable=not progress)):
        coco_images.append({"id": image_id})
        scored = []
        for person in sample.people:
            kp = person.keypoints[di]
            if not person.is_crowd and not (kp[:, 2] > 0).any():
                continue  # none of the shared joints labelled: dropped (PROTOCOLS.md)
            box = np.asarray(person.box, dtype=np.float64) if person.box is not None else box_from_keypoints(kp)
            area = person.area if person.area is not None else float(box[2] * box[3])
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": 1,
                                "keypoints": kp.reshape(-1).tolist(), "num_keypoints": int((kp[:, 2] > 0).sum()),
                                "area": area, "bbox": box.tolist(), "iscrowd": int(person.is_crowd)})
            if not person.is_crowd:
                scored.append(person)
        if gt_boxes:
            boxes = [gt_box(p, "coco") for p in scored]
            found = predictor.predict(pictures[image_id], boxes=[b for b in boxes if b is not None]) if scored else []
        else:
            found = predictor.predict(pictures[image_id])
        for p in found:
            detections.append({"image_id": image_id, "category_id": 1, "score": float(p.score),
                               "keypoints": p.keypoints[mi].reshape(-1).tolist()})
    gt = {"images": coco_images, "annotations": annotations, "categories": [{"id": 1}]}
    result = oks_ap(gt, detections, sigmas=sigmas)
    out = {k: round(100.0 * v, 2) if v >= 0 else None for k, v in result.items()}
    out.update({"num_images": len(coco_images), "num_people": sum(1 for a in annotations if not a["iscrowd"]),
                "num_detections": len(detections), "joints": [data_skeleton.joints[d] for d in di]})
    return out


def score(pred: np.ndarray, gt: np.ndarray, skeleton, head_sizes: list | None = None,
          boxes: np.ndarray | None = None) -> dict:
    """The report's metrics: PCK@0.2 (torso) overall / per joint / per part (for LSP-14 the reference
    table's "Head" = mean(neck, head top)), its curve and AUC over 0:0.01:0.2, strict and loose PCP,
    the PDJ curve over 0:0.01:0.5 of the torso; PCKh@0.5 and @0.1 when head sizes exist; with ``boxes``
    (N, 4) ground-truth person boxes, box-normalised PCK@0.2 (max(w, h), PROTOCOLS.md "JHMDB") too.
    Percentages."""
    torso = metrics.torso_size(gt, skeleton)
    pck = metrics.pck(pred, gt, torso, alpha=0.2)
    curve = metrics.pck_curve(pred, gt, torso, thresholds=PCK_THRESHOLDS)
    head = metrics.LSP_HEAD if skeleton.name == "lsp14" else None
    pdj = metrics.pdj(pred, gt, torso)
    out = {
        "pck@0.2": _pct(pck["mean"]),
        "per_joint": _pct_dict(zip(skeleton.joints, pck["per_joint"])),
        "per_part": _pct_dict(metrics.group_by_part(pck["per_joint"], skeleton, head=head).items()),
        "auc": _pct(metrics.auc(PCK_THRESHOLDS, curve)),
        "pck_curve": {"thresholds": PCK_THRESHOLDS.tolist(), "values": [_pct(v) for v in curve]},
        "pdj_curve": {"thresholds": pdj["thresholds"].tolist(), "values": [_pct(v) for v in pdj["mean"]]},
    }
    if skeleton.pcp_limbs:  # JHMDB / H3D define no PCP sticks
        strict = metrics.pcp(pred, gt, skeleton, strict=True)
        out["pcp"] = _pct(strict["mean"])
        out["pcp_per_limb"] = _pct_dict(strict["per_limb"].items())
        out["pcp_loose"] = _pct(metrics.pcp(pred, gt, skeleton, strict=False)["mean"])
    if boxes is not None:
        out["pck@0.2_box"] = _pct(metrics.pck(pred, gt, metrics.box_size(boxes), alpha=0.2)["mean"])
    if head_sizes and all(h is not None for h in head_sizes):
        # PCKh as PROTOCOLS.md: pelvis and thorax excluded (an LSP-14 model has neither), <= alpha x head size
        hs = np.asarray(head_sizes, dtype=np.float64)
        res = metrics.pckh(pred, gt, hs, skeleton=skeleton)
        out["pckh@0.5"] = _pct(res["mean"])
        out["pckh@0.1"] = _pct(metrics.pckh(pred, gt, hs, alpha=0.1, skeleton=skeleton)["mean"])
        out["pckh_per_joint"] = _pct_dict(zip(skeleton.joints, res["per_joint"]))
    return out


def _pct(value: float) -> float | None:
    """Fraction -> percent rounded to 0.01; None (JSON null) where nothing was counted (NaN)."""
    value = float(value)
    return round(100.0 * value, 2) if np.isfinite(value) else None


def _pct_dict(items) -> dict:
    return {name: _pct(v) for name, v in items if np.isfinite(v)}


def protocol(fmt: str, gt_boxes: bool) -> str:
    """How a figure on data of format ``fmt`` was measured, as reports state it."""
    if gt_boxes:
        return f"ground-truth boxes: {GT_BOX_SOURCES.get(fmt, KEYPOINT_BOX_SOURCE)}"
    return "whole images, no ground-truth boxes"


def _fmt_value(v: float | None) -> str:
    return "  n/a" if v is None else f"{v:6.2f}"  # None: nothing was counted


def evaluation_report(predictor: Predictor, samples: list[Sample], fmt: str, gt_boxes: bool = False
                      ) -> tuple[dict, list[str]]:
    """Score ``predictor`` on ``samples`` by the protocol of ``fmt`` (COCO format: :func:`evaluate_oks`;
    the others: :func:`predict_dataset` then :func:`score`). Returns (the report's fields: "metrics",
    "num_people" and, for single-person data, "match"; the lines that summarise them for a reader)."""
    v = _fmt_value
    if fmt == "coco":
        result = evaluate_oks(predictor, samples, gt_boxes=gt_boxes)
        lines = [f"  OKS-AP {v(result['AP'])}   AP50 {v(result['AP50'])}   AP75 {v(result['AP75'])}   "
                 f"AR {v(result['AR'])}   ({result['num_people']} people, {len(result['joints'])} joints: "
                 f"{', '.join(result['joints'])})"]
        return {"metrics": result, "num_people": result["num_people"]}, lines
    match = "nearest" if fmt == "mpii" else "top"
    pred, gt, heads = predict_dataset(predictor, samples, gt_boxes=gt_boxes, fmt=fmt, match=match)
    # JHMDB's protocol normalises by the person box (its keypoint box: the clips annotate no box)
    boxes = np.stack([box_from_keypoints(g) for g in gt]) if fmt == "jhmdb" else None
    result = score(pred, gt, predictor.skeleton, heads, boxes=boxes)
    shared = int((gt[..., 2] > 0).any(0).sum())
    lines = [
        f"  {len(pred)} people; {shared} joints of {predictor.skeleton.name} labelled in the data"
        + ("; each annotated person matched to the nearest returned person" if match == "nearest" and
           not gt_boxes else ""),
        f"  PCK@0.2 (torso) {v(result['pck@0.2'])}   AUC {v(result['auc'])}"
        + (f"   PCP {v(result['pcp'])}" if "pcp" in result else "")
        + (f"   PCK@0.2 (box) {v(result['pck@0.2_box'])}" if "pck@0.2_box" in result else "")
        + (f"   PCKh@0.5 {v(result['pckh@0.5'])}   PCKh@0.1 {v(result['pckh@0.1'])}"
           if "pckh@0.5" in result else ""),
        "  " + "  ".join(f"{k} {v(x).strip()}" for k, x in result["per_part"].items()),
    ]
    return {"metrics": result, "num_people": int(len(pred)), "match": match}, lines
