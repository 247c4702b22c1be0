"""Round-trip and contract tests for every codec (encode -> decode recovers the keypoints)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from posekit.codecs import (
    HeatmapCodec,
    OffsetCodec,
    PAFCodec,
    RegressionCodec,
    heatmap_to_input,
    input_to_heatmap,
    joint_weights,
)
from posekit.codecs.heatmap import gaussian_heatmaps
from posekit.codecs.paf import find_peaks, limb_flip, skeleton_limbs, tree_limbs
from posekit.skeletons import COCO17, LSP14, MPII16

INPUT = (128, 128)
HEATMAP = (32, 32)
STRIDE = 4.0


def random_keypoints(rng: np.random.Generator, k: int, size=INPUT, margin: float = 0.0) -> np.ndarray:
    """(K, 3) labelled sub-pixel keypoints uniformly on the input (pixel centres span [0, W - 1])."""
    x = rng.uniform(margin, size[0] - 1 - margin, k)
    y = rng.uniform(margin, size[1] - 1 - margin, k)
    return np.stack([x, y, np.full(k, 2.0)], axis=1)


# ------------------------------------------------------------------------------------------ frame helpers
def test_frame_helpers_are_inverse_and_cover_the_same_area():
    xy = np.array([[0.0, 0.0], [127.0, 127.0], [-0.5, -0.5], [127.5, 127.5], [13.25, 77.75]])
    hm = input_to_heatmap(xy, INPUT, HEATMAP)
    np.testing.assert_allclose(heatmap_to_input(hm, INPUT, HEATMAP), xy)
    # the input's outer edges are the heatmap's outer edges
    np.testing.assert_allclose(hm[2], [-0.5, -0.5])
    np.testing.assert_allclose(hm[3], [31.5, 31.5])
    # cell (0, 0) is the centre of the first 4x4 pixel block: input (1.5, 1.5)
    np.testing.assert_allclose(heatmap_to_input(np.zeros(2), INPUT, HEATMAP), [1.5, 1.5])
    # anisotropic strides
    np.testing.assert_allclose(heatmap_to_input(np.array([0.0, 0.0]), (64, 96), (32, 24)), [0.5, 1.5])


def test_joint_weights_zero_for_unlabelled_and_outside():
    kp = np.array([[10, 10, 2], [10, 10, 1], [10, 10, 0], [-1, 10, 2], [10, 127.6, 2], [127.4, 0, 2]], float)
    np.testing.assert_array_equal(joint_weights(kp, INPUT), [1, 1, 0, 0, 0, 1])
    assert joint_weights(kp, INPUT).dtype == np.float32


# ----------------------------------------------------------------------------------------------- heatmap
def test_heatmap_encode_contract():
    codec = HeatmapCodec(INPUT, HEATMAP, sigma=2.0)
    kp = np.array([[1.5, 1.5, 2], [50.0, 60.0, 0], [200.0, 10.0, 2], [61.5, 21.5, 1]])
    t = codec.encode(kp)
    assert t["heatmaps"].shape == (4, 32, 32) and t["heatmaps"].dtype == np.float32
    np.testing.assert_array_equal(t["weights"], [1, 0, 0, 1])
    # a joint at a cell centre peaks at exactly 1 in that cell
    assert t["heatmaps"][0, 0, 0] == pytest.approx(1.0)
    assert t["heatmaps"][3, 5, 15] == pytest.approx(1.0)
    # sub-pixel: x = 63.5 px is half-way between cells 15 (61.5 px) and 16 (65.5 px): equal values
    off = codec.encode(np.array([[63.5, 21.5, 2]]))["heatmaps"][0]
    assert off[5, 15] == pytest.approx(off[5, 16]) and off[5, 15] < 1.0
    # weight-0 joints carry no target
    assert not t["heatmaps"][1].any() and not t["heatmaps"][2].any()


@pytest.mark.parametrize("refine,bound", [
    ("dark", 0.5),                      # Euclidean, input pixels
    ("quarter", STRIDE / 2 + 1e-6),     # per axis: quarter cell inside (below), half on the outer cells
    ("none", STRIDE / 2 + 1e-6),        # per axis: half a cell
])
def test_heatmap_round_trip(refine, bound):
    rng = np.random.default_rng(0)
    codec = HeatmapCodec(INPUT, HEATMAP, sigma=2.0, refine=refine)
    kp = np.stack([random_keypoints(rng, 14) for _ in range(64)])  # (N, K, 3) over the whole input
    targets = np.stack([codec.encode(k)["heatmaps"] for k in kp])
    dec = codec.decode(targets)
    assert dec.shape == (64, 14, 3)
    err = dec[..., :2] - kp[..., :2]
    eucl = np.linalg.norm(err, axis=-1)
    print(f"\nheatmap refine={refine}: max error {eucl.max():.5f} px, mean {eucl.mean():.5f} px, "
          f"max per-axis {np.abs(err).max():.5f} px")
    if refine == "dark":
        assert eucl.max() < bound
    else:
        assert np.abs(err).max() <= bound
    if refine == "quarter":  # interior cells: at most a quarter cell per axis
        cell = np.rint(input_to_heatmap(kp[..., :2], INPUT, HEATMAP))
        interior = ((cell > 0) & (cell < 31)).all(-1)
        assert np.abs(err[interior]).max() <= 0.25 * STRIDE + 1e-6
    np.testing.assert_allclose(dec[..., 2], np.max(targets, axis=(-2, -1)))
    # unbatched and torch inputs decode the same
    np.testing.assert_allclose(codec.decode(targets[3]), dec[3])
    np.testing.assert_allclose(codec.decode(torch.from_numpy(targets)), dec)


def test_heatmap_dark_exact_at_borders_and_anisotropic():
    codec = HeatmapCodec((96, 128), (48, 32), sigma=1.5, refine="dark")  # strides (2, 4)
    corners = np.array([[0, 0, 2], [95, 127, 2], [0, 127, 2], [95, 0, 2], [0.3, 64.2, 2], [47.7, 126.9, 2]],
                       dtype=float)
    dec = codec.decode(codec.encode(corners)["heatmaps"])
    err = np.linalg.norm(dec[:, :2] - corners[:, :2], axis=1)
    print(f"\nheatmap dark at borders: max error {err.max():.6f} px")
    assert err.max() < 0.05


def test_heatmap_dark_beats_none_on_noisy_maps():
    rng = np.random.default_rng(1)
    kp = random_keypoints(rng, 400)  # whole input, borders included
    centres = input_to_heatmap(kp[:, :2], INPUT, HEATMAP)
    noisy = gaussian_heatmaps(centres, HEATMAP, 2.0) + rng.normal(0, 0.03, (400, 32, 32)).astype(np.float32)
    errs = {}
    for refine in ("none", "quarter", "dark"):
        dec = HeatmapCodec(INPUT, HEATMAP, 2.0, refine).decode(noisy)
        errs[refine] = np.linalg.norm(dec[:, :2] - kp[:, :2], axis=1).mean()
    print(f"\nnoisy maps, mean error px: {errs}")
    assert errs["dark"] < errs["quarter"] < errs["none"]


def test_heatmap_decode_of_many_maps_at_once():
    # (its speed is a benchmark's business, not a test's: wall clock flakes on a busy machine)
    rng = np.random.default_rng(2)
    centres = rng.uniform(-0.4, 31.4, (14000, 2))
    maps = gaussian_heatmaps(centres, HEATMAP, 2.0).reshape(1000, 14, 32, 32)
    dec = HeatmapCodec(INPUT, HEATMAP, sigma=2.0, refine="dark").decode(maps)
    err = np.linalg.norm(dec.reshape(-1, 3)[:, :2] - heatmap_to_input(centres, INPUT, HEATMAP), axis=1)
    assert err.max() < 0.01


def test_heatmap_codec_rejects_bad_arguments():
    with pytest.raises(ValueError):
        HeatmapCodec(INPUT, HEATMAP, refine="bilinear")
    with pytest.raises(ValueError):
        HeatmapCodec(INPUT, HEATMAP).decode(np.zeros((1, 14, 16, 16)))


# -------------------------------------------------------------------------------------------- regression
def test_regression_round_trip_and_contract():
    rng = np.random.default_rng(3)
    codec = RegressionCodec((96, 128))
    kp = np.stack([random_keypoints(rng, 14, size=(96, 128)) for _ in range(8)])
    kp[0, 2, 2] = 0
    enc = [codec.encode(k) for k in kp]
    coords = np.stack([e["coords"] for e in enc])
    assert coords.shape == (8, 14, 2) and coords.dtype == np.float32
    assert coords.min() >= 0 and coords.max() <= 1
    np.testing.assert_array_equal(coords[0, 2], [0, 0])
    assert enc[0]["weights"][2] == 0 and enc[1]["weights"].all()
    np.testing.assert_allclose(codec.encode(np.array([[-0.5, 127.5, 2]]))["coords"], [[0, 1]])
    dec = codec.decode(coords)
    assert dec.shape == (8, 14, 3)
    lab = kp[..., 2] > 0
    err = np.abs(dec[..., :2] - kp[..., :2])[lab]
    print(f"\nregression: max error {err.max():.2e} px (float32 coordinates)")
    assert err.max() < 1e-4
    np.testing.assert_array_equal(dec[..., 2], 1.0)
    scores = rng.uniform(size=(8, 14))
    np.testing.assert_allclose(codec.decode(torch.from_numpy(coords), scores)[..., 2], scores)
    assert codec.decode(coords[0]).shape == (14, 3)


# ------------------------------------------------------------------------------------------------ offsets
def test_offset_encode_contract():
    codec = OffsetCodec(INPUT, HEATMAP, radius=10.0)
    kp = np.array([[40.0, 60.0, 2], [10.0, 10.0, 0], [-3.0, 5.0, 2]])
    t = codec.encode(kp)
    assert t["disk"].shape == (3, 32, 32) and t["offsets"].shape == (3, 2, 32, 32)
    assert t["disk"].dtype == t["offsets"].dtype == np.float32
    np.testing.assert_array_equal(t["weights"], [1, 0, 0])
    assert not t["disk"][1:].any() and not t["offsets"][1:].any()
    centres = heatmap_to_input(np.stack(np.meshgrid(np.arange(32), np.arange(32)), -1), INPUT, HEATMAP)
    dist = np.linalg.norm(centres - kp[0, :2], axis=-1)
    np.testing.assert_array_equal(t["disk"][0] > 0, dist <= 10.0)
    # offset of cell (x=9, y=14): centre (37.5, 57.5) -> joint (40, 60): (2.5, 2.5) / radius
    np.testing.assert_allclose(t["offsets"][0, :, 14, 9], [0.25, 0.25])
    assert not t["offsets"][0][:, dist > 10.0].any()
    # a radius below the cell spacing still marks the nearest cell
    tiny = OffsetCodec(INPUT, HEATMAP, radius=0.5).encode(np.array([[40.0, 60.0, 2]]))
    assert tiny["disk"].sum() == 1 and tiny["disk"][0, 15, 10] == 1


@pytest.mark.parametrize("radius", [6.0, 12.0])
def test_offset_round_trip(radius):
    rng = np.random.default_rng(4)
    codec = OffsetCodec(INPUT, HEATMAP, radius=radius)
    kp = np.stack([random_keypoints(rng, 14) for _ in range(16)])
    enc = [codec.encode(k) for k in kp]
    disk = np.stack([e["disk"] for e in enc])
    off = np.stack([e["offsets"] for e in enc])
    dec = codec.decode(disk, off)
    assert dec.shape == (16, 14, 3)
    err = np.linalg.norm(dec[..., :2] - kp[..., :2], axis=-1)
    print(f"\noffsets radius={radius}: max error {err.max():.2e} px")
    assert err.max() < 0.5
    np.testing.assert_allclose(dec[..., 2], 1.0)
    np.testing.assert_allclose(codec.decode(disk[5], off[5]), dec[5])
    # soft, slightly wrong probabilities: still close (the Hough mode picks the right cluster)
    noisy = np.clip(disk * 0.8 + rng.uniform(0, 0.1, disk.shape), 0, 1)
    err2 = np.linalg.norm(codec.decode(noisy, off)[..., :2] - kp[..., :2], axis=-1)
    assert np.median(err2) < 0.5


def test_offset_decode_empty_maps():
    codec = OffsetCodec(INPUT, HEATMAP, radius=8.0)
    dec = codec.decode(np.zeros((2, 3, 32, 32)), np.zeros((2, 3, 2, 32, 32)))
    assert dec.shape == (2, 3, 3) and np.isfinite(dec).all() and (dec[..., 2] == 0).all()


# ---------------------------------------------------------------------------------------------------- PAF
def random_person(rng: np.random.Generator, x0: float, k: int = 14) -> np.ndarray:
    """A person whose joints lie in the 32 px wide column [x0 + 4, x0 + 36], limbs at least 6 px long."""
    while True:
        xy = np.stack([rng.uniform(x0 + 4, x0 + 36, k), rng.uniform(6, 121, k)], axis=1)
        if all(np.linalg.norm(xy[a] - xy[b]) >= 6 for a, b in LSP14.limbs):
            return np.concatenate([xy, np.full((k, 1), 2.0)], axis=1)


def test_paf_encode_contract():
    codec = PAFCodec(INPUT, (64, 64), limbs=[(0, 1)], limb_width=2.0, sigma=1.0)
    a = np.array([[20.5, 40.5, 2], [60.5, 40.5, 2]])  # horizontal limb along row y = 40.5 (cell 20)
    t = codec.encode([a])
    assert t["pafs"].shape == (1, 2, 64, 64) and t["heatmaps"].shape == (2, 64, 64)
    np.testing.assert_array_equal(t["weights"], [1, 1])
    np.testing.assert_array_equal(t["paf_weights"], [1])
    np.testing.assert_allclose(t["pafs"][0, :, 20, 20], [1, 0])  # on the limb: +x unit vector
    assert not t["pafs"][0, :, 30].any()  # 20 px away: nothing
    assert not t["pafs"][0, :, 20, 40:].any()  # past the end b
    # a second person with the same limb reversed cancels on the overlap; a perpendicular one averages
    rev = codec.encode([a, a[::-1].copy()])
    np.testing.assert_allclose(rev["pafs"][0, :, 20, 20], [0, 0], atol=1e-7)
    perp = np.array([[40.5, 20.5, 2], [40.5, 60.5, 2]])
    both = codec.encode([a, perp])["pafs"][0, :, 20, 20]  # the crossing cell (40.5, 40.5)
    np.testing.assert_allclose(both, [0.5, 0.5])
    # heatmaps are max-merged, unlabelled / outside joints skipped
    t = codec.encode([np.array([[20.5, 40.5, 2], [60.5, 40.5, 0]]), np.array([[20.5, 40.5, 2], [300, 4, 2]])])
    assert t["heatmaps"][0].max() == pytest.approx(1.0) and not t["heatmaps"][1].any()
    only_one_end = codec.encode([np.array([[20.5, 40.5, 2], [60.5, 40.5, 0]])])
    assert not only_one_end["pafs"].any()  # a limb needs both ends labelled
    t2 = codec.encode([np.array([[20.5, 40.5, 2], [300, 40.5, 2]])])
    assert t2["pafs"][0, 0, 20, 20] == pytest.approx(1.0)  # a limb leaving the input is still drawn
    empty = codec.encode([], num_joints=2)
    assert empty["heatmaps"].shape == (2, 64, 64) and not empty["pafs"].any()


def test_paf_limb_score():
    codec = PAFCodec(INPUT, (64, 64), limbs=[(0, 1)], limb_width=2.0, sigma=1.0)
    pa, pb = np.array([20.5, 40.5]), np.array([60.5, 40.5])
    paf = codec.encode([np.array([[*pa, 2], [*pb, 2]])])["pafs"][0]
    assert codec.limb_score(paf, pa, pb) > 0.9
    assert codec.limb_score(paf, pb, pa) < -0.9
    assert codec.limb_score(paf, pa, pa) == 0.0
    assert abs(codec.limb_score(paf, np.array([20.5, 80.5]), np.array([60.5, 80.5]))) < 1e-9


def test_find_peaks_plateau_and_threshold():
    m = np.zeros((6, 6), np.float32)
    m[2, 2] = m[2, 3] = 0.8  # a two-cell plateau: one peak
    m[5, 5] = 0.05  # below threshold
    np.testing.assert_array_equal(find_peaks(m, 0.1), [[2, 2]])


@pytest.mark.parametrize("heatmap_size,sigma,limb_width", [((64, 64), 1.0, 2.0), ((32, 32), 1.0, 3.0)])
def test_paf_round_trip(heatmap_size, sigma, limb_width):
    rng = np.random.default_rng(5)
    codec = PAFCodec(INPUT, heatmap_size, limbs=LSP14.limbs, limb_width=limb_width, sigma=sigma)
    images = [[random_person(rng, x0) for x0 in rng.permutation([0.0, 44.0, 88.0])[: rng.integers(2, 4)]]
              for _ in range(6)]
    enc = [codec.encode(people) for people in images]
    heat = np.stack([e["heatmaps"] for e in enc])
    pafs = np.stack([e["pafs"] for e in enc])
    decoded = codec.decode(heat, pafs)
    assert len(decoded) == len(images)
    worst = 0.0
    for people, found in zip(images, decoded, strict=True):
        assert len(found) == len(people)
        for person in people:
            errs = [np.linalg.norm(f[:, :2] - person[:, :2], axis=1).max() for f in found]
            worst = max(worst, min(errs))
            assert found[int(np.argmin(errs))][:, 2].min() > 0.5  # every joint assigned
    print(f"\nPAF heatmap {heatmap_size}: max error {worst:.2e} px")
    assert worst < 0.5
    single = codec.decode(heat[0], pafs[0])
    assert isinstance(single, list) and len(single) == len(images[0])
    assert codec.decode(np.zeros_like(heat[0]), np.zeros_like(pafs[0])) == []


def test_tree_limbs_order_the_parse_from_the_root():
    """Breadth-first from the neck: every limb after the first starts at a joint already reached (so greedy
    assembly always extends a person it has begun), each oriented parent -> child; cycle-closing limbs
    (LSP-14's hip-hip) last; no limb lost or duplicated."""
    for skeleton in (LSP14, MPII16, COCO17):
        limbs = skeleton_limbs(skeleton)
        assert sorted(map(frozenset, limbs), key=sorted) == sorted(map(frozenset, skeleton.limbs), key=sorted)
        reached = {limbs[0][0]}
        for a, b in limbs:
            assert a in reached
            reached.add(b)
    lsp = skeleton_limbs(LSP14)
    assert lsp[0][0] == LSP14.joints.index("neck") and lsp[-1] == (2, 3)
    assert tree_limbs([(0, 1), (1, 2), (3, 4)], root=1) == ((1, 0), (1, 2), (3, 4))  # unreached part last


def test_limb_flip_maps_each_limb_to_its_mirror():
    for skeleton in (LSP14, MPII16, COCO17):
        limbs = skeleton_limbs(skeleton)
        perm, sign = limb_flip(limbs, skeleton.flip_index)
        assert sorted(perm) == list(range(len(limbs)))
        np.testing.assert_array_equal(perm[perm], np.arange(len(limbs)))  # mirroring twice is the identity
        flip = np.asarray(skeleton.flip_index)
        for li, (a, b) in enumerate(limbs):
            fa, fb = limbs[perm[li]]
            assert (fa, fb) == ((flip[a], flip[b]) if sign[li] > 0 else (flip[b], flip[a]))
    _, sign = limb_flip(skeleton_limbs(LSP14), LSP14.flip_index)
    assert (sign < 0).sum() == 1  # only right hip -> left hip reverses
    with pytest.raises(ValueError, match="not a limb"):
        limb_flip([(0, 1)], [1, 2, 0])


def test_person_scores_rank_complete_people_first():
    codec = PAFCodec(INPUT, (64, 64), limbs=skeleton_limbs(LSP14), limb_width=2.0, sigma=1.0)
    rng = np.random.default_rng(3)
    full = random_person(rng, 0.0)
    half = random_person(rng, 60.0)
    half[[0, 1, 4, 5, 6, 11], :] = 0.0  # no ankles, knees, wrists
    found = codec.decode_scored(*(codec.encode([full, half])[k] for k in ("heatmaps", "pafs")))
    assert len(found) == 2
    (kp1, s1), (kp2, s2) = found
    assert s1 > s2 > 0
    assert 0.75 < s1 <= 1.0  # every joint (peaks ~0.9 off the cell centres) and tree connection (~1) found
    assert (kp1[:, 2] > 0).sum() == 14 and (kp2[:, 2] > 0).sum() == 8
    # decode gives the same people in the same order, without the scores
    plain = codec.decode(*(codec.encode([full, half])[k] for k in ("heatmaps", "pafs")))
    np.testing.assert_array_equal(plain[0], kp1)
