"""Pictorial structures: a tree of parts with quadratic springs, and its exact MAP by dynamic programming.

A configuration puts part i at grid cell L_i = (x_i, y_i). Its score is

    S(L) = sum_i u_i(L_i) - sum_{(p, c) edges} [ wx_pc (x_c - x_p - mx_pc)^2 + wy_pc (y_c - y_p - my_pc)^2 ]

with unaries u_i (K, H, W) and, per edge parent p -> child c, the spring's rest offset (mx, my) (cells, a
real number) and per-axis weights (wx, wy) > 0: the log of an axis-aligned Gaussian over the child's
offset from its parent (Felzenszwalb & Huttenlocher 2005). On a tree the maximum is exact: messages
from the leaves to the root, each a 2D generalized distance transform (:mod:`.distance_transform`, linear
in H x W), then the root's best cell and backtracking through the stored arg-locations. Parts at the
same depth are transformed together in one call.

Coordinates: cell (x, y) = (column, row) of the unary maps; the springs are in the same cells.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posekit.classic.distance_transform import dt2d
from posekit.skeletons import LSP14, Skeleton

#: LSP-14's kinematic tree rooted at the neck: parent of each joint (-1 = root). Head top, both
#: shoulders and both hips hang from the neck (the hips through the torso, as in the PS literature's
#: torso part), then elbow -> wrist and knee -> ankle down each limb.
LSP14_PARENTS: tuple[int, ...] = (
    1,   # right_ankle <- right_knee
    2,   # right_knee <- right_hip
    12,  # right_hip <- neck
    12,  # left_hip <- neck
    3,   # left_knee <- left_hip
    4,   # left_ankle <- left_knee
    7,   # right_wrist <- right_elbow
    8,   # right_elbow <- right_shoulder
    12,  # right_shoulder <- neck
    12,  # left_shoulder <- neck
    9,   # left_elbow <- left_shoulder
    10,  # left_wrist <- left_elbow
    -1,  # neck: root
    12,  # head_top <- neck
)


def depths(parents: np.ndarray) -> np.ndarray:
    """(K,) depth of every part in the tree given by ``parents`` (-1 = root); raises on a cycle or not
    exactly one root."""
    parents = np.asarray(parents)
    if (parents < 0).sum() != 1:
        raise ValueError("a tree has exactly one root (parent -1)")
    k = len(parents)
    out = np.zeros(k, dtype=np.int64)
    for i in range(k):
        j = i
        while parents[j] >= 0:
            j = parents[j]
            out[i] += 1
            if out[i] > k:
                raise ValueError("parents contain a cycle")
    return out


@dataclass
class Springs:
    """Per-part spring of the edge to its parent, (K,) arrays (the root's entries are unused):
    mean offset (mx, my) of the child from the parent and weights (wx, wy) > 0, in grid cells; or
    (K, M) arrays, one spring per (child, child's part type) (:func:`tree_map_typed`)."""

    mx: np.ndarray
    my: np.ndarray
    wx: np.ndarray
    wy: np.ndarray

    @classmethod
    def fit(cls, poses: np.ndarray, parents: np.ndarray, visible: np.ndarray | None = None,
            min_var: float = 0.25) -> Springs:
        """Maximum-likelihood Gaussian springs from training poses (N, K, 2) (already in grid cells):
        mean of child - parent, weight 1 / (2 variance) per axis (variance floored at ``min_var`` cells^2).
        ``visible`` (N, K) bool: only pairs with both joints labelled count."""
        poses = np.asarray(poses, dtype=np.float64)
        n, k, _ = poses.shape
        ok = np.ones((n, k), bool) if visible is None else np.asarray(visible, bool)
        mx, my, wx, wy = (np.zeros(k) for _ in range(4))
        wx[:] = wy[:] = 1.0
        for c in range(k):
            p = parents[c]
            if p < 0:
                continue
            use = ok[:, c] & ok[:, p]
            if use.sum() < 2:
                raise ValueError(f"fewer than 2 poses label edge {p}->{c}")
            d = poses[use, c] - poses[use, p]
            mx[c], my[c] = d.mean(0)
            var = np.maximum(d.var(0), min_var)
            wx[c], wy[c] = 0.5 / var
        return cls(mx, my, wx, wy)

    @classmethod
    def fit_typed(cls, poses: np.ndarray, parents: np.ndarray, types: np.ndarray, num_types: int,
                  visible: np.ndarray | None = None, min_var: float = 0.25, min_count: int = 10) -> Springs:
        """Springs per (child, child's type): arrays (K, M). ``types`` (N, K) the type of every joint of
        every training pose; a (child, type) seen fewer than ``min_count`` times keeps the child's
        type-independent spring."""
        generic = cls.fit(poses, parents, visible, min_var)
        n, k, _ = poses.shape
        ok = np.ones((n, k), bool) if visible is None else np.asarray(visible, bool)
        out = {name: np.repeat(getattr(generic, name)[:, None], num_types, 1) for name in ("mx", "my", "wx", "wy")}
        for c in range(k):
            p = parents[c]
            if p < 0:
                continue
            for t in range(num_types):
                use = ok[:, c] & ok[:, p] & (types[:, c] == t)
                if use.sum() < min_count:
                    continue
                d = poses[use, c] - poses[use, p]
                out["mx"][c, t], out["my"][c, t] = d.mean(0)
                var = np.maximum(d.var(0), min_var)
                out["wx"][c, t], out["wy"][c, t] = 0.5 / var
        return cls(out["mx"], out["my"], out["wx"], out["wy"])

    def scaled(self, strength: float) -> Springs:
        """The same springs with weights multiplied by ``strength`` (a temperature of the pairwise terms)."""
        return Springs(self.mx, self.my, self.wx * strength, self.wy * strength)

    def to_dict(self) -> dict:
        return {k: np.asarray(getattr(self, k), dtype=np.float64) for k in ("mx", "my", "wx", "wy")}

    @classmethod
    def from_dict(cls, d: dict) -> Springs:
        return cls(*(np.asarray(d[k], dtype=np.float64) for k in ("mx", "my", "wx", "wy")))


def tree_map(unaries: np.ndarray, parents: np.ndarray, springs: Springs, per_image: Springs | None = None
             ) -> tuple[np.ndarray, float]:
    """Exact MAP configuration of the tree model.

    unaries: (K, H, W) part scores (finite). parents: (K,) parent index, -1 for the root.
    springs: the edges' springs in cells (``per_image`` overrides them, same layout -- used by the
    poselet-conditioned model, whose springs change with the image).
    Returns (cells (K, 2) int64 (x, y) of every part, the configuration's total score).
    """
    sp = per_image or springs
    u = np.asarray(unaries, dtype=np.float64)
    k, h, w = u.shape
    parents = np.asarray(parents)
    depth = depths(parents)
    score = u.copy()  # unary + messages received from the children, per part
    arg_x = np.zeros((k, h, w), dtype=np.int64)  # child's best cell for each parent cell
    arg_y = np.zeros((k, h, w), dtype=np.int64)
    for d in range(depth.max(), 0, -1):  # deepest level first: its parts have all their messages
        level = np.flatnonzero(depth == d)
        msg, ax, ay = dt2d(score[level], sp.wx[level], sp.wy[level], sp.mx[level], sp.my[level])
        arg_x[level], arg_y[level] = ax, ay
        for j, c in enumerate(level):
            score[parents[c]] += msg[j]
    root = int(np.flatnonzero(parents < 0)[0])
    best = int(np.argmax(score[root]))
    cells = np.zeros((k, 2), dtype=np.int64)
    cells[root] = (best % w, best // w)
    for d in range(1, depth.max() + 1):  # backtrack: each child's best cell given its parent's
        for c in np.flatnonzero(depth == d):
            px, py = cells[parents[c]]
            cells[c] = (arg_x[c, py, px], arg_y[c, py, px])
    return cells, float(score[root].flat[best])


def tree_map_typed(unaries: np.ndarray, parents: np.ndarray, springs: Springs) -> tuple[np.ndarray, np.ndarray, float]:
    """Exact MAP over locations *and part types* (Yang & Ramanan's mixtures of parts, without their
    type co-occurrence term): part c of type t scores ``unaries[c, t]`` and its edge to the parent uses
    the spring of (c, t), so the spring follows the child's appearance type (a limb's orientation).

    unaries: (K, M, H, W). springs: arrays of shape (K, M) (the root's rows unused).
    Returns (cells (K, 2) int (x, y), types (K,) int, total score). Messages to a parent do not depend
    on the parent's type, so each level costs M distance transforms per part, then a max over types.
    """
    u = np.asarray(unaries, dtype=np.float64)
    k, m, h, w = u.shape
    parents = np.asarray(parents)
    depth = depths(parents)
    incoming = np.zeros((k, h, w))  # messages received from the children, per part (type-independent)
    arg_x = np.zeros((k, m, h, w), dtype=np.int64)
    arg_y = np.zeros((k, m, h, w), dtype=np.int64)
    arg_t = np.zeros((k, h, w), dtype=np.int64)  # child's best type for each parent cell
    for d in range(depth.max(), 0, -1):
        level = np.flatnonzero(depth == d)
        score = (u[level] + incoming[level][:, None]).reshape(len(level) * m, h, w)
        msg, ax, ay = dt2d(score, springs.wx[level].reshape(-1), springs.wy[level].reshape(-1),
                           springs.mx[level].reshape(-1), springs.my[level].reshape(-1))
        msg = msg.reshape(len(level), m, h, w)
        arg_x[level] = ax.reshape(len(level), m, h, w)
        arg_y[level] = ay.reshape(len(level), m, h, w)
        arg_t[level] = msg.argmax(1)
        best = msg.max(1)
        for j, c in enumerate(level):
            incoming[parents[c]] += best[j]
    root = int(np.flatnonzero(parents < 0)[0])
    root_score = u[root] + incoming[root][None]
    flat = int(np.argmax(root_score))
    cells = np.zeros((k, 2), dtype=np.int64)
    types = np.zeros(k, dtype=np.int64)
    types[root], rest = divmod(flat, h * w)
    cells[root] = (rest % w, rest // w)
    for d in range(1, depth.max() + 1):
        for c in np.flatnonzero(depth == d):
            px, py = cells[parents[c]]
            t = arg_t[c, py, px]
            types[c] = t
            cells[c] = (arg_x[c, t, py, px], arg_y[c, t, py, px])
    return cells, types, float(root_score.flat[flat])


def configuration_score(cells: np.ndarray, unaries: np.ndarray, parents: np.ndarray, springs: Springs) -> float:
    """S(L) of one configuration (cells (K, 2) int (x, y)), the objective :func:`tree_map` maximises."""
    total = 0.0
    for c in range(len(parents)):
        x, y = cells[c]
        total += float(unaries[c, y, x])
        p = parents[c]
        if p >= 0:
            dx = cells[c, 0] - cells[p, 0] - springs.mx[c]
            dy = cells[c, 1] - cells[p, 1] - springs.my[c]
            total -= springs.wx[c] * dx**2 + springs.wy[c] * dy**2
    return total


def check_lsp_tree(skeleton: Skeleton = LSP14) -> None:
    """Every edge of :data:`LSP14_PARENTS` is a limb of the skeleton or a torso link from the neck (a
    guard for the table above)."""
    limbs = {frozenset(e) for e in skeleton.limbs}
    neck = skeleton.index("neck")
    for c, p in enumerate(LSP14_PARENTS):
        if p >= 0 and frozenset((c, p)) not in limbs and p != neck:
            raise ValueError(f"edge {skeleton.joints[p]} -> {skeleton.joints[c]} is not an LSP limb")
