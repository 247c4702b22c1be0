"""COCO-style evaluation of people found in whole images: OKS, OKS-AP and box AP.

A NumPy re-implementation of pycocotools' ``COCOeval`` (``iouType="keypoints"`` and ``"bbox"``) that agrees
with it to 1e-6 (tested) without importing it (PROTOCOLS.md "COCO", "Multi-person", "Person detection").
The single-person metrics (PCK, PCKh, PCP, PDJ) are in :mod:`posekit.metrics`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

__all__ = ["COCO_SIGMAS", "box_ap", "oks", "oks_ap", "oks_ap_people"]


# --------------------------------------------------------------------------------------------------
# OKS and COCO OKS-AP
# --------------------------------------------------------------------------------------------------

#: COCO's keypoint OKS sigmas (PROTOCOLS.md "COCO"; pycocotools ``Params.kpt_oks_sigmas``).
#: Computed exactly as pycocotools does (the /10 included) so OKS agrees bit for bit.
COCO_SIGMAS = (
    np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89]) / 10.0
)


def _oks_against_gt(
    dt_xy: np.ndarray, gt_kpts: np.ndarray, gt_area: float, gt_box: np.ndarray | None, variances: np.ndarray
) -> np.ndarray:
    """OKS of D detections against one ground truth, operation for operation as pycocotools'
    ``COCOeval.computeOks`` (so the floats match bit for bit).

    dt_xy: (D, K, 2); gt_kpts: (K, 3); gt_box: (4,) x, y, w, h (only read when the GT has no labelled
    keypoint); variances: (K,) = (2 sigma)^2. Returns (D,).
    """
    xg, yg, vg = gt_kpts[:, 0], gt_kpts[:, 1], gt_kpts[:, 2]
    xd, yd = dt_xy[..., 0], dt_xy[..., 1]
    k1 = np.count_nonzero(vg > 0)
    if k1 > 0:
        dx = xd - xg
        dy = yd - yg
    else:
        if gt_box is None:
            raise ValueError("a ground truth without labelled keypoints needs its box for OKS")
        # Distance to the GT box doubled around its centre: pycocotools' "ignore region" bounds.
        bb = gt_box
        x0 = bb[0] - bb[2]
        x1 = bb[0] + bb[2] * 2
        y0 = bb[1] - bb[3]
        y1 = bb[1] + bb[3] * 2
        dx = np.maximum(0.0, x0 - xd) + np.maximum(0.0, xd - x1)
        dy = np.maximum(0.0, y0 - yd) + np.maximum(0.0, yd - y1)
    e = (dx**2 + dy**2) / variances / (gt_area + np.spacing(1)) / 2
    if k1 > 0:
        e = e[:, vg > 0]
    return np.sum(np.exp(-e), axis=1) / e.shape[1]


def oks(
    pred: np.ndarray,
    gt: np.ndarray,
    area: float,
    sigmas: np.ndarray = COCO_SIGMAS,
    gt_box: np.ndarray | None = None,
) -> float:
    """Object Keypoint Similarity of one prediction against one ground truth (PROTOCOLS.md "COCO";
    pycocotools ``COCOeval.computeOks``).

    vars = (2 sigma)^2; e = d^2 / vars / (area + eps) / 2 with eps = ``np.spacing(1)``; OKS = mean over
    the labelled (v > 0) GT keypoints of exp(-e). When the GT has no labelled keypoint, pycocotools'
    special case applies: d is each predicted keypoint's distance to the GT box grown to three times
    its size about its centre ([x - w, x + 2w] x [y - h, y + 2h]), averaged over all K keypoints;
    ``gt_box`` (x, y, w, h) is then required.

    pred: (K, 2|3) in pixels; gt: (K, 3); area: the GT's (segmentation) area in pixels^2; sigmas: (K,).
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    sigmas = np.asarray(sigmas, dtype=np.float64)
    if pred.shape[0] != gt.shape[0] or sigmas.shape != (gt.shape[0],):
        raise ValueError(f"pred {pred.shape}, gt {gt.shape} and sigmas {sigmas.shape} disagree on K")
    box = None if gt_box is None else np.asarray(gt_box, dtype=np.float64)
    variances = (sigmas * 2) ** 2
    return float(_oks_against_gt(pred[None, :, :2], gt, area, box, variances)[0])


