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

Protocols implemented: LSP PCK@0.2 (torso), PCP and PDJ; MPII PCKh@0.5; JHMDB PCK (box or torso); the
area under a PCK curve. COCO's OKS, OKS-AP and box AP are in :mod:`posekit.coco_eval`.
"""

from __future__ import annotations

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



__all__ = [
    "LSP_HEAD", "PART_GROUPS", "PCKH_EXCLUDED", "PCK_THRESHOLDS", "PDJ_THRESHOLDS",
    "auc", "box_size", "group_by_part", "joint_distances", "pck", "pck_curve", "pckh",
    "pcp", "pdj", "torso_size",
]
