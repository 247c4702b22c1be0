"""DeepCut's subset partition and labeling ILP (grouping/ilp.py) against brute force on tiny instances:
the exact optimum, transitive partitions, lazy triangles = all triangles up front, the time-limit path, and
decoding clusters into people."""

import itertools

import numpy as np
import pytest

from posekit.grouping.ilp import (
    decode_people,
    greedy_solution,
    log_odds,
    objective_value,
    solve_partition_labeling,
    violated_triangles,
)


def _partitions(items):
    """Every set partition of ``items`` as a list of blocks."""
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in _partitions(rest):
        for i in range(len(part)):
            yield part[:i] + [[first] + part[i]] + part[i + 1:]
        yield [[first]] + part


def brute_force(unary, pairwise, allowed):
    """The minimum objective over every labeling (each candidate: an allowed class or suppressed) and every
    partition of the kept candidates."""
    D, C = unary.shape
    best = np.inf
    choices = [[-1] + list(np.flatnonzero(allowed[d])) for d in range(D)]
    for labels in itertools.product(*choices):
        labels = np.asarray(labels)
        kept = [int(d) for d in np.flatnonzero(labels >= 0)]
        for part in _partitions(kept):
            clusters = -np.ones(D, np.int64)
            for n, block in enumerate(part):
                clusters[block] = n
            best = min(best, objective_value(unary, pairwise, labels, clusters))
    return best


def random_instance(rng, D, C, symmetric=True):
    unary = rng.uniform(0.05, 0.95, (D, C))
    pairwise = rng.uniform(0.02, 0.98, (D, D, C, C))
    if symmetric:
        pairwise = 0.5 * (pairwise + pairwise.transpose(1, 0, 3, 2))
    allowed = rng.random((D, C)) < 0.8
    allowed[np.arange(D), rng.integers(0, C, D)] = True  # every candidate can be kept somehow
    return unary, pairwise, allowed


def _check_transitive(sol):
    same = (sol.clusters[:, None] == sol.clusters[None, :]) & (sol.clusters[:, None] >= 0)
    assert violated_triangles(same) == []
    assert ((sol.labels >= 0) == (sol.clusters >= 0)).all()


@pytest.mark.parametrize("seed", range(6))
def test_exact_optimum_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    D, C = (4, 3) if seed % 2 else (5, 2)
    unary, pairwise, allowed = random_instance(rng, D, C)
    sol = solve_partition_labeling(unary, pairwise, allowed, time_limit=30)
    assert sol.status == "optimal"
    assert sol.objective == pytest.approx(brute_force(unary, pairwise, allowed), abs=1e-6)
    # the reported objective is the returned assignment's
    assert sol.objective == pytest.approx(objective_value(unary, pairwise, sol.labels, sol.clusters), abs=1e-9)
    assert all(sol.labels[d] < 0 or allowed[d, sol.labels[d]] for d in range(D))
    _check_transitive(sol)


def test_an_intransitive_instance_needs_lazy_triangles_and_gets_the_brute_force_optimum():
    """a-b and b-c want to be together, a-c strongly apart: without triangles the solver would join a-b and
    b-c but cut a-c; the lazy rounds add that triangle and end on a transitive optimum."""
    unary = np.full((3, 1), 0.9)
    pairwise = np.full((3, 3, 1, 1), 0.5)
    for i, j, q in ((0, 1, 0.95), (1, 2, 0.95), (0, 2, 0.01)):
        pairwise[i, j] = pairwise[j, i] = q
    sol = solve_partition_labeling(unary, pairwise)
    assert sol.status == "optimal" and sol.iterations >= 2 and sol.triangles >= 1
    assert sol.objective == pytest.approx(brute_force(unary, pairwise, np.ones((3, 1), bool)), abs=1e-9)
    _check_transitive(sol)
    # all three together cost 2 log(1/19) + log(99) = -1.29, one joined pair log(1/19) = -2.94: a pair + one alone
    assert sorted(np.bincount(sol.clusters).tolist()) == [1, 2]


@pytest.mark.parametrize(("seed", "root_rounds", "max_cuts"), [(0, 1, None), (1, 1, None), (2, 0, None), (3, 5, 2)])
def test_lazy_triangles_reach_the_same_optimum_as_all_triangles_up_front(seed, root_rounds, max_cuts):
    rng = np.random.default_rng(100 + seed)
    unary, pairwise, allowed = random_instance(rng, 7, 2)
    lazy = solve_partition_labeling(unary, pairwise, allowed, lazy=True, root_rounds=root_rounds, max_cuts=max_cuts)
    full = solve_partition_labeling(unary, pairwise, allowed, lazy=False)
    assert lazy.status == full.status == "optimal"
    assert lazy.objective == pytest.approx(full.objective, abs=1e-6)
    assert full.triangles == 35  # every triple up front (7 choose 3)
    assert lazy.triangles <= full.triangles
    _check_transitive(lazy)