def _coco_params() -> tuple[np.ndarray, np.ndarray, list[tuple[float, float]], list[str]]:
    """pycocotools ``Params.setKpParams``: OKS thresholds, recall thresholds, area ranges and labels."""
    iou_thrs = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
    rec_thrs = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
    area_rng = [(0**2, 1e5**2), (32**2, 96**2), (96**2, 1e5**2)]
    return iou_thrs, rec_thrs, area_rng, ["all", "medium", "large"]


def _prepare_detections(detections: list[dict], img_ids: set) -> list[dict]:
    """What ``COCO.loadRes`` adds to keypoint results, without touching the caller's dicts: ``id`` =
    position + 1 and ``area`` = the box of all K keypoints (or ``bbox`` w*h when the first result
    carries a non-empty ``bbox``, as loadRes's branch order does)."""
    if not detections:
        return []
    bad = {d["image_id"] for d in detections} - img_ids
    if bad:
        raise ValueError(f"detections refer to images not in the ground truth: {sorted(bad)[:5]}")
    use_bbox = "bbox" in detections[0] and not detections[0]["bbox"] == []
    out = []
    for i, d in enumerate(detections):
        kp = np.asarray(d["keypoints"], dtype=np.float64).reshape(-1, 3)
        if use_bbox:
            bb = d["bbox"]
            area = bb[2] * bb[3]
        else:
            x, y = kp[:, 0], kp[:, 1]
            area = (np.max(x) - np.min(x)) * (np.max(y) - np.min(y))
        out.append({"id": i + 1, "image_id": d["image_id"], "category_id": d["category_id"],
                    "score": d["score"], "xy": kp[:, :2], "area": area})
    return out


def _evaluate_img(gts: list[dict], dts: list[dict], ious: np.ndarray, a_rng, max_det: int, iou_thrs):
    """pycocotools ``COCOeval.evaluateImg`` for one image, category and area range. ``dts`` are
    already sorted by score and truncated to ``max_det`` (the rows of ``ious``)."""
    if len(gts) == 0 and len(dts) == 0:
        return None
    g_ignore = [1 if (g["ignore"] or g["area"] < a_rng[0] or g["area"] > a_rng[1]) else 0 for g in gts]
    gtind = np.argsort(g_ignore, kind="mergesort")
    gt = [gts[i] for i in gtind]
    dt = dts[:max_det]
    iscrowd = [int(g["iscrowd"]) for g in gt]
    gt_ig = np.array([g_ignore[i] for i in gtind])
    ious = ious[:, gtind] if len(ious) > 0 else ious
    T, G, D = len(iou_thrs), len(gt), len(dt)
    gtm = np.zeros((T, G))
    dtm = np.zeros((T, D))
    dt_ig = np.zeros((T, D))
    if len(ious) != 0:
        ious_l = ious.tolist()
        gt_ig_l = gt_ig.tolist()
        for tind, t in enumerate(iou_thrs):
            gtm_t = gtm[tind]
            for dind, d in enumerate(dt):
                iou = min([t, 1 - 1e-10])
                m = -1
                row = ious_l[dind]
                for gind in range(G):
                    # an already matched GT is skipped unless it is a crowd region
                    if gtm_t[gind] > 0 and not iscrowd[gind]:
                        continue
                    # matched to a regular GT and reached the ignored ones: stop
                    if m > -1 and gt_ig_l[m] == 0 and gt_ig_l[gind] == 1:
                        break
                    if row[gind] < iou:
                        continue
                    iou = row[gind]
                    m = gind
                if m == -1:
                    continue
                dt_ig[tind, dind] = gt_ig_l[m]
                dtm[tind, dind] = gt[m]["id"]
                gtm_t[m] = d["id"]
    # unmatched detections outside the area range are ignored
    a = np.array([d["area"] < a_rng[0] or d["area"] > a_rng[1] for d in dt]).reshape((1, D))
    dt_ig = np.logical_or(dt_ig, np.logical_and(dtm == 0, np.repeat(a, T, 0)))
    return {"dtMatches": dtm, "dtScores": [d["score"] for d in dt], "gtIgnore": gt_ig, "dtIgnore": dt_ig}


