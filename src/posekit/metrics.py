"""Pose-estimation metrics as plain NumPy functions, computed the way ``PROTOCOLS.md`` prescribes.

Conventions shared by every function here (see also :mod:`posekit.types`):

* ``gt`` is ground truth of shape (N, K, 3), (x, y, v) in image pixels with the COCO visibility
  convention (v = 0 not labelled, v > 0 labelled; occluded joints are labelled too).
* ``pred`` is (N, K, 2) or (N, K, 3) (the third column, a confidence, is ignored); row n of ``pred`` is
  the prediction for person n of ``gt`` (single-person, already matched). A NaN prediction counts as
  a miss, never as "not counted".
* Which joints count: by default every labelled joint (v > 0): LSP labels all test joints, occluded
  included, and MPII's reference code counts every joint that is not missing. A ``mask`` (N, K) bool
  replaces that default.
* A joint is correct when its error <= threshold (``<=``, as the LSP / HRNet reference code does),
  with thresholds used exactly as given (no HRNet "0.11 for 0.1" slip).
* Means are *pooled*: correct joints / counted joints over all people and joints (the HRNet / MPII
  "weighted by visible counts" mean), not the mean of the per-joint fractions. Fractions are in [0, 1];
  NaN where nothing was counted.

Protocols implemented: LSP PCK@0.2 (torso), PCP and PDJ; MPII PCKh@0.5; JHMDB PCK (box or torso);
COCO OKS and OKS-AP (a NumPy re-implementation of pycocotools' ``COCOeval(iouType="keypoints")``).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from posekit.skeletons import MPII16, Skeleton

#: Default PCK curve thresholds, 0 : 0.01 : 0.2 (PROTOCOLS.md, LSP). Rounded so that each value is the
#: double nearest the decimal (0.07, not 0.07000000000000001).
PCK_THRESHOLDS = np.round(np.arange(0.0, 0.2 + 1e-9, 0.01), 10)
#: Default PDJ thresholds, 0 : 0.01 : 0.5 (PROTOCOLS.md, LSP; Toshev & Szegedy 2014).
PDJ_THRESHOLDS = np.round(np.arange(0.0, 0.5 + 1e-9, 0.01), 10)

#: Joint names grouped into the per-part columns of the LSP / MPII tables (left and right averaged).
#: "head" is head_top where the skeleton has it (LSP, MPII: the HRNet convention), JHMDB's "head", and
#: for face-keypoint skeletons (COCO, H3D) the face points. Neck-like joints (neck, upper_neck, thorax,
#: pelvis, belly) belong to no group.
PART_GROUPS: dict[str, tuple[str, ...]] = {
    "head": ("head_top", "head", "nose", "left_eye", "right_eye", "left_ear", "right_ear", "back_head"),
    "shoulder": ("left_shoulder", "right_shoulder"),
    "elbow": ("left_elbow", "right_elbow"),
    "wrist": ("left_wrist", "right_wrist"),
    "hip": ("left_hip", "right_hip"),
    "knee": ("left_knee", "right_knee"),
    "ankle": ("left_ankle", "right_ankle"),
}


# --------------------------------------------------------------------------------------------------
# Normalisers and distances
# --------------------------------------------------------------------------------------------------


def torso_size(gt: np.ndarray, skeleton: Skeleton) -> np.ndarray:
    """Torso size per person, the PCK / PDJ normaliser of the LSP protocol (PROTOCOLS.md "LSP":
    ``|| joint 10 (L shoulder) - joint 3 (R hip) ||`` of the ground truth, Sapp & Taskar 2013, MPII's
    ``eval_pck.m``), generalised to ``skeleton.torso = (i, j)``.

    gt: (N, K, 3) ground truth. Returns (N,) float64; NaN where either torso joint is not labelled
    (such people are then left out of PCK / PDJ rather than scored against a meaningless size).
    """
    gt = np.asarray(gt, dtype=np.float64)
    i, j = skeleton.torso
    size = np.linalg.norm(gt[:, i, :2] - gt[:, j, :2], axis=-1)
    labelled = (gt[:, i, 2] > 0) & (gt[:, j, 2] > 0)
    return np.where(labelled, size, np.nan)


def box_size(boxes: np.ndarray) -> np.ndarray:
    """Box-normalised PCK size (PROTOCOLS.md "JHMDB"): ``max(w, h)`` of the ground-truth person box.

    boxes: (N, 4) (x, y, w, h) in pixels. Returns (N,) float64.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.maximum(boxes[:, 2], boxes[:, 3])