def test_suppression_and_class_choice():
    """An unlikely part is suppressed (alpha > 0 and nothing to gain); a candidate takes its likelier class."""
    unary = np.array([[0.1, 0.05], [0.2, 0.9]])
    pairwise = np.full((2, 2, 2, 2), 0.5)
    sol = solve_partition_labeling(unary, pairwise)
    assert sol.labels.tolist() == [-1, 1] and sol.clusters.tolist() == [-1, 0]
    assert sol.objective == pytest.approx(log_odds(0.9))


def test_time_limit_returns_a_feasible_solution_and_says_so():
    rng = np.random.default_rng(7)
    unary, pairwise, allowed = random_instance(rng, 30, 3)
    # no time at all: the greedy fallback, never worse than each likely candidate kept alone
    sol = solve_partition_labeling(unary, pairwise, allowed, time_limit=0.0)
    assert sol.status == "time_limit" and sol.iterations == 0
    labels, clusters = greedy_solution(unary, pairwise, allowed)
    np.testing.assert_array_equal(sol.labels, labels)
    np.testing.assert_array_equal(sol.clusters, clusters)
    alpha = np.where(allowed, log_odds(unary), np.inf)
    alone = np.where(alpha.min(1) < 0, alpha.argmin(1), -1)
    singletons = np.where(alone >= 0, np.cumsum(alone >= 0) - 1, -1)
    assert sol.objective <= objective_value(unary, pairwise, alone, singletons) + 1e-9
    _check_transitive(sol)
    # a short limit on a hard random instance: the solver ran (at least one call) and was interrupted by the
    # limit instead of proving optimality; still a transitive assignment, never worse than the fallback
    short = solve_partition_labeling(unary, pairwise, allowed, time_limit=0.3)
    assert short.status == "time_limit" and short.iterations >= 1 and short.num_variables > 0
    assert short.objective <= sol.objective + 1e-9
    assert short.objective == pytest.approx(objective_value(unary, pairwise, short.labels, short.clusters))
    _check_transitive(short)


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="pairwise"):
        solve_partition_labeling(np.full((3, 2), 0.5), np.full((3, 3, 2, 1), 0.5))
    with pytest.raises(ValueError, match="allowed"):
        solve_partition_labeling(np.full((3, 2), 0.5), np.full((3, 3, 2, 2), 0.5), allowed=np.ones((3, 1), bool))


def test_two_people_are_decoded_from_a_hand_built_instance():
    """Two people of 3 parts (head, shoulder, hip) side by side, plus a weak duplicate head near person A and a
    false positive: the solve groups each person, the duplicate joins A but the stronger head is A's joint,
    the false positive is suppressed."""
    pos = np.array([[10, 0], [10, 10], [10, 30],     # person A: head, shoulder, hip
                    [50, 0], [50, 10], [50, 30],     # person B
                    [11, 1],                         # a weaker duplicate of A's head
                    [30, 60]], dtype=np.float64)     # a false positive "hip"
    cls = np.array([0, 1, 2, 0, 1, 2, 0, 2])
    prob = np.array([0.9, 0.8, 0.85, 0.95, 0.7, 0.8, 0.6, 0.1])
    D, C = len(pos), 3
    unary = np.zeros((D, C))
    unary[np.arange(D), cls] = prob
    person = np.array([0, 0, 0, 1, 1, 1, 0, -1])
    pairwise = np.full((D, D, C, C), 0.05)  # different people: unlikely
    for i in range(D):
        for j in range(D):
            if i != j and person[i] == person[j] >= 0:
                pairwise[i, j] = 0.95
    sol = solve_partition_labeling(unary, pairwise)
    assert sol.status == "optimal"
    assert sol.labels[7] == -1
    people = decode_people(pos, unary, sol.labels, sol.clusters, C, min_parts=2)
    assert len(people) == 2
    (kp_a, s_a), (kp_b, s_b) = people  # A scores higher: (0.9 + 0.8 + 0.85) / 3 > (0.95 + 0.7 + 0.8) / 3
    assert s_b == pytest.approx((0.95 + 0.7 + 0.8) / 3) and s_a == pytest.approx((0.9 + 0.8 + 0.85) / 3)
    np.testing.assert_allclose(kp_a[:, :2], pos[:3])
    np.testing.assert_allclose(kp_a[:, 2], prob[:3])  # the strong head, not its duplicate
    np.testing.assert_allclose(kp_b[:, :2], pos[3:6])
    # min_parts drops fragments
    assert decode_people(pos, unary, sol.labels, sol.clusters, C, min_parts=4) == []
