import numpy as np
import pytest

from posekit.classic.tree import LSP14_PARENTS, Springs, check_lsp_tree, configuration_score, depths, tree_map


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("parents", [(-1, 0, 1), (-1, 0, 0, 1), (1, -1, 1, 2)])
def test_tree_map_matches_brute_force(seed, parents):
    rng = np.random.default_rng(seed)
    k, h, w = len(parents), 4, 5
    unaries = rng.normal(size=(k, h, w)) * 2
    springs = Springs(rng.uniform(-2, 2, k), rng.uniform(-2, 2, k), rng.uniform(0.05, 1.5, k),
                      rng.uniform(0.05, 1.5, k))
    parents = np.array(parents)
    cells, total = tree_map(unaries, parents, springs)
    # brute force over all (h w)^k configurations, vectorised: one axis per part
    ys, xs = np.divmod(np.arange(h * w), w)
    total_all = np.zeros((h * w,) * k)
    for c in range(k):
        shape = [1] * k
        shape[c] = h * w
        total_all = total_all + unaries[c].reshape(-1).reshape(shape)
        p = parents[c]
        if p >= 0:
            dx = xs[None, :] - xs[:, None] - springs.mx[c]  # [parent cell, child cell]
            dy = ys[None, :] - ys[:, None] - springs.my[c]
            pair = springs.wx[c] * dx**2 + springs.wy[c] * dy**2
            shape = [1] * k
            shape[p], shape[c] = h * w, h * w
            total_all = total_all - (pair if p < c else pair.T).reshape(shape)
    best = total_all.max()
    brute = np.array(np.unravel_index(total_all.argmax(), total_all.shape))
    assert configuration_score(np.stack([xs[brute], ys[brute]], 1), unaries, parents, springs) == pytest.approx(best)
    assert total == pytest.approx(best, abs=1e-9)
    assert configuration_score(cells, unaries, parents, springs) == pytest.approx(best, abs=1e-9)


def test_springs_fit_recovers_offsets():
    rng = np.random.default_rng(0)
    parents = np.array([-1, 0])
    root = rng.normal(size=(500, 2)) * 5
    child = root + np.array([3.0, -2.0]) + rng.normal(size=(500, 2)) * np.array([1.0, 2.0])
    sp = Springs.fit(np.stack([root, child], 1), parents)
    assert sp.mx[1] == pytest.approx(3.0, abs=0.2) and sp.my[1] == pytest.approx(-2.0, abs=0.3)
    assert sp.wx[1] == pytest.approx(0.5, rel=0.2) and sp.wy[1] == pytest.approx(0.125, rel=0.2)
    back = Springs.from_dict(sp.to_dict())
    np.testing.assert_array_equal(back.wx, sp.wx)


def test_lsp_tree():
    check_lsp_tree()
    d = depths(np.array(LSP14_PARENTS))
    assert d[12] == 0 and d.max() == 3
    with pytest.raises(ValueError):
        depths(np.array([1, 0]))


@pytest.mark.parametrize("seed", range(3))
def test_tree_map_typed_matches_brute_force(seed):
    from posekit.classic.tree import tree_map_typed

    rng = np.random.default_rng(seed)
    parents = np.array([-1, 0, 0])
    k, m, h, w = 3, 2, 3, 3
    unaries = rng.normal(size=(k, m, h, w)) * 2
    springs = Springs(*(rng.uniform(-1.5, 1.5, (k, m)) for _ in range(2)), *(rng.uniform(0.1, 1.0, (k, m))
                                                                             for _ in range(2)))
    cells, types, total = tree_map_typed(unaries, parents, springs)
    g = h * w
    ys, xs = np.divmod(np.arange(g), w)
    best = -np.inf
    for t in np.ndindex(m, m, m):  # brute force over every type and location assignment
        for locs in np.ndindex(g, g, g):
            sc = sum(unaries[c, t[c], ys[locs[c]], xs[locs[c]]] for c in range(k))
            for c in (1, 2):
                dx = xs[locs[c]] - xs[locs[0]] - springs.mx[c, t[c]]
                dy = ys[locs[c]] - ys[locs[0]] - springs.my[c, t[c]]
                sc -= springs.wx[c, t[c]] * dx**2 + springs.wy[c, t[c]] * dy**2
            best = max(best, sc)
    assert total == pytest.approx(best, abs=1e-9)
    # the returned assignment attains it
    sc = sum(unaries[c, types[c], cells[c, 1], cells[c, 0]] for c in range(k))
    for c in (1, 2):
        dx = cells[c, 0] - cells[0, 0] - springs.mx[c, types[c]]
        dy = cells[c, 1] - cells[0, 1] - springs.my[c, types[c]]
        sc -= springs.wx[c, types[c]] * dx**2 + springs.wy[c, types[c]] * dy**2
    assert sc == pytest.approx(best, abs=1e-9)
