"""DeepCut's joint subset partition and labeling problem (Pishchulin et al. 2016, "DeepCut: Joint Subset
Partition and Labeling for Multi Person Pose Estimation", Sec. 2) as an integer linear program, solved with
``scipy.optimize.milp`` (HiGHS branch and cut).

Given D body-part candidates and C part classes, the program chooses at once which candidates are real
parts (subset), which class each takes (labeling) and which belong to the same person (partition):

variables (all binary)
    x[d, c]       candidate d is kept with part class c (only the classes ``allowed`` for d exist);
    y[d, d']      d and d' (d < d') are in the same person;
    z[d, d', c, c'] = x[d, c] * x[d', c'] * y[d, d']  (the paper's linearisation of the product).
constraints
    (uniqueness)   sum_c x[d, c] <= 1: a candidate takes at most one class; none = suppressed;
    (kept only)    y[d, d'] <= sum_c x[d, c] and y[d, d'] <= sum_c x[d', c]: only kept candidates are joined;
    (transitivity) y[d, d'] + y[d', d''] - 1 <= y[d, d''] for every triple, all three orientations -- the
                   partition is an equivalence relation. There are 3 * D-choose-3 of them, so by default they
                   are added lazily: solve, find the violated triangles of the solution, add them, re-solve,
                   until none is violated (the final solution is then optimal for the full program, since every
                   intermediate program is a relaxation of it);
    (coupling)     z <= x[d, c], z <= x[d', c'], z <= y[d, d'] and z >= x[d, c] + x[d', c'] + y[d, d'] - 2:
                   the pairwise cost of joining d and d' depends on the classes both take.
objective (minimised)
    sum alpha[d, c] x[d, c] + sum beta[d, d', c, c'] z[d, d', c, c'],
    alpha = log((1 - p) / p) of the unary probability p that d is a part of class c;
    beta  = log((1 - q) / q) of the pairwise probability q that d (class c) and d' (class c') belong to the
            same person -- keeping a likely part and joining a likely pair are rewarded (negative cost),
            joining an unlikely pair is penalised; cutting a pair costs nothing.

Departures from the paper, all stated: (1) each candidate's classes are restricted to ``allowed`` ones (the
predictor allows a candidate's own heatmap class and its most probable alternatives; the paper let every
detection take every class, which multiplies the z variables by C^2); (2) only the side of the coupling
constraints that can bind is written -- for beta < 0 the three upper bounds, for beta > 0 the lower bound,
for beta = 0 no z at all -- which has the same optimum as writing all four (a minimiser pushes z down when
beta > 0 and up when beta < 0); and where both candidates of a pair have a single allowed class, z = y exactly
(y = 1 already forces both kept with those classes), so beta goes on y and no z is made; (3) the paper's
solver was Gurobi with a branch-and-cut callback; here each lazy round is a fresh HiGHS solve (scipy exposes
no callbacks) under one per-image time limit.

Lazy rounds: a cutting-plane round on the LP relaxation first (the triangles its fractional solution
violates), then integer solves, each followed by adding all the triangles its solution violates.

When the time limit is hit the best feasible solution known is returned with ``status="time_limit"``: the
better of a greedy solution (:func:`greedy_solution`, computed first) and the incumbent of the interrupted
solve made transitive (connected components of its "same person" edges).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import LinearConstraint, milp

__all__ = ["ILPSolution", "decode_people", "greedy_solution", "log_odds", "objective_value", "solve_partition_labeling",
           "violated_triangles"]

EPS = 1e-6  # probabilities are clipped to [EPS, 1 - EPS]: a log-odds of +-13.8, never infinite


@dataclass
class ILPSolution:
    """A solution of :func:`solve_partition_labeling`.

    labels: (D,) int64, the class each candidate takes, -1 = suppressed.
    clusters: (D,) int64, the person each kept candidate belongs to (0 .. P-1, by first candidate), -1 =
        suppressed.
    objective: the objective of this solution (the minimised cost; lower is better).
    status: "optimal" (proven: the last solve finished and its solution was transitive) or "time_limit" (the
        per-image limit was reached: the best feasible solution known, not proven optimal).
    iterations: solver calls (LP cutting-plane rounds + integer rounds). triangles: transitivity triples in the
        last program.
    seconds: wall-clock time spent. num_variables / num_constraints: size of the last program.
    """

    labels: np.ndarray
    clusters: np.ndarray
    objective: float
    status: str
    iterations: int
    triangles: int
    seconds: float
    num_variables: int
    num_constraints: int


def log_odds(p: np.ndarray) -> np.ndarray:
    """log((1 - p) / p), the paper's cost of a probability p (clipped to [EPS, 1 - EPS]): negative where
    p > 0.5. Any shape."""
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1.0 - EPS)
    return np.log1p(-p) - np.log(p)


def objective_value(unary: np.ndarray, pairwise: np.ndarray, labels: np.ndarray, clusters: np.ndarray) -> float:
    """The objective of a (labels, clusters) assignment: sum of alpha over kept candidates and of beta over the
    pairs of kept candidates in the same cluster. unary (D, C), pairwise (D, D, C, C) probabilities as for
    :func:`solve_partition_labeling`."""
    labels, clusters = np.asarray(labels), np.asarray(clusters)
    kept = np.flatnonzero(labels >= 0)
    lab = labels[kept]
    total = float(log_odds(unary[kept, lab]).sum())
    together = np.triu(clusters[kept][:, None] == clusters[kept][None, :], 1)  # each joined pair once
    beta = log_odds(pairwise[kept[:, None], kept[None, :], lab[:, None], lab[None, :]])
    return total + float((beta * together).sum())


class _Program:
    """Variable and constraint bookkeeping of one instance (sparse rows built once; triangles appended)."""

    def __init__(self, unary: np.ndarray, pairwise: np.ndarray, allowed: np.ndarray) -> None:
        D, C = unary.shape
        self.D = D
        alpha = log_odds(unary)
        self.x_index = -np.ones((D, C), np.int64)
        costs: list[float] = []
        for d, c in zip(*np.nonzero(allowed), strict=True):
            self.x_index[d, c] = len(costs)
            costs.append(float(alpha[d, c]))
        live = np.flatnonzero(allowed.any(1))  # candidates that can be kept at all
        self.live = live
        self.y_index = -np.ones((D, D), np.int64)
        for a_i, i in enumerate(live):
            for j in live[a_i + 1:]:
                self.y_index[i, j] = self.y_index[j, i] = len(costs)
                costs.append(0.0)
        rows, cols, vals, ub = [], [], [], []

        def row(entries: list[tuple[int, float]], upper: float) -> None:
            r = len(ub)
            for col, v in entries:
                rows.append(r)
                cols.append(col)
                vals.append(v)
            ub.append(upper)

        for d in live:  # uniqueness
            row([(int(k), 1.0) for k in self.x_index[d][self.x_index[d] >= 0]], 1.0)
        for a_i, i in enumerate(live):
            xi = [(int(k), -1.0) for k in self.x_index[i][self.x_index[i] >= 0]]
            for j in live[a_i + 1:]:
                y = int(self.y_index[i, j])
                xj = [(int(k), -1.0) for k in self.x_index[j][self.x_index[j] >= 0]]
                row([(y, 1.0)] + xi, 0.0)  # kept only
                row([(y, 1.0)] + xj, 0.0)
                beta = log_odds(pairwise[i, j])
                if allowed[i].sum() == 1 and allowed[j].sum() == 1:
                    # one class each: y = 1 already implies both kept with those classes, so z = y exactly --
                    # the pairwise cost goes on y and no z (nor coupling rows) is needed
                    costs[y] = float(beta[np.argmax(allowed[i]), np.argmax(allowed[j])])
                    continue
                for c in np.flatnonzero(allowed[i]):
                    for c2 in np.flatnonzero(allowed[j]):
                        b = float(beta[c, c2])
                        if b == 0.0:
                            continue
                        z = len(costs)
                        costs.append(b)
                        xa, xb = int(self.x_index[i, c]), int(self.x_index[j, c2])
                        if b < 0:  # a reward: only the upper bounds can bind
                            row([(z, 1.0), (xa, -1.0)], 0.0)
                            row([(z, 1.0), (xb, -1.0)], 0.0)
                            row([(z, 1.0), (y, -1.0)], 0.0)
                        else:  # a penalty: only the lower bound can bind
                            row([(xa, 1.0), (xb, 1.0), (y, 1.0), (z, -1.0)], 2.0)
        self.costs = np.asarray(costs, np.float64)
        self.base = (rows, cols, vals, ub)
        self.triangles: set[tuple[int, int, int]] = set()

    def add_triangles(self, triples) -> int:
        """Add the three transitivity inequalities of each new (i < j < k) triple; returns how many were new."""
        before = len(self.triangles)
        self.triangles.update(triples)
        return len(self.triangles) - before

    def constraints(self) -> LinearConstraint:
        rows, cols, vals, ub = (list(a) for a in self.base)
        r = len(ub)
        for i, j, k in sorted(self.triangles):
            ij, jk, ik = self.y_index[i, j], self.y_index[j, k], self.y_index[i, k]
            for a, b, c in ((ij, jk, ik), (ij, ik, jk), (ik, jk, ij)):  # a + b - c <= 1
                rows += [r, r, r]
                cols += [int(a), int(b), int(c)]
                vals += [1.0, 1.0, -1.0]
                ub.append(1.0)
                r += 1
        A = sparse.csr_array((vals, (rows, cols)), shape=(max(r, 1), len(self.costs)))
        if r == 0:  # milp needs a constraint matrix with the right width, even an empty one
            return LinearConstraint(A, -np.inf, np.zeros(1))
        return LinearConstraint(A, -np.inf, np.asarray(ub))

    def fractional_y(self, v: np.ndarray) -> np.ndarray:
        """(D, D) the y values of a (relaxed) solver vector, 0 where no y exists."""
        y = np.zeros((self.D, self.D))
        has = self.y_index >= 0
        y[has] = v[self.y_index[has]]
        return y

    def read(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(labels (D,), same (D, D) bool) of a solver vector (rounded)."""
        v = np.round(v).astype(np.int64)
        labels = -np.ones(self.D, np.int64)
        for d, c in zip(*np.nonzero(self.x_index >= 0), strict=True):
            if v[self.x_index[d, c]] == 1:
                labels[d] = c
        same = np.zeros((self.D, self.D), bool)
        has = self.y_index >= 0
        same[has] = v[self.y_index[has]] == 1
        return labels, same & (labels >= 0)[:, None] & (labels >= 0)[None, :]