def joint_distances(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Euclidean error of every joint in pixels.

    pred: (N, K, 2|3); gt: (N, K, 2|3) (only x, y are read). Returns (N, K) float64 (NaN where the
    prediction is NaN). The visibility flag is not applied here; callers choose which joints count.
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape[:-1] != gt.shape[:-1]:
        raise ValueError(f"pred {pred.shape} and gt {gt.shape} disagree on (N, K)")
    return np.linalg.norm(pred[..., :2] - gt[..., :2], axis=-1)


def _counted(gt: np.ndarray, norm: np.ndarray | None, mask: np.ndarray | None) -> np.ndarray:
    """(N, K) bool: joints that count (mask, default v > 0), minus people whose norm is not finite."""
    gt = np.asarray(gt)
    counted = gt[..., 2] > 0 if mask is None else np.asarray(mask, dtype=bool)
    if counted.shape != gt.shape[:2]:
        raise ValueError(f"mask {counted.shape} does not match gt (N, K) = {gt.shape[:2]}")
    if norm is not None:
        counted = counted & np.isfinite(norm)[:, None]
    return counted


def _rates(dist: np.ndarray, norm: np.ndarray, thresholds: np.ndarray, counted: np.ndarray):
    """Per-joint and pooled detection rates at each threshold.

    dist (N, K), norm (N,), thresholds (T,), counted (N, K). Returns per_joint (T, K) (NaN where a joint
    is never counted), pooled (T,) (NaN when nothing counts), counts (K,).
    """
    with np.errstate(invalid="ignore"):
        # (T, N, K): correct when error <= alpha * norm; NaN errors compare False (a miss).
        correct = dist[None] <= thresholds[:, None, None] * norm[None, :, None]
    correct &= counted[None]
    counts = counted.sum(axis=0)
    hits = correct.sum(axis=1).astype(np.float64)  # (T, K)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_joint = np.where(counts > 0, hits / counts, np.nan)
        total = counts.sum()
        pooled = hits.sum(axis=1) / total if total > 0 else np.full(len(thresholds), np.nan)
    return per_joint, pooled, counts


def _norm(norm: np.ndarray | float, n: int) -> np.ndarray:
    norm = np.asarray(norm, dtype=np.float64)
    return np.broadcast_to(norm, (n,)) if norm.ndim == 0 else norm.reshape(n)


# --------------------------------------------------------------------------------------------------
# PCK family
# --------------------------------------------------------------------------------------------------


def pck(
    pred: np.ndarray,
    gt: np.ndarray,
    norm: np.ndarray,
    alpha: float = 0.2,
    mask: np.ndarray | None = None,
) -> dict[str, Any]:
    """Percentage of Correct Keypoints (PROTOCOLS.md "LSP": PCK@0.2 with ``norm = torso_size``;
    "JHMDB": with ``norm = torso_size`` or ``box_size``; MPII's ``eval_pck.m``).

    A counted joint is correct when ``||pred - gt|| <= alpha * norm`` (``<=``).

    pred: (N, K, 2|3); gt: (N, K, 3); norm: (N,) pixels per person (a scalar is broadcast); people with
    a non-finite norm are not counted. mask: optional (N, K) bool of the joints that count (default:
    labelled, v > 0 — for LSP every test joint, occluded included).

    Returns ``{"per_joint": (K,) fractions (NaN where no joint counted), "mean": pooled fraction over
    every counted joint of every person (not the mean of per_joint), "counts": (K,) counted joints}``.
    """
    gt = np.asarray(gt, dtype=np.float64)
    norm = _norm(norm, gt.shape[0])
    counted = _counted(gt, norm, mask)
    per_joint, pooled, counts = _rates(joint_distances(pred, gt), norm, np.array([alpha], float), counted)
    return {"per_joint": per_joint[0], "mean": float(pooled[0]), "counts": counts}


#: The LSP reference ``eval_pck.m`` pairs neck with head top, so its "Head" column is their mean
#: (PROTOCOLS.md "LSP per-part table"); pass as ``head`` to :func:`group_by_part` for LSP tables.
LSP_HEAD = ("neck", "head_top")


def group_by_part(per_joint: np.ndarray, skeleton: Skeleton, head: tuple[str, ...] | None = None
                  ) -> dict[str, float | np.ndarray]:
    """Fold per-joint scores into the per-part columns of the LSP / MPII tables (PROTOCOLS.md "LSP":
    head, shoulder, elbow, wrist, hip, knee, ankle).

    Each part is the plain mean of its joints' scores (left and right averaged; NaN joints skipped);
    which joints form each part is :data:`PART_GROUPS` ("head" = head_top for LSP / MPII; the neck,
    upper neck, thorax and pelvis belong to no part, although a pooled mean may include them).
    ``head`` replaces the joints of the "head" part (:data:`LSP_HEAD` for the LSP table's convention).
    per_joint: (..., K). Returns ``{part: (...) value}`` (floats for a (K,) input), NaN for a part
    the skeleton lacks.
    """
    per_joint = np.asarray(per_joint, dtype=np.float64)
    if per_joint.shape[-1] != skeleton.num_joints:
        raise ValueError(
            f"per_joint has {per_joint.shape[-1]} joints; skeleton {skeleton.name} has {skeleton.num_joints}"
        )
    out: dict[str, float | np.ndarray] = {}
    for part, names in PART_GROUPS.items():
        if part == "head" and head is not None:
            names = head
        idx = [skeleton.joints.index(n) for n in names if n in skeleton.joints]
        vals = per_joint[..., idx]
        finite = np.isfinite(vals)
        with np.errstate(invalid="ignore"):
            v = np.where(finite, vals, 0.0).sum(axis=-1) / finite.sum(axis=-1)
        out[part] = float(v) if np.ndim(v) == 0 else v
    return out


#: Joints MPII's PCKh leaves out (PROTOCOLS.md "MPII"; HRNet ``mpii.py`` masks indices 6 and 7).
PCKH_EXCLUDED = ("pelvis", "thorax")


def pckh(
    pred: np.ndarray,
    gt: np.ndarray,
    head_sizes: np.ndarray,
    alpha: float = 0.5,
    skeleton: Skeleton = MPII16,
    mask: np.ndarray | None = None,
) -> dict[str, Any]:
    """MPII PCKh (PROTOCOLS.md "MPII"; the HRNet ``MPIIDataset.evaluate`` reading, with ``<=`` and the
    exact threshold ``alpha``).

    A counted joint is correct when its error <= ``alpha * head_size``. ``head_sizes`` (N,) are the
    per-person normalisers from the data (``Person.head_size`` = 0.6 x head-box diagonal, SC_BIAS).
    Pelvis and thorax are excluded; the mean is pooled over the remaining joints (14 for MPII16,
    upper neck included) weighted by their counted ("visible" = labelled) numbers.
    pred: (N, K, 2|3); gt: (N, K, 3); mask: optional (N, K) bool (default v > 0).

    Returns ``{"per_joint": (K,) (NaN for the excluded joints), "mean": float, "counts": (K,),
    "parts": group_by_part(...)}`` where parts["head"] is head_top (HRNet's "Head").
    """
    gt = np.asarray(gt, dtype=np.float64)
    keep = np.array([n not in PCKH_EXCLUDED for n in skeleton.joints])
    base = _counted(gt, None, mask)
    res = pck(pred, gt, head_sizes, alpha=alpha, mask=base & keep[None, :])
    res["per_joint"] = np.where(keep, res["per_joint"], np.nan)
    res["parts"] = group_by_part(res["per_joint"], skeleton)
    return res


def pck_curve(
    pred: np.ndarray,
    gt: np.ndarray,
    norm: np.ndarray,
    thresholds: np.ndarray = PCK_THRESHOLDS,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Pooled PCK at each threshold (PROTOCOLS.md "LSP": curve over 0 : 0.01 : 0.2 of the torso).

    pred: (N, K, 2|3); gt: (N, K, 3); norm: (N,); thresholds: (T,) fractions of ``norm``.
    Returns (T,) pooled PCK (same counting rules as :func:`pck`).
    """
    gt = np.asarray(gt, dtype=np.float64)
    norm = _norm(norm, gt.shape[0])
    thresholds = np.asarray(thresholds, dtype=np.float64)
    _, pooled, _ = _rates(joint_distances(pred, gt), norm, thresholds, _counted(gt, norm, mask))
    return pooled


def auc(thresholds: np.ndarray, values: np.ndarray) -> float:
    """Area under a PCK / PDJ curve, normalised by the threshold range (PROTOCOLS.md "LSP"; MPII's
    ``area_under_curve(scale01(range), pck)``): trapezoid rule over ``thresholds`` divided by
    ``thresholds[-1] - thresholds[0]``, so a curve of fractions gives a value in [0, 1].

    thresholds: (T,) increasing, T >= 2; values: (T,) (or (..., T), integrated over the last axis).
    """
    t = np.asarray(thresholds, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if t.ndim != 1 or t.size < 2 or v.shape[-1] != t.size:
        raise ValueError("auc needs T >= 2 thresholds and values with T entries on the last axis")
    area = (0.5 * (v[..., 1:] + v[..., :-1]) * np.diff(t)).sum(axis=-1)
    out = area / (t[-1] - t[0])
    return float(out) if np.ndim(out) == 0 else out


def pdj(
    pred: np.ndarray,
    gt: np.ndarray,
    norm: np.ndarray,
    thresholds: np.ndarray = PDJ_THRESHOLDS,
    mask: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Percent of Detected Joints (Toshev & Szegedy 2014, DeepPose; PROTOCOLS.md "LSP"): a joint is
    detected when its error <= fraction x torso diameter; ``norm`` is that diameter
    (:func:`torso_size`, the same reference as PCK), fractions 0 : 0.01 : 0.5 by default.

    pred: (N, K, 2|3); gt: (N, K, 3); norm: (N,); thresholds: (T,).
    Returns ``{"thresholds": (T,), "per_joint": (T, K), "mean": (T,) pooled}``.
    """
    gt = np.asarray(gt, dtype=np.float64)
    norm = _norm(norm, gt.shape[0])
    thresholds = np.asarray(thresholds, dtype=np.float64)
    per_joint, pooled, _ = _rates(joint_distances(pred, gt), norm, thresholds, _counted(gt, norm, mask))
    return {"thresholds": thresholds, "per_joint": per_joint, "mean": pooled}


# --------------------------------------------------------------------------------------------------
# PCP
# --------------------------------------------------------------------------------------------------


def pcp(
    pred: np.ndarray,
    gt: np.ndarray,
    skeleton: Skeleton,
    strict: bool = True,
    alpha: float = 0.5,
    mask: np.ndarray | None = None,
) -> dict[str, Any]:
    """Percentage of Correct Parts (PROTOCOLS.md "LSP"; Ferrari et al. 2008, strict form of
    Pishchulin et al.).

    Sticks come from ``skeleton.pcp_limbs``; each end is the mean of the listed joints (a joint, or a
    midpoint such as mid-hips), in prediction and ground truth alike. With L the ground-truth stick
    length and e1, e2 the end-point errors: strict — correct when e1 <= alpha*L and e2 <= alpha*L;
    loose — correct when (e1 + e2) / 2 <= alpha*L. alpha = 0.5.
    A stick counts only when every joint of both ends counts (``mask``, default labelled v > 0).

    pred: (N, K, 2|3); gt: (N, K, 3). Returns ``{"per_limb": {name: fraction (NaN if never counted)},
    "mean": pooled fraction over all counted sticks, "counts": {name: int}}``.
    """
    if not skeleton.pcp_limbs:
        raise ValueError(f"skeleton {skeleton.name} defines no PCP limbs")
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    counted = _counted(gt, None, mask)
    per_limb: dict[str, float] = {}
    counts: dict[str, int] = {}
    hits_all = 0
    n_all = 0
    for name, (end_a, end_b) in skeleton.pcp_limbs.items():
        ia, ib = list(end_a), list(end_b)
        pa, pb = pred[:, ia, :2].mean(axis=1), pred[:, ib, :2].mean(axis=1)
        ga, gb = gt[:, ia, :2].mean(axis=1), gt[:, ib, :2].mean(axis=1)
        length = np.linalg.norm(ga - gb, axis=-1)
        ea = np.linalg.norm(pa - ga, axis=-1)
        eb = np.linalg.norm(pb - gb, axis=-1)
        with np.errstate(invalid="ignore"):
            if strict:
                ok = (ea <= alpha * length) & (eb <= alpha * length)
            else:
                ok = 0.5 * (ea + eb) <= alpha * length
        valid = counted[:, ia + ib].all(axis=1)
        n = int(valid.sum())
        h = int((ok & valid).sum())
        counts[name] = n
        per_limb[name] = h / n if n else float("nan")
        hits_all += h
        n_all += n
    return {"per_limb": per_limb, "mean": hits_all / n_all if n_all else float("nan"), "counts": counts}


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
    iou_thrs, rec_thrs, area_rngs, area_lbls = _coco_params()
    sigmas = np.asarray(sigmas, dtype=np.float64)
    variances = (sigmas * 2) ** 2
    K = len(sigmas)
    img_ids = sorted(set(im["id"] for im in gt_coco.get("images", [])))
    cat_ids = sorted(set(c["id"] for c in gt_coco.get("categories", [])))
    img_set, cat_set = set(img_ids), set(cat_ids)

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
    dts_by: dict[tuple, list[dict]] = defaultdict(list)
    for d in _prepare_detections(detections, img_set):
        if d["category_id"] in cat_set:
            if d["xy"].shape[0] != K:
                raise ValueError(f"detection with {d['xy'].shape[0]} keypoints; sigmas have {K}")
            dts_by[d["image_id"], d["category_id"]].append(d)

    def similarity(gts: list[dict], dts: list[dict]) -> np.ndarray:
        dt_xy = np.stack([d["xy"] for d in dts])
        ious = np.zeros((len(dts), len(gts)))
        for j, g in enumerate(gts):
            ious[:, j] = _oks_against_gt(dt_xy, g["kpts"], g["area"], g["bbox"], variances)
        return ious

    precision, recall = _evaluate_all(gts_by, dts_by, img_ids, cat_ids, area_rngs, max_dets, similarity)

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


__all__ = [
    "COCO_SIGMAS", "LSP_HEAD", "PART_GROUPS", "PCKH_EXCLUDED", "PCK_THRESHOLDS", "PDJ_THRESHOLDS",
    "auc", "box_ap", "box_size", "group_by_part", "joint_distances", "oks", "oks_ap", "pck", "pck_curve", "pckh",
    "pcp", "pdj", "torso_size",
]