def _accumulate(E: list[dict], max_det: int, rec_thrs: np.ndarray, T: int):
    """pycocotools ``COCOeval.accumulate`` for one (category, area range, maxDet) cell.
    Returns precision (T, R) and recall (T,), both -1 when there is no non-ignored GT."""
    R = len(rec_thrs)
    precision = -np.ones((T, R))
    recall = -np.ones(T)
    E = [e for e in E if e is not None]
    if len(E) == 0:
        return precision, recall
    dt_scores = np.concatenate([e["dtScores"][0:max_det] for e in E])
    # mergesort: stable, as the MATLAB original and pycocotools
    inds = np.argsort(-dt_scores, kind="mergesort")
    dtm = np.concatenate([e["dtMatches"][:, 0:max_det] for e in E], axis=1)[:, inds]
    dt_ig = np.concatenate([e["dtIgnore"][:, 0:max_det] for e in E], axis=1)[:, inds]
    gt_ig = np.concatenate([e["gtIgnore"] for e in E])
    npig = np.count_nonzero(gt_ig == 0)
    if npig == 0:
        return precision, recall
    tps = np.logical_and(dtm, np.logical_not(dt_ig))
    fps = np.logical_and(np.logical_not(dtm), np.logical_not(dt_ig))
    tp_sum = np.cumsum(tps, axis=1).astype(dtype=float)
    fp_sum = np.cumsum(fps, axis=1).astype(dtype=float)
    nd = tp_sum.shape[1]
    for t in range(T):
        tp, fp = tp_sum[t], fp_sum[t]
        rc = tp / npig
        pr = tp / (fp + tp + np.spacing(1))
        recall[t] = rc[-1] if nd else 0
        q = np.zeros(R)
        if nd:
            # precision envelope: running max from the right
            pr = np.maximum.accumulate(pr[::-1])[::-1]
            ri = np.searchsorted(rc, rec_thrs, side="left")
            valid = ri < nd  # ri is non-decreasing: pycocotools stops at the first out-of-range index
            q[valid] = pr[ri[valid]]
        precision[t] = q
    return precision, recall


def _evaluate_all(gts_by: dict, dts_by: dict, img_ids: list, cat_ids: list, area_rngs: list, max_dets: int,
                  similarity) -> tuple[np.ndarray, np.ndarray]:
    """pycocotools' evaluate + accumulate over every image, category and area range: per image and
    category the detections sorted by score (stable) and capped, ``similarity(gts, dts)`` (D, G) (OKS
    or IoU) matched greedily. Returns precision (T, R, C, A) and recall (T, C, A), -1 where undefined."""
    iou_thrs, rec_thrs, _, _ = _coco_params()
    T = len(iou_thrs)
    precision = -np.ones((T, len(rec_thrs), len(cat_ids), len(area_rngs)))
    recall = -np.ones((T, len(cat_ids), len(area_rngs)))
    for k, cat in enumerate(cat_ids):
        per_area: list[list] = [[] for _ in area_rngs]
        for img in img_ids:
            gts = gts_by.get((img, cat), [])
            dts = dts_by.get((img, cat), [])
            order = np.argsort([-d["score"] for d in dts], kind="mergesort")
            dts = [dts[i] for i in order][:max_dets]
            ious = similarity(gts, dts) if gts and dts else np.zeros((0, 0))
            for a, rng in enumerate(area_rngs):
                per_area[a].append(_evaluate_img(gts, dts, ious, rng, max_dets, iou_thrs))
        for a in range(len(area_rngs)):
            precision[:, :, k, a], recall[:, k, a] = _accumulate(per_area[a], max_dets, rec_thrs, T)
    return precision, recall


