"""Tests for posekit.metrics: hand-computed PCK / PCKh / PCP / PDJ / AUC values."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.metrics import (
    PCK_THRESHOLDS,
    auc,
    box_size,
    group_by_part,
    joint_distances,
    pck,
    pck_curve,
    pckh,
    pcp,
    pdj,
    torso_size,
)
from posekit.skeletons import LSP14, MPII16


def _people(offsets: np.ndarray, v: np.ndarray, origin=(10.0, 10.0)):
    """gt (N, K, 3) with every joint at ``origin`` and flags ``v``; pred = gt xy + offsets (N, K, 2)."""
    n, k = v.shape
    gt = np.zeros((n, k, 3))
    gt[..., 0], gt[..., 1], gt[..., 2] = origin[0], origin[1], v
    return gt[..., :2] + offsets, gt


# ------------------------------------------------------------------------------------------------
# normalisers
# ------------------------------------------------------------------------------------------------


def test_torso_and_box_size():
    gt = np.zeros((2, 14, 3))
    gt[..., 2] = 2
    gt[0, 9, :2] = (3.0, 4.0)  # left shoulder; right hip (index 2) at the origin -> 3-4-5 triangle
    gt[1, 2, 2] = 0  # right hip not labelled -> no torso size
    size = torso_size(gt, LSP14)
    assert size[0] == 5.0 and np.isnan(size[1])
    np.testing.assert_array_equal(box_size(np.array([[0, 0, 10, 30], [5, 5, 40, 20]])), [30, 40])
    dist = joint_distances(np.array([[[3.0, 4.0, 0.9]]]), np.zeros((1, 1, 3)))
    np.testing.assert_array_equal(dist, [[5.0]])


# ------------------------------------------------------------------------------------------------
# PCK, parts, PCKh
# ------------------------------------------------------------------------------------------------


def test_pck_hand_computed():
    # Two people, three joints, errors along x. norm = (10, 20), alpha = 0.2 -> thresholds 2 and 4 px.
    # person 0: errors 1, 2, 3 -> correct, correct (2 <= 2: the comparison is <=), wrong
    # person 1: errors 4, 5, 0 with joint 2 unlabelled -> correct, wrong, not counted
    offsets = np.zeros((2, 3, 2))
    offsets[0, :, 0] = (1, 2, 3)
    offsets[1, :, 0] = (4, 5, 0)
    v = np.array([[2, 1, 2], [2, 2, 0]])
    pred, gt = _people(offsets, v)
    res = pck(pred, gt, np.array([10.0, 20.0]), alpha=0.2)
    # per joint: 2/2, 1/2, 0/1; pooled mean 3 correct / 5 counted = 0.6 (per-joint mean would be 0.5)
    np.testing.assert_allclose(res["per_joint"], [1.0, 0.5, 0.0])
    assert res["mean"] == pytest.approx(0.6)
    np.testing.assert_array_equal(res["counts"], [2, 2, 1])

    # A mask replaces the labelled default: count only joint 0 -> 2/2.
    mask = np.array([[True, False, False], [True, False, False]])
    res = pck(pred, gt, np.array([10.0, 20.0]), mask=mask)
    assert res["mean"] == 1.0 and np.isnan(res["per_joint"][1])

    # A NaN prediction is a miss; a person with a NaN norm is not counted.
    pred_nan = pred.copy()
    pred_nan[0, 0] = np.nan
    res = pck(pred_nan, gt, np.array([10.0, np.nan]))
    np.testing.assert_allclose(res["per_joint"], [0.0, 1.0, 0.0])  # person 0 only: miss, hit, miss
    assert res["mean"] == pytest.approx(1 / 3)


def test_group_by_part_lsp():
    # LSP14 order: 0 r_ankle, 1 r_knee, 2 r_hip, 3 l_hip, 4 l_knee, 5 l_ankle, 6 r_wrist, 7 r_elbow,
    # 8 r_shoulder, 9 l_shoulder, 10 l_elbow, 11 l_wrist, 12 neck, 13 head_top. Value of joint i = i / 100.
    per_joint = np.arange(14) / 100.0
    parts = group_by_part(per_joint, LSP14)
    assert set(parts) == {"head", "shoulder", "elbow", "wrist", "hip", "knee", "ankle"}
    assert parts["head"] == pytest.approx(0.13)  # head_top only; the neck (0.12) is in no part
    assert parts["shoulder"] == pytest.approx((0.08 + 0.09) / 2)
    assert parts["elbow"] == pytest.approx((0.07 + 0.10) / 2)
    assert parts["wrist"] == pytest.approx((0.06 + 0.11) / 2)
    assert parts["hip"] == pytest.approx((0.02 + 0.03) / 2)
    assert parts["knee"] == pytest.approx((0.01 + 0.04) / 2)
    assert parts["ankle"] == pytest.approx((0.00 + 0.05) / 2)
    per_joint[0] = np.nan  # a side never counted is skipped, not averaged in as 0
    assert group_by_part(per_joint, LSP14)["ankle"] == pytest.approx(0.05)


def test_pckh_hand_computed():
    # MPII16, two people, head size 10 -> threshold 0.5 * 10 = 5 px. Errors are 0 except:
    #   pelvis (6) and thorax (7): 100 px for both people -> excluded, must not matter;
    #   person 0 right_wrist (10): 5 px -> correct (<=); person 1 right_wrist: 6 px -> wrong;
    #   person 1 head_top (9): 5.5 px -> wrong; person 1 left_ankle (5) unlabelled -> not counted.
    # Counted: 2 x 14 - 1 = 27 joints, 2 wrong -> mean 25 / 27.
    offsets = np.zeros((2, 16, 2))
    offsets[:, [6, 7], 0] = 100.0
    offsets[0, 10, 0] = 5.0
    offsets[1, 10, 1] = 6.0
    offsets[1, 9, 0] = 5.5
    v = np.full((2, 16), 2)
    v[1, 5] = 0
    pred, gt = _people(offsets, v)
    res = pckh(pred, gt, np.array([10.0, 10.0]))
    assert res["mean"] == pytest.approx(25 / 27)
    assert np.isnan(res["per_joint"][6]) and np.isnan(res["per_joint"][7])
    assert res["per_joint"][10] == 0.5 and res["per_joint"][9] == 0.5 and res["per_joint"][5] == 1.0
    assert res["counts"][5] == 1 and res["counts"][6] == 0
    parts = res["parts"]
    assert parts["head"] == 0.5  # HRNet's "Head" = head_top
    assert parts["wrist"] == pytest.approx((0.5 + 1.0) / 2)
    assert parts["ankle"] == 1.0 and parts["shoulder"] == 1.0
    # Same data, MPII16 is the default skeleton; alpha=0.1 is exactly 1 px (no "0.11" slip): only the
    # zero-error joints pass -> (27 - 3) / 27.
    assert pckh(pred, gt, np.array([10.0, 10.0]), alpha=0.1)["mean"] == pytest.approx(24 / 27)
    assert MPII16.joints[6] == "pelvis" and MPII16.joints[7] == "thorax"


# ------------------------------------------------------------------------------------------------
# curves, AUC, PDJ
# ------------------------------------------------------------------------------------------------


def test_pck_curve_and_auc_hand_computed():
    # One person, two joints, norm 10; errors 0.55 and 1.45 px = fractions 0.055 and 0.145.
    # On 0:0.01:0.2 the curve is 0 for t <= 0.05 (6 points), 0.5 for 0.06..0.14 (9), 1 for 0.15..0.2 (6).
    offsets = np.array([[[0.55, 0.0], [0.0, 1.45]]])
    pred, gt = _people(offsets, np.array([[2, 2]]))
    curve = pck_curve(pred, gt, np.array([10.0]))
    np.testing.assert_allclose(curve, [0.0] * 6 + [0.5] * 9 + [1.0] * 6)
    assert len(PCK_THRESHOLDS) == 21 and PCK_THRESHOLDS[7] == 0.07
    # Trapezoids (width 0.01): 0.05->0.06 avg 0.25, 0.06->0.14 avg 0.5 (8 of them), 0.14->0.15 avg 0.75,
    # 0.15->0.2 avg 1 (5): area = 0.0025 + 0.04 + 0.0075 + 0.05 = 0.1; / range 0.2 -> 0.5.
    assert auc(PCK_THRESHOLDS, curve) == pytest.approx(0.5)
    # thresholds 0, 1, 2; values 0, 1, 1: area 0.5 + 1 = 1.5, range 2 -> 0.75
    assert auc(np.array([0.0, 1.0, 2.0]), np.array([0.0, 1.0, 1.0])) == pytest.approx(0.75)
    assert auc(np.array([0.0, 0.5]), np.array([1.0, 1.0])) == pytest.approx(1.0)


def test_pdj_hand_computed():
    # Same person as above: joint 0 detected from fraction 0.06 on, joint 1 from 0.15 on.
    offsets = np.array([[[0.55, 0.0], [0.0, 1.45]]])
    pred, gt = _people(offsets, np.array([[2, 2]]))
    res = pdj(pred, gt, np.array([10.0]))
    t = res["thresholds"]
    assert len(t) == 51 and t[0] == 0.0 and t[-1] == 0.5
    np.testing.assert_array_equal(res["per_joint"][:, 0], (t >= 0.06).astype(float))
    np.testing.assert_array_equal(res["per_joint"][:, 1], (t >= 0.15).astype(float))
    assert res["mean"][10] == 0.5 and res["mean"][-1] == 1.0 and res["mean"][5] == 0.0


# ------------------------------------------------------------------------------------------------
# PCP
# ------------------------------------------------------------------------------------------------

# LSP14 ground-truth pose (x, y), chosen so stick lengths are round numbers.
_LSP_POSE = np.array([
    (0, 0), (0, 10), (0, 30), (20, 30), (20, 10), (20, 0),  # r_ankle r_knee r_hip l_hip l_knee l_ankle
    (-20, 60), (-10, 60), (0, 60), (20, 60), (30, 60), (40, 60),  # r_wri r_elb r_sho l_sho l_elb l_wri
    (10, 65), (10, 80),  # neck, head_top
], dtype=float)


def test_pcp_hand_computed():
    gt = np.zeros((2, 14, 3))
    gt[:, :, :2] = _LSP_POSE
    gt[:, :, 2] = 2
    gt[1, 11, 2] = 0  # person 1: left wrist unlabelled -> its left_lower_arm does not count
    pred = gt[..., :2].copy()
    # person 0, right_lower_leg (ankle (0,0) - knee (0,10), L = 10, 0.5 L = 5): ankle error 4, knee error 6
    #   strict: 6 > 5 -> wrong; loose: (4 + 6) / 2 = 5 <= 5 -> correct.
    #   right_upper_leg (knee - hip, L = 20, 0.5 L = 10): errors 6, 0 -> correct either way.
    pred[0, 0, 0] += 4
    pred[0, 1, 0] += 6
    # person 0, left_lower_arm (elbow (30,60) - wrist (40,60), L = 10): wrist error 12 -> strict wrong,
    #   loose (0 + 12) / 2 = 6 > 5 -> wrong.
    pred[0, 11, 1] += 12
    strict = pcp(pred, gt, LSP14, strict=True)
    loose = pcp(pred, gt, LSP14, strict=False)
    # counted sticks: 10 + 9 = 19. strict: 2 wrong -> 17/19; loose: 1 wrong -> 18/19
    assert strict["mean"] == pytest.approx(17 / 19)
    assert loose["mean"] == pytest.approx(18 / 19)
    assert strict["per_limb"]["right_lower_leg"] == 0.5 and loose["per_limb"]["right_lower_leg"] == 1.0
    assert strict["per_limb"]["left_lower_arm"] == 0.0 and strict["counts"]["left_lower_arm"] == 1
    assert strict["per_limb"]["right_upper_leg"] == 1.0 and strict["per_limb"]["torso"] == 1.0


def test_pcp_torso_uses_midpoints():
    # Torso stick: mid-hips (10, 30) to mid-shoulders (10, 60), L = 30 -> 15 px allowed per end.
    gt = np.zeros((1, 14, 3))
    gt[0, :, :2] = _LSP_POSE
    gt[0, :, 2] = 2
    pred = gt[..., :2].copy()
    pred[0, 3, 0] += 28  # left hip 28 px off (> 15), but the mid-hip end moves 14 px -> torso correct
    assert pcp(pred, gt, LSP14)["per_limb"]["torso"] == 1.0
    pred[0, 2, 0] += 4  # now both hips move: mid-hip error (28 + 4) / 2 = 16 > 15 -> wrong
    assert pcp(pred, gt, LSP14)["per_limb"]["torso"] == 0.0


# ------------------------------------------------------------------------------------------------
# OKS
# ------------------------------------------------------------------------------------------------
