"""DeepCut's terms (grouping/deepcut.py): candidates from part maps, matching to the ground truth, the unary
calibration and pairwise logistic regressions separating synthetic same/different-person pairs, and the whole
grouping of a hand-built two-person image."""

import numpy as np
import pytest

from posekit.codecs.paf import PAFCodec, skeleton_limbs
from posekit.grouping.deepcut import (
    allowed_classes,
    candidates,
    fit,
    group,
    match_candidates,
    paf_feature,
    pair_probabilities,
    unary_probabilities,
)
from posekit.skeletons import LSP14

# an upright person (LSP-14 order) in a 60 x 120 px box at the origin (as tests/test_infer_bottomup.py)
PERSON = np.array([[40, 118], [40, 90], [38, 62], [22, 62], [20, 90], [20, 118], [52, 70], [50, 48], [44, 28],
                   [16, 28], [10, 48], [8, 70], [30, 22], [30, 2]], dtype=np.float64)
CODEC = PAFCodec((128, 128), (32, 32), limbs=skeleton_limbs(LSP14), limb_width=3.0, sigma=1.0)


def people_at(offsets, scale=0.45, jitter=0.0, rng=None):
    """People (14, 3) in input pixels: PERSON scaled and placed at each (x, y) offset, joints jittered."""
    out = []
    for off in offsets:
        kp = PERSON * scale + off
        if jitter:
            kp = kp + rng.normal(0, jitter, kp.shape)
        out.append(np.concatenate([kp, np.full((14, 1), 2.0)], axis=1))
    return out


def synthetic_image(people, rng=None, noise=0):
    """Part maps of ``people`` (the codec's own targets), with ``noise`` weak false peaks added."""
    maps = CODEC.encode(people, num_joints=14)
    heatmaps = maps["heatmaps"].copy()
    for _ in range(noise):
        c, x, y = rng.integers(14), rng.integers(2, 30), rng.integers(2, 30)
        heatmaps[c, y, x] = max(heatmaps[c, y, x], rng.uniform(0.15, 0.35))
    return heatmaps, maps["pafs"]


def training_set(rng, count=40, use_paf=False):
    images = []
    for _ in range(count):
        n = int(rng.integers(1, 4))
        # side by side (columns 40 px apart, people 27 px wide): geometry alone can tell them apart
        offsets = [(40 * col + rng.uniform(0, 10), rng.uniform(0, 70)) for col in rng.permutation(3)[:n]]
        people = people_at(offsets, jitter=1.0, rng=rng)
        heatmaps, pafs = synthetic_image(people, rng, noise=6)
        pos, cls, vals = candidates(heatmaps, CODEC.input_size, CODEC.heatmap_size, CODEC.sigma, 0.1, 6, 80)
        item = {"positions": pos, "classes": cls, "values": vals,
                "match": match_candidates(pos, people, [4.0] * len(people), 14)}
        if use_paf:
            item["paf_score"] = paf_feature(CODEC, pafs)
        images.append(item)
    return images


@pytest.fixture(scope="module")
def model():
    return fit(training_set(np.random.default_rng(0)), 14, scale=128.0)


def test_candidates_are_capped_refined_peaks_with_every_maps_value():
    heatmaps, _ = synthetic_image(people_at([(10, 5), (70, 40)]))
    pos, cls, vals = candidates(heatmaps, (128, 128), (32, 32), 1.0, threshold=0.1, max_per_class=4,
                                max_candidates=100)
    assert len(pos) == 28 and np.bincount(cls).tolist() == [2] * 14
    for c in range(14):  # each person's joint found to a fraction of a pixel (the maps are exact Gaussians)
        found = pos[cls == c]
        for off in ((10, 5), (70, 40)):
            assert np.linalg.norm(found - (PERSON[c] * 0.45 + off), axis=1).min() < 0.5
    assert vals.shape == (28, 14)
    assert (vals[np.arange(28), cls] > 0.6).all()  # Gaussian peaks sampled off-centre
    assert (vals[np.arange(28), cls] >= vals.max(1) - 1e-9).all()
    pos1, cls1, _ = candidates(heatmaps, (128, 128), (32, 32), 1.0, max_per_class=1, max_candidates=10)
    assert len(pos1) == 10 and len(set(cls1.tolist())) == 10
    empty = candidates(np.zeros((14, 32, 32), np.float32), (128, 128), (32, 32), 1.0)
    assert empty[0].shape == (0, 2) and empty[2].shape == (0, 14)