def oks_ap(
    gt_coco: dict,
    detections: list[dict],
    sigmas: np.ndarray = COCO_SIGMAS,
    max_dets: int = 20,
) -> dict[str, float]:
    """COCO keypoint AP / AR (PROTOCOLS.md "COCO"): a NumPy re-implementation of pycocotools'
    ``COCOeval(cocoGt, cocoGt.loadRes(detections), iouType="keypoints")`` + ``evaluate()``,
    ``accumulate()``, ``summarize()``, agreeing with it to 1e-6 (tested) without importing it.

    gt_coco: a COCO keypoints JSON dict (``images``, ``annotations`` with ``keypoints`` flat (x, y, v)*K,
        ``num_keypoints``, ``area``, ``bbox``, ``iscrowd``, ``category_id``, ``id``; ``categories``).
        Every image of ``images`` and every category of ``categories`` is evaluated.
    detections: COCO results, ``{"image_id", "category_id", "keypoints": flat (x, y, score)*K, "score"}``;
        image ids must exist in ``gt_coco``; results for other categories are dropped. As in loadRes, a
        result's area (for the area ranges) is that of the box around all K keypoints, or ``bbox`` w*h
        when the results carry a ``bbox``. Neither input is modified.
    sigmas: (K,) OKS sigmas; max_dets: detections kept per image (highest scores, stable order).

    The pycocotools details reproduced: crowd and ``num_keypoints == 0`` GTs are ignored (matchable but
    not counted), as are GTs whose ``area`` lies outside the range (inclusive bounds); unmatched
    detections outside the range are ignored; detections sorted by score with a stable mergesort;
    greedy matching at OKS .50 : .05 : .95; 101-point interpolated precision with the precision
    envelope; categories without non-ignored GT count as -1 and are left out of the means; a summary
    with nothing to average is -1.

    Returns fractions ``{"AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl"}``.
    """
    iou_thrs, _, area_rngs, area_lbls = _coco_params()
    sigmas = np.asarray(sigmas, dtype=np.float64)
    variances = (sigmas * 2) ** 2
    img_ids = sorted(set(im["id"] for im in gt_coco.get("images", [])))
    cat_ids = sorted(set(c["id"] for c in gt_coco.get("categories", [])))
    gts_by = _keypoint_ground_truth(gt_coco, set(img_ids), set(cat_ids))
    dts_by = _keypoint_detections(detections, set(img_ids), set(cat_ids), len(sigmas))

    def similarity(gts: list[dict], dts: list[dict]) -> np.ndarray:
        dt_xy = np.stack([d["xy"] for d in dts])
        ious = np.zeros((len(dts), len(gts)))
        for j, g in enumerate(gts):
            ious[:, j] = _oks_against_gt(dt_xy, g["kpts"], g["area"], g["bbox"], variances)
        return ious

    precision, recall = _evaluate_all(gts_by, dts_by, img_ids, cat_ids, area_rngs, max_dets, similarity)
    return _keypoint_summary(precision, recall, iou_thrs, area_lbls)


def _keypoint_ground_truth(gt_coco: dict, img_set: set, cat_set: set) -> dict[tuple, list[dict]]:
    """(image id, category id) -> the annotations of the evaluated images and categories; crowd and
    ``num_keypoints == 0`` ones flagged ``ignore`` (matchable, not counted)."""
    gts_by: dict[tuple, list[dict]] = defaultdict(list)
    for ann in gt_coco.get("annotations", []):
        if ann["image_id"] not in img_set or ann["category_id"] not in cat_set:
            continue
        kp = np.asarray(ann["keypoints"], dtype=np.float64).reshape(-1, 3)
        num_kp = ann["num_keypoints"] if "num_keypoints" in ann else int(np.count_nonzero(kp[:, 2] > 0))
        iscrowd = ann.get("iscrowd", 0)
        ignore = bool(iscrowd) or num_kp == 0
        gts_by[ann["image_id"], ann["category_id"]].append({
            "id": ann["id"], "kpts": kp, "area": ann["area"], "iscrowd": iscrowd, "ignore": ignore,
            "bbox": None if ann.get("bbox") is None else np.asarray(ann["bbox"], dtype=np.float64),
        })
    return gts_by


