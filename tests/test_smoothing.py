"""The One-Euro filter (posekit.smoothing): jitter removed from a still joint, a step followed, unsure joints held."""

from __future__ import annotations

import numpy as np

from posekit.smoothing import OneEuroFilter, OneEuroSettings


def _frames(xy: np.ndarray, score: float = 0.9) -> np.ndarray:
    return np.concatenate([xy, np.full((len(xy), 1), score)], axis=1)


def test_jitter_of_a_still_joint_is_reduced():
    rng = np.random.default_rng(0)
    f = OneEuroFilter()
    raw, out = [], []
    for i in range(100):
        kp = _frames(np.array([[100.0, 200.0]]) + rng.normal(0, 2.0, (1, 2)))
        raw.append(kp[0, :2])
        out.append(f(kp, i / 25, scale=100)[0, :2])
    jitter = lambda a: np.linalg.norm(np.diff(np.array(a), axis=0), axis=1).mean()  # noqa: E731
    assert jitter(out) < 0.5 * jitter(raw)


def test_a_step_is_followed():
    f = OneEuroFilter(OneEuroSettings(min_cutoff=1.0, beta=1.5))
    for i in range(10):
        f(_frames(np.array([[0.0, 0.0]])), i / 25, scale=100)
    after = [f(_frames(np.array([[50.0, 0.0]])), (10 + i) / 25, scale=100)[0, 0] for i in range(15)]
    assert 0 < after[0] < 50 and after[-1] > 47  # smoothed, then there within ~0.6 s
    assert all(b >= a for a, b in zip(after, after[1:]))  # no overshoot back and forth


def test_unsure_joints_do_not_drag_the_filter_and_move_with_the_person():
    f = OneEuroFilter(OneEuroSettings(min_score=0.3))
    f(_frames(np.array([[10.0, 10.0], [20.0, 20.0]])), 0.0)
    kp = np.array([[300.0, 300.0, 0.1], [20.0, 20.0, 0.9]])  # joint 0 unsure and far off
    out = f(kp, 0.04, shift=np.array([2.0, 0.0]))
    np.testing.assert_allclose(out[0, :2], [12.0, 10.0])  # held, carried with the person
    assert out[0, 2] == 0.1  # the raw score is kept