def test_match_candidates_takes_the_nearest_person_within_the_radius():
    people = people_at([(0, 0), (60, 0)], scale=1.0)
    pos = np.array([PERSON[0] + [1, 0], PERSON[0] + [60, 3], PERSON[0] + [30, 0]])
    m = match_candidates(pos, people, [4.0, 4.0], 14)
    assert m.shape == (3, 14)
    assert m[:, 0].tolist() == [0, 1, -1]
    assert match_candidates(pos, [], [], 14).shape == (3, 14)


def test_pairwise_fit_separates_same_and_different_person_pairs(model):
    rng = np.random.default_rng(1)
    correct, total, unary_ok = 0, 0, []
    for item in training_set(rng, count=15):
        unary = unary_probabilities(model, item["values"])
        true = item["match"][np.arange(len(item["classes"])), item["classes"]] >= 0
        unary_ok.append(np.mean((unary[np.arange(len(true)), item["classes"]] > 0.5) == true))
        allowed = allowed_classes(item["classes"], unary, max_classes=1)
        p = pair_probabilities(model, item["positions"], unary, allowed)
        idx = np.flatnonzero(true)
        for a in idx:
            for b in idx:
                if a < b:
                    ca, cb = item["classes"][a], item["classes"][b]
                    same = item["match"][a, ca] == item["match"][b, cb]
                    assert p[a, b, ca, cb] == pytest.approx(p[b, a, cb, ca])  # symmetric
                    correct += (p[a, b, ca, cb] > 0.5) == same
                    total += 1
    assert total > 500
    assert correct / total > 0.95
    assert np.mean(unary_ok) > 0.95  # weak false peaks are told from true parts
    tr = model["training"]
    assert tr["pair_counts"].sum() > 0 and np.nanmedian(tr["pair_accuracy"]) > 0.95


def test_group_finds_both_people_of_a_hand_built_image(model):
    offsets = [(8, 10), (66, 30)]
    people = people_at(offsets)
    heatmaps, _ = synthetic_image(people, np.random.default_rng(3), noise=3)
    found, stats = group(heatmaps, model, CODEC.input_size, CODEC.heatmap_size, CODEC.sigma, max_per_class=4,
                         max_candidates=40, time_limit=20)
    assert stats["status"] == "optimal" and stats["candidates"] >= 28
    assert set(stats) >= {"candidates", "variables", "triangles", "iterations", "ilp_seconds", "seconds"}
    assert len(found) == 2
    for truth in people:
        errors = [np.abs(kp[:, :2] - truth[:, :2]).max() for kp, _ in found]
        assert min(errors) < 0.5
    assert all(0.5 < s <= 1.0 for _, s in found)


def test_paf_feature_is_the_line_integral_of_the_limbs_field():
    people = people_at([(20, 10)])
    _, pafs = synthetic_image(people)
    score = paf_feature(CODEC, pafs)
    a, b = CODEC.limbs[0]
    xy_a, xy_b = people[0][a:a + 1, :2], people[0][b:b + 1, :2]
    forward = score(np.array([a]), np.array([b]), xy_a, xy_b)
    backward = score(np.array([b]), np.array([a]), xy_b, xy_a)  # the same limb seen from its other end
    assert forward[0] > 0.5 and backward[0] == pytest.approx(forward[0])
    assert score(np.array([0]), np.array([13]), xy_a, xy_b)[0] == 0.0  # ankle-head: no limb


def test_the_paf_variant_fits_and_needs_its_feature():
    rng = np.random.default_rng(5)
    paf_model = fit(training_set(rng, count=10, use_paf=True), 14, scale=128.0, use_paf=True)
    assert paf_model["features"][-1] == "paf"
    pos = np.array([[10.0, 10.0], [20.0, 20.0]])
    unary = np.full((2, 14), 0.9)
    allowed = allowed_classes(np.array([0, 1]), unary, max_classes=1)
    with pytest.raises(ValueError, match="paf_score"):
        pair_probabilities(paf_model, pos, unary, allowed)
