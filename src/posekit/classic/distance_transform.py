"""Generalized distance transform of sampled functions for quadratic costs (Felzenszwalb & Huttenlocher,
"Distance Transforms of Sampled Functions", 2004/2012), in the max-product (score) form pictorial
structures use.

1D: for scores ``s`` (n,) on the integer grid q = 0..n-1, a spring weight ``a > 0`` and a real shift
``mu``, every output location p = 0..n-1 gets

    D(p) = max_q  s(q) - a * (q - (p + mu))**2,      arg(p) = the maximising q,

computed by the lower-envelope algorithm: the parabolas rooted at each q are swept once to build their
upper envelope, which is then read at the (monotone) points p + mu -- O(n), not O(n^2). The shift lets
the spring's rest offset ``mu`` be any real number (a child expected at parent + mu), with no rounding.

2D is separable: first along x (every row), then along y (every column); the arg-location of the 2D
maximum is read back through both passes.

Many independent transforms of the same length are run *in lockstep* (one NumPy operation per step of
the sweep for all rows at once), since per-element Python would dominate the cost; each row keeps its
own envelope, so the work stays linear in the number of locations.

Scores must be finite (use a large negative number, not -inf, for "impossible" locations). The paper's
min form (costs f, D(p) = min_q f(q) + a (p + mu - q)^2) is ``-dt1d(-f, a, mu)[0]`` with the same args.
"""

from __future__ import annotations

import numpy as np


def dt1d(scores: np.ndarray, weight: np.ndarray | float, shift: np.ndarray | float = 0.0
         ) -> tuple[np.ndarray, np.ndarray]:
    """Max-form 1D distance transform of every row of ``scores`` (R, n).

    weight: (R,) or scalar, a > 0, the spring's quadratic weight per row.
    shift: (R,) or scalar, the real offset mu: output p is compared with q at p + mu.
    Returns (values (R, n) float64, args (R, n) int64) with values[r, p] = max_q scores[r, q] -
    weight[r] * (q - (p + shift[r]))**2 and args[r, p] the maximising q (on ties, one of them).
    """
    f = -np.asarray(scores, dtype=np.float64)  # the envelope is built in the min form of the paper
    if f.ndim != 2:
        raise ValueError(f"scores must be (R, n), got {f.shape}")
    r, n = f.shape
    a = np.broadcast_to(np.asarray(weight, dtype=np.float64), (r,)).copy()
    mu = np.broadcast_to(np.asarray(shift, dtype=np.float64), (r,))
    if np.any(a <= 0) or not np.all(np.isfinite(f)):
        raise ValueError("weights must be > 0 and scores finite")
    rows = np.arange(r)
    q_all = np.arange(n, dtype=np.float64)
    # parabola rooted at q: f(q) + a (x - q)^2 = a x^2 - 2 a q x + (f(q) + a q^2); intersections of two
    # roots v < q lie at x = ((f(q) + a q^2) - (f(v) + a v^2)) / (2 a (q - v))
    lifted = f + a[:, None] * q_all[None, :] ** 2
    v = np.zeros((r, n), dtype=np.int64)  # roots of the envelope's parabolas, left to right
    z = np.empty((r, n + 1))  # z[k] .. z[k+1]: where parabola k of the envelope is the lowest
    z[:, 0] = -np.inf
    z[:, 1] = np.inf
    k = np.zeros(r, dtype=np.int64)
    for q in range(1, n):
        vk = v[rows, k]
        s = (lifted[:, q] - lifted[rows, vk]) / (2.0 * a * (q - vk))
        pop = s <= z[rows, k]
        while pop.any():  # the new parabola hides the envelope's last one: drop it (z[0] = -inf stops this)
            idx = rows[pop]
            k[idx] -= 1
            vk = v[idx, k[idx]]
            s[idx] = (lifted[idx, q] - lifted[idx, vk]) / (2.0 * a[idx] * (q - vk))
            pop[idx] = s[idx] <= z[idx, k[idx]]
        k += 1
        v[rows, k] = q
        z[rows, k] = s
        z[rows, k + 1] = np.inf
    # read the envelope at x = p + mu, increasing with p, so one forward sweep over it suffices
    args = np.empty((r, n), dtype=np.int64)
    k[:] = 0
    for p in range(n):
        x = p + mu
        ahead = z[rows, k + 1] < x
        while ahead.any():
            idx = rows[ahead]
            k[idx] += 1
            ahead[idx] = z[idx, k[idx] + 1] < x[idx]
        args[:, p] = v[rows, k]
    x = np.arange(n, dtype=np.float64)[None, :] + mu[:, None]
    values = np.take_along_axis(-f, args, axis=1) - a[:, None] * (args - x) ** 2
    return values, args


def dt2d(scores: np.ndarray, weight_x: np.ndarray | float, weight_y: np.ndarray | float,
         shift_x: np.ndarray | float = 0.0, shift_y: np.ndarray | float = 0.0
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Max-form 2D distance transform of each of ``scores`` (B, H, W) (x = column, y = row):

        D[b, py, px] = max_{qy, qx} scores[b, qy, qx] - wx[b] (qx - px - mux[b])^2 - wy[b] (qy - py - muy[b])^2

    weights / shifts: (B,) or scalars. Returns (values (B, H, W), arg_x (B, H, W), arg_y (B, H, W)):
    the maximising (qx, qy) of every output location. Linear in B * H * W.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 3:
        raise ValueError(f"scores must be (B, H, W), got {s.shape}")
    b, h, w = s.shape
    wx = np.broadcast_to(np.asarray(weight_x, dtype=np.float64), (b,))
    wy = np.broadcast_to(np.asarray(weight_y, dtype=np.float64), (b,))
    mx = np.broadcast_to(np.asarray(shift_x, dtype=np.float64), (b,))
    my = np.broadcast_to(np.asarray(shift_y, dtype=np.float64), (b,))
    # pass 1, along x: T[b, qy, px] = max_qx s[b, qy, qx] - wx (qx - px - mux)^2
    t, ax = dt1d(s.reshape(b * h, w), np.repeat(wx, h), np.repeat(mx, h))
    t, ax = t.reshape(b, h, w), ax.reshape(b, h, w)
    # pass 2, along y on the columns of T
    cols = t.transpose(0, 2, 1).reshape(b * w, h)
    d, ay = dt1d(cols, np.repeat(wy, w), np.repeat(my, w))
    d = d.reshape(b, w, h).transpose(0, 2, 1)
    ay = ay.reshape(b, w, h).transpose(0, 2, 1)
    # the x of the maximum is pass 1's arg in the row pass 2 chose
    arg_x = np.take_along_axis(ax, ay, axis=1)
    return d, arg_x, ay
