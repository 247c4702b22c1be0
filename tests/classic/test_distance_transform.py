import numpy as np
import pytest

from posekit.classic.distance_transform import dt1d, dt2d


def brute_1d(s, a, mu):
    n = len(s)
    q = np.arange(n)
    vals = np.empty(n)
    for p in range(n):
        x = p + mu
        vals[p] = (s - a * (q - x) ** 2).max()
    return vals


@pytest.mark.parametrize("seed", range(5))
def test_dt1d_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    r, n = 7, 11
    s = rng.normal(size=(r, n)) * rng.uniform(0.1, 5)
    a = rng.uniform(0.05, 3.0, size=r)
    mu = rng.uniform(-4, 4, size=r)
    vals, args = dt1d(s, a, mu)
    for i in range(r):
        expect = brute_1d(s[i], a[i], mu[i])
        np.testing.assert_array_equal(vals[i], expect)
        # the arg-location attains the value
        x = np.arange(n) + mu[i]
        np.testing.assert_array_equal(s[i, args[i]] - a[i] * (args[i] - x) ** 2, expect)


@pytest.mark.parametrize("seed", range(5))
def test_dt2d_matches_brute_force(seed):
    rng = np.random.default_rng(100 + seed)
    b, h, w = 3, 5, 6
    s = rng.normal(size=(b, h, w)) * 3
    wx, wy = rng.uniform(0.05, 2, b), rng.uniform(0.05, 2, b)
    mx, my = rng.uniform(-3, 3, b), rng.uniform(-3, 3, b)
    vals, ax, ay = dt2d(s, wx, wy, mx, my)
    qy, qx = np.mgrid[0:h, 0:w]
    for i in range(b):
        for py in range(h):
            for px in range(w):
                cand = (s[i] - wx[i] * (qx - (px + mx[i])) ** 2) - wy[i] * (qy - (py + my[i])) ** 2
                best = cand.max()
                assert vals[i, py, px] == pytest.approx(best, abs=1e-12)
                assert cand[ay[i, py, px], ax[i, py, px]] == pytest.approx(best, abs=1e-12)


def test_dt1d_is_plain_max_for_a_steep_spring():
    s = np.array([[0.0, 5.0, 1.0, 2.0]])
    vals, args = dt1d(s, 1e6, 0.0)
    np.testing.assert_array_equal(args[0], [0, 1, 2, 3])
    np.testing.assert_allclose(vals[0], s[0])


def test_dt_rejects_bad_input():
    with pytest.raises(ValueError):
        dt1d(np.array([[0.0, -np.inf]]), 1.0)
    with pytest.raises(ValueError):
        dt1d(np.zeros((1, 3)), 0.0)