def _keypoint_detections(detections: list[dict], img_set: set, cat_set: set, num_keypoints: int
                         ) -> dict[tuple, list[dict]]:
    """(image id, category id) -> the detections of the evaluated categories, as loadRes prepares them;
    a detection with another number of keypoints than the sigmas is an error."""
    dts_by: dict[tuple, list[dict]] = defaultdict(list)
    for d in _prepare_detections(detections, img_set):
        if d["category_id"] in cat_set:
            if d["xy"].shape[0] != num_keypoints:
                raise ValueError(f"detection with {d['xy'].shape[0]} keypoints; sigmas have {num_keypoints}")
            dts_by[d["image_id"], d["category_id"]].append(d)
    return dts_by


def _keypoint_summary(precision: np.ndarray, recall: np.ndarray, iou_thrs: np.ndarray, area_lbls: list[str]
                      ) -> dict[str, float]:
    """pycocotools' ``summarize()`` for keypoints: AP / AR over all OKS thresholds, at .50 and .75, and for
    medium and large people; -1 where nothing is there to average."""

    def summarize(ap: bool, iou_thr: float | None = None, area: str = "all") -> float:
        a = area_lbls.index(area)
        s = precision if ap else recall
        if iou_thr is not None:
            s = s[np.where(iou_thr == iou_thrs)[0]]
        s = s[..., a]
        return float(np.mean(s[s > -1])) if np.any(s > -1) else -1.0

    return {
        "AP": summarize(True), "AP50": summarize(True, 0.5), "AP75": summarize(True, 0.75),
        "APm": summarize(True, area="medium"), "APl": summarize(True, area="large"),
        "AR": summarize(False), "AR50": summarize(False, 0.5), "AR75": summarize(False, 0.75),
        "ARm": summarize(False, area="medium"), "ARl": summarize(False, area="large"),
    }


def oks_ap_people(ground_truth: list[list[Any]], found: list[list[tuple[np.ndarray, float]]],
                  sigmas: np.ndarray = COCO_SIGMAS, area: Any = None) -> dict[str, float]:
    """:func:`oks_ap` of the people found in each image against each image's annotated people, without
    writing the COCO dicts by hand.

    ground_truth: per image, its :class:`~posekit.types.Person` s (keypoints (K, 3) in the frame the found
        keypoints are in); people with no labelled keypoint are dropped, crowd regions kept (ignored).
    found: per image, (keypoints (K, 3) = (x, y, score), person score) pairs.
    area: ``area(person) -> float``, the OKS area of an annotated person; default its ``area``.
    Returns :func:`oks_ap`'s summary (fractions) plus ``num_people``: the annotated people kept."""
    images, annotations, detections = [], [], []
    for image_id, (people, predictions) in enumerate(zip(ground_truth, found, strict=True)):
        images.append({"id": image_id})
        for p in people:
            labelled = int((p.keypoints[:, 2] > 0).sum())
            if not p.is_crowd and labelled == 0:
                continue
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": 1,
                                "keypoints": p.keypoints.reshape(-1).tolist(), "num_keypoints": labelled,
                                "area": float(p.area if area is None else area(p)),
                                "bbox": np.asarray(p.box).tolist(), "iscrowd": int(p.is_crowd)})
        detections += [{"image_id": image_id, "category_id": 1, "keypoints": np.asarray(kp).reshape(-1).tolist(),
                        "score": float(score)} for kp, score in predictions]
    result = oks_ap({"images": images, "annotations": annotations, "categories": [{"id": 1}]}, detections,
                    sigmas=sigmas)
    return {**result, "num_people": len(annotations)}