def violated_triangles(same: np.ndarray, tol: float = 1e-6, limit: int | None = None) -> list[tuple[int, int, int]]:
    """Triples (i < j < k) whose "same person" values (D, D), symmetric -- bool, or the fractional y of an LP
    relaxation -- break a transitivity inequality y_ab + y_bc - y_ac <= 1 (some orientation) by more than
    ``tol``; the most violated first, at most ``limit``. For a bool relation: two pairs joined, the third cut."""
    y = np.asarray(same, dtype=np.float64).copy()
    D = len(y)
    if D < 3:
        return []
    np.fill_diagonal(y, 0.0)
    ij, jk, ik = y[:, :, None], y[None, :, :], y[:, None, :]
    excess = np.maximum(np.maximum(ij + jk - ik, ij + ik - jk), jk + ik - ij) - 1.0  # (D, D, D) over (i, j, k)
    r = np.arange(D)
    ordered = (r[:, None, None] < r[None, :, None]) & (r[None, :, None] < r[None, None, :])
    i, j, k = np.nonzero(ordered & (excess > tol))
    order = np.argsort(-excess[i, j, k], kind="stable")[:limit]
    return [(int(a), int(b), int(c)) for a, b, c in zip(i[order], j[order], k[order], strict=True)]


def _components(labels: np.ndarray, same: np.ndarray) -> np.ndarray:
    """Clusters (D,) of the kept candidates: connected components of ``same`` (its transitive closure), numbered
    by first candidate; -1 for suppressed ones."""
    D = len(labels)
    clusters = -np.ones(D, np.int64)
    n = 0
    for d in range(D):
        if labels[d] < 0 or clusters[d] >= 0:
            continue
        stack = [d]
        clusters[d] = n
        while stack:
            a = stack.pop()
            for b in np.flatnonzero(same[a]):
                if clusters[b] < 0 and labels[b] >= 0:
                    clusters[b] = n
                    stack.append(int(b))
        n += 1
    return clusters