def box_ap(gt_coco: dict, detections: list[dict], max_dets: int = 100) -> dict[str, float]:
    """COCO box AP (PROTOCOLS.md "Person detection"): pycocotools' ``COCOeval(..., iouType="bbox")``
    re-implemented in NumPy on the same matching and accumulation code as :func:`oks_ap`.

    gt_coco: a COCO JSON dict (``images``, ``annotations`` with ``bbox`` (x, y, w, h), ``area``,
        ``iscrowd``, ``category_id``, ``id``; ``categories``); every annotation counts, with or without
        keypoints; crowd boxes are ignore regions (a detection's overlap with one is intersection over the
        detection's own area, as pycocotools' ``maskUtils.iou`` with iscrowd).
    detections: ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}``; area = w * h.
    Returns fractions ``{"AP", "AP50", "AP75", "APs", "APm", "APl", "AR"}`` (AR at ``max_dets``).
    """
    from posekit.codecs.boxes import box_iou

    iou_thrs, rec_thrs, _, _ = _coco_params()
    area_rngs = [(0**2, 1e5**2), (0**2, 32**2), (32**2, 96**2), (96**2, 1e5**2)]
    img_ids = sorted(set(im["id"] for im in gt_coco.get("images", [])))
    cat_ids = sorted(set(c["id"] for c in gt_coco.get("categories", [])))
    img_set, cat_set = set(img_ids), set(cat_ids)
    gts_by: dict[tuple, list[dict]] = defaultdict(list)
    for ann in gt_coco.get("annotations", []):
        if ann["image_id"] in img_set and ann["category_id"] in cat_set:
            crowd = int(ann.get("iscrowd", 0))
            box = np.asarray(ann["bbox"], dtype=np.float64)
            gts_by[ann["image_id"], ann["category_id"]].append({
                "id": ann["id"], "box": box, "area": ann.get("area", box[2] * box[3]), "iscrowd": crowd,
                "ignore": bool(crowd)})
    bad = {d["image_id"] for d in detections} - img_set
    if bad:
        raise ValueError(f"detections refer to images not in the ground truth: {sorted(bad)[:5]}")
    dts_by: dict[tuple, list[dict]] = defaultdict(list)
    for i, d in enumerate(detections):
        if d["category_id"] in cat_set:
            box = np.asarray(d["bbox"], dtype=np.float64)
            dts_by[d["image_id"], d["category_id"]].append(
                {"id": i + 1, "box": box, "score": d["score"], "area": box[2] * box[3]})
    def similarity(gts: list[dict], dts: list[dict]) -> np.ndarray:
        db = np.stack([d["box"] for d in dts])
        gb = np.stack([g["box"] for g in gts])
        ious = box_iou(db, gb)
        crowd = np.array([g["iscrowd"] for g in gts], dtype=bool)
        if crowd.any():  # overlap with a crowd region: intersection over the detection's area
            union = (db[:, 2] * db[:, 3])[:, None] + (gb[:, 2] * gb[:, 3])[None]
            inter = ious * union / (1 + ious)
            ious[:, crowd] = (inter / np.maximum(db[:, 2:3] * db[:, 3:4], 1e-12))[:, crowd]
        return ious

    precision, recall = _evaluate_all(gts_by, dts_by, img_ids, cat_ids, area_rngs, max_dets, similarity)

    def mean(x: np.ndarray) -> float:
        return float(np.mean(x[x > -1])) if np.any(x > -1) else -1.0

    return {"AP": mean(precision[..., 0]), "AP50": mean(precision[0, ..., 0]),
            "AP75": mean(precision[5, ..., 0]), "APs": mean(precision[..., 1]),
            "APm": mean(precision[..., 2]), "APl": mean(precision[..., 3]), "AR": mean(recall[..., 0])}