def greedy_solution(unary: np.ndarray, pairwise: np.ndarray, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A quick feasible solution (the time limit's fallback): every candidate that can be kept takes its best
    allowed class, each alone; the two clusters whose joining lowers the objective most are joined while some
    joining does (greedy agglomeration); then candidates whose unary cost outweighs what they share with their
    cluster are dropped, the costliest first. Returns (labels, clusters)."""
    D, C = unary.shape
    alpha = np.where(allowed, log_odds(unary), np.inf)
    labels = np.where(allowed.any(1), alpha.argmin(1), -1) if C else -np.ones(D, np.int64)
    kept = np.flatnonzero(labels >= 0)
    if len(kept) == 0:
        return labels, -np.ones(D, np.int64)
    beta = log_odds(pairwise[kept[:, None], kept[None, :], labels[kept][:, None], labels[kept][None, :]])
    np.fill_diagonal(beta, 0.0)
    member = np.eye(len(kept))  # (clusters, kept candidates) membership
    while len(member) > 1:
        gain = member @ beta @ member.T  # summed beta between every two clusters
        np.fill_diagonal(gain, np.inf)
        a, b = np.unravel_index(np.argmin(gain), gain.shape)
        if gain[a, b] >= 0:
            break
        member[a] += member[b]
        member = np.delete(member, b, axis=0)
    cluster = member.argmax(0)
    on = np.ones(len(kept), bool)
    a_kept = alpha[kept, labels[kept]]
    while on.any():  # each kept candidate's share: its unary cost + its beta to the others of its cluster
        share = a_kept + ((cluster[:, None] == cluster[None, :]) * beta * on[None, :]).sum(1)
        share = np.where(on, share, -np.inf)
        worst = int(np.argmax(share))
        if share[worst] <= 0:
            break
        on[worst] = False
    labels = labels.copy()
    labels[kept[~on]] = -1
    clusters = -np.ones(D, np.int64)
    clusters[kept] = cluster
    return labels, _components(labels, clusters[:, None] == clusters[None, :])


def _checked_inputs(unary: np.ndarray, pairwise: np.ndarray, allowed: np.ndarray | None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(unary, pairwise) as float64 and ``allowed`` as bool (None: unary > 0), their shapes checked."""
    unary = np.asarray(unary, dtype=np.float64)
    D, C = unary.shape
    pairwise = np.asarray(pairwise, dtype=np.float64)
    if pairwise.shape != (D, D, C, C):
        raise ValueError(f"pairwise must be ({D}, {D}, {C}, {C}), got {pairwise.shape}")
    allowed = (unary > 0) if allowed is None else np.asarray(allowed, dtype=bool)
    if allowed.shape != (D, C):
        raise ValueError(f"allowed must be ({D}, {C}), got {allowed.shape}")
    return unary, pairwise, allowed


def _root_cuts(program: _Program, deadline: float, rounds: int, max_cuts: int | None) -> int:
    """Cutting planes at the root: solve the LP relaxation and add the triangles its fractional y violates
    (up to ``max_cuts``), at most ``rounds`` times and until ``deadline`` (a ``time.perf_counter()`` value) --
    the relaxation without triangles is very loose, and an LP costs far less than an integer round.
    Returns the number of LPs solved."""
    solved = 0
    for _ in range(rounds):
        remaining = deadline - time.perf_counter()
        if remaining <= 0 or len(program.costs) == 0:
            break
        res = milp(program.costs, integrality=np.zeros(len(program.costs)), bounds=(0, 1),
                   constraints=program.constraints(), options={"time_limit": remaining, "disp": False})
        solved += 1
        if res.x is None or res.status != 0:
            break
        cuts = violated_triangles(program.fractional_y(res.x), tol=1e-4, limit=max_cuts)
        if not cuts or not program.add_triangles(cuts):
            break
    return solved


def solve_partition_labeling(unary: np.ndarray, pairwise: np.ndarray, allowed: np.ndarray | None = None,
                             time_limit: float = 10.0, lazy: bool = True, mip_rel_gap: float = 1e-7,
                             root_rounds: int = 1, max_cuts: int | None = None) -> ILPSolution:
    """Solve DeepCut's subset partition and labeling program (module docstring) exactly, within ``time_limit``.

    unary: (D, C) probability that candidate d is a part of class c.
    pairwise: (D, D, C, C) probability that d (as class c) and d' (as class c') belong to the same person; only
        d < d' is read (the caller keeps it symmetric: pairwise[d, d', c, c'] = pairwise[d', d, c', c]).
    allowed: (D, C) bool, the classes each candidate may take (None = those with unary > 0); a candidate with
        none is suppressed.
    time_limit: seconds for the whole solve (all lazy rounds); past it the best feasible solution known is
        returned with ``status="time_limit"``.
    lazy: add transitivity triangles as they are violated (True) or all of them up front (False). Both reach
        the same optimum; lazy is much smaller on real instances.
    mip_rel_gap: HiGHS's relative optimality gap (tiny: the solution is exact up to float tolerance).
    root_rounds, max_cuts: with ``lazy``, LP-relaxation rounds before the integer ones, each adding (up to
        ``max_cuts``, None = all) the triangles the fractional solution violates, most violated first (cutting
        planes: the same optimum). Measured on composed 8-person scenes (71-77 candidates): one round adding
        all is as fast as none (3.8 / 4.7 s); 20 rounds of 3,000 took 12 s, each extra round forcing another
        integer solve.
    Returns an :class:`ILPSolution`.
    """
    t0 = time.perf_counter()
    unary, pairwise, allowed = _checked_inputs(unary, pairwise, allowed)
    program = _Program(unary, pairwise, allowed)
    if not lazy:
        live = program.live
        program.add_triangles((int(i), int(j), int(k)) for a, i in enumerate(live) for b, j in enumerate(live[a + 1:])
                              for k in live[a + b + 2:])

    # the fallback when the solver finds nothing better in time: the greedy solution
    best_labels, best_clusters = greedy_solution(unary, pairwise, allowed)
    best_obj = objective_value(unary, pairwise, best_labels, best_clusters)
    status, iterations, n_cons = "time_limit", 0, 0
    integrality = np.ones(len(program.costs))
    if lazy:
        iterations += _root_cuts(program, t0 + time_limit, root_rounds, max_cuts)
    while True:
        remaining = time_limit - (time.perf_counter() - t0)
        if remaining <= 0 or len(program.costs) == 0:
            if len(program.costs) == 0:
                status = "optimal"
            break
        cons = program.constraints()
        n_cons = cons.A.shape[0]
        res = milp(program.costs, integrality=integrality, bounds=(0, 1), constraints=cons,
                   options={"time_limit": remaining, "mip_rel_gap": mip_rel_gap, "disp": False})
        iterations += 1
        if res.x is None:  # nothing found within the limit (or a solver failure): keep the best known
            break
        labels, same = program.read(res.x)
        violated = violated_triangles(same)
        clusters = _components(labels, same)
        obj = objective_value(unary, pairwise, labels, clusters)
        if obj < best_obj - 1e-9 or (not violated and res.status == 0):
            best_labels, best_clusters, best_obj = labels, clusters, obj
        if res.status != 0:  # the time limit (or another limit) stopped the solve: not proven optimal
            break
        if not violated:
            status = "optimal"
            break
        program.add_triangles(violated)
    return ILPSolution(labels=best_labels, clusters=best_clusters, objective=best_obj, status=status,
                       iterations=iterations, triangles=len(program.triangles), seconds=time.perf_counter() - t0,
                       num_variables=len(program.costs), num_constraints=n_cons)


def decode_people(positions: np.ndarray, unary: np.ndarray, labels: np.ndarray, clusters: np.ndarray,
                  num_classes: int, min_parts: int = 1) -> list[tuple[np.ndarray, float]]:
    """People from a solution: each cluster of kept candidates is a person; per class its highest-probability
    candidate of that class is the joint (others of the class in the cluster are redundant detections of it).

    positions: (D, 2) candidate (x, y) in any pixel frame (the output uses the same). unary: (D, C) the
    probabilities the solve used. labels, clusters: (D,) from :class:`ILPSolution`.
    Returns [(keypoints (C, 3) x, y, score = the joint's unary probability, missing joints all zero;
    person score = the mean over the C classes of those probabilities, 0 for a missing joint, so a complete
    confident person scores near 1)], best first; people with fewer than ``min_parts`` joints are dropped.
    """
    people = []
    for n in range(int(clusters.max()) + 1 if len(clusters) else 0):
        members = np.flatnonzero(clusters == n)
        kp = np.zeros((num_classes, 3))
        for d in members:
            c = int(labels[d])
            p = float(unary[d, c])
            if p > kp[c, 2]:
                kp[c] = (positions[d, 0], positions[d, 1], p)
        found = int((kp[:, 2] > 0).sum())
        if found >= max(1, min_parts):
            people.append((kp, float(kp[:, 2].sum() / num_classes)))
    people.sort(key=lambda t: -t[1])
    return people
