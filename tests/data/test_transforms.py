"""Transforms: the crop geometry, and that keypoints follow the pixels through scale/rotation/flip."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from posekit.data.transforms import (
    AffineParams,
    TopDownAugment,
    affine_matrix,
    apply_affine,
    box_to_center_scale,
    compose_affine,
    invert_affine,
    photometric_jitter,
    transform_keypoints,
    warp,
)
from posekit.skeletons import LSP14

# 14 well separated colour directions (BGR); a bilinear warp of a dot on black only scales its colour.
PALETTE = np.array(
    [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [255, 0, 255], [0, 255, 255], [255, 128, 0],
     [128, 255, 0], [0, 128, 255], [255, 0, 128], [0, 255, 128], [128, 0, 255], [255, 255, 255],
     [255, 128, 128]],
    dtype=np.float64,
)


def render_dots(points: np.ndarray, shape: tuple[int, int], sigma: float = 2.0) -> np.ndarray:
    """Gaussian dots of PALETTE colours at sub-pixel (x, y) points on black, uint8 BGR."""
    H, W = shape
    ys, xs = np.mgrid[0:H, 0:W]
    img = np.zeros((H, W, 3))
    for (x, y), col in zip(points, PALETTE[: len(points)], strict=True):
        g = np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2))
        img += g[..., None] * col
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def find_dots(image: np.ndarray, n: int) -> np.ndarray:
    """Intensity-weighted centroid of each PALETTE colour (by colour direction); NaN if absent."""
    img = image.astype(np.float64)
    norm = np.linalg.norm(img, axis=2)
    unit = PALETTE[:n] / np.linalg.norm(PALETTE[:n], axis=1, keepdims=True)
    cos = np.einsum("hwc,kc->hwk", img, unit) / np.maximum(norm, 1e-9)[..., None]
    best = cos.argmax(axis=2)
    ys, xs = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
    out = np.full((n, 2), np.nan)
    for k in range(n):
        w = np.where((best == k) & (cos[..., k] > 0.97) & (norm > 8), norm, 0.0)
        if w.sum() > 0:
            out[k] = (w * xs).sum() / w.sum(), (w * ys).sum() / w.sum()
    return out


def spread_points(rng: np.random.Generator, n: int, lo, hi, min_dist: float) -> np.ndarray:
    pts: list[np.ndarray] = []
    while len(pts) < n:
        p = rng.uniform(lo, hi)
        if all(np.linalg.norm(p - q) >= min_dist for q in pts):
            pts.append(p)
    return np.array(pts)


def test_box_to_center_scale() -> None:
    c, s = box_to_center_scale(np.array([10, 20, 40, 100]), aspect=1.0, padding=1.25)
    np.testing.assert_allclose(c, [30, 70])
    np.testing.assert_allclose(s, [125, 125])
    c, s = box_to_center_scale(np.array([0, 0, 120, 40]), aspect=0.75, padding=1.0)
    np.testing.assert_allclose(s, [120, 160])
    np.testing.assert_allclose(c, [60, 20])


def test_affine_matrix_maps_region_to_output() -> None:
    W, H = 64, 48
    c, s = np.array([100.0, 50.0]), np.array([80.0, 60.0])
    M = affine_matrix(c, s, (W, H))
    assert M.shape == (2, 3) and M.dtype == np.float64
    np.testing.assert_allclose(apply_affine(c, M), [(W - 1) / 2, (H - 1) / 2])
    # the region's outer edges land on the output's outer pixel edges
    np.testing.assert_allclose(apply_affine(c - s / 2, M), [-0.5, -0.5])
    np.testing.assert_allclose(apply_affine(c + s / 2, M), [W - 0.5, H - 0.5])
    # flip mirrors within the output
    Mf = affine_matrix(c, s, (W, H), flip=True)
    p = np.array([110.0, 40.0])
    q, qf = apply_affine(p, M), apply_affine(p, Mf)
    np.testing.assert_allclose(qf, [W - 1 - q[0], q[1]])
    # positive rotation turns content counter-clockwise on screen: a point right of centre goes up
    Mr = affine_matrix(c, np.array([80.0, 80.0]), (64, 64), rotation_deg=90)
    np.testing.assert_allclose(apply_affine(c + [10, 0], Mr) - apply_affine(c, Mr), [0, -8], atol=1e-9)


def test_invert_affine_round_trip() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        M = affine_matrix(rng.uniform(0, 300, 2), rng.uniform(20, 200, 2), (64, 80),
                          rng.uniform(-45, 45), bool(rng.integers(2)))
        pts = rng.uniform(-50, 350, (10, 2))
        np.testing.assert_allclose(apply_affine(apply_affine(pts, M), invert_affine(M)), pts, atol=1e-9)
        np.testing.assert_allclose(compose_affine(invert_affine(M), M), np.eye(3)[:2], atol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_keypoints_follow_pixels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    H, W = 240, 320
    pts = spread_points(rng, 14, [60, 40], [260, 200], min_dist=22)
    image = render_dots(pts, (H, W))
    kps = np.concatenate([pts, np.full((14, 1), 2.0)], axis=1)
    aug = TopDownAugment((96, 128), rotation_prob=1.0, flip_prob=0.5, rng=rng)
    base_c, base_s = box_to_center_scale(np.array([60, 40, 200, 160]), 96 / 128)
    for _ in range(3):
        p = aug.sample(base_c, base_s)
        M = p.matrix((96, 128))
        out = warp(image, M, (96, 128), antialias=True)
        moved = transform_keypoints(kps, M)  # no permutation: row k is dot colour k
        found = find_dots(out, 14)
        inside = (moved[:, 2] > 0) & (moved[:, 0] > 4) & (moved[:, 0] < 91) & (moved[:, 1] > 4) & (
            moved[:, 1] < 123)
        assert inside.sum() >= 6
        err = np.linalg.norm(found[inside] - moved[inside, :2], axis=1)
        # well under 1 px; 0.25 also catches a half-pixel convention slip (measured max ~0.06)
        assert np.all(err < 0.25), (p, err)
        # with the flip permutation, row i is the dot of joint flip_index[i]
        fi = LSP14.flip_index if p.flip else None
        perm = transform_keypoints(kps, M, fi)
        src = fi if fi is not None else np.arange(14)
        np.testing.assert_allclose(perm[:, :2], moved[src, :2])


def frontal_person() -> np.ndarray:
    """LSP14 keypoints of a person facing the camera: their left side is on the image's right."""
    kp = {
        "head_top": (100, 20), "neck": (100, 45),
        "right_shoulder": (80, 50), "left_shoulder": (120, 50),
        "right_elbow": (70, 80), "left_elbow": (130, 80), "right_wrist": (65, 110), "left_wrist": (135, 110),
        "right_hip": (88, 115), "left_hip": (112, 115), "right_knee": (86, 150), "left_knee": (114, 150),
        "right_ankle": (85, 185), "left_ankle": (115, 185),
    }
    return np.array([[*kp[n], 2.0] for n in LSP14.joints])


def test_flip_keeps_person_centric_sides() -> None:
    kps = frontal_person()
    image = render_dots(kps[:, :2], (210, 200))
    c, s = box_to_center_scale(np.array([50, 10, 100, 185]), 1.0)
    M = affine_matrix(c, s, (128, 128), flip=True)
    out = transform_keypoints(kps, M, LSP14.flip_index, (128, 128))
    left = np.array([LSP14.is_left(i) for i in range(14)])
    right = np.array([LSP14.is_right(i) for i in range(14)])
    # a mirrored frontal person is still frontal: left joints stay on the image's right
    assert (out[left, 0] > 63.5).all() and (out[right, 0] < 63.5).all()
    # the new left wrist is where the (mirrored) old right wrist's dot went
    found = find_dots(warp(image, M, (128, 128)), 14)
    lw, rw = LSP14.index("left_wrist"), LSP14.index("right_wrist")
    assert np.linalg.norm(found[rw] - out[lw, :2]) < 1.0
    # the unflipped transform keeps the order
    M0 = affine_matrix(c, s, (128, 128))
    out0 = transform_keypoints(kps, M0, None, (128, 128))
    assert (out0[left, 0] > 63.5).all()


def test_transform_keypoints_outside_and_unlabelled() -> None:
    kps = np.array([[10.0, 10.0, 2.0], [500.0, 10.0, 1.0], [30.0, 30.0, 0.0], [-0.4, 5.0, 2.0]])
    M = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    out = transform_keypoints(kps, M, output_size=(64, 64))
    np.testing.assert_array_equal(out[:, 2], [2, 0, 0, 2])
    np.testing.assert_array_equal(out[1], [0, 0, 0])
    np.testing.assert_array_equal(out[2], [0, 0, 0])


def test_augment_ranges_and_determinism() -> None:
    c, s = np.array([50.0, 60.0]), np.array([100.0, 100.0])
    a = TopDownAugment((64, 64), rotation_prob=0.5, rng=1)
    b = TopDownAugment((64, 64), rotation_prob=0.5, rng=1)
    ps = [a.sample(c, s) for _ in range(400)]
    qs = [b.sample(c, s) for _ in range(400)]
    assert all(np.array_equal(p.center, q.center) and p.flip == q.flip for p, q in zip(ps, qs, strict=True))
    scales = np.array([p.size[0] / 100 for p in ps])
    rots = np.array([p.rotation_deg for p in ps])
    flips = np.array([p.flip for p in ps])
    shifts = np.array([p.center - c for p in ps])
    assert scales.min() >= 0.75 and scales.max() <= 1.25
    assert np.abs(rots).max() <= 30 and 0.35 < (rots != 0).mean() < 0.65
    assert 0.4 < flips.mean() < 0.6
    assert np.abs(shifts).max() <= 10.0
    assert isinstance(ps[0], AffineParams)
    crop, kps, M = a(np.zeros((100, 120, 3), np.uint8), frontal_person(), c, s, LSP14.flip_index)
    assert crop.shape == (64, 64, 3) and kps.shape == (14, 3) and M.shape == (2, 3)


def test_photometric_jitter_fast_and_sane() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    assert photometric_jitter(img, rng, 0, 0, 0) is img
    out = photometric_jitter(img, rng)
    assert out.shape == img.shape and out.dtype == np.uint8
    # a grey image stays grey (saturation acts on colour only)
    grey = np.full((8, 8, 3), 100, np.uint8)
    g = photometric_jitter(grey, rng).astype(int)
    assert np.abs(g - g[..., :1]).max() <= 1


def test_warp_matches_cv2_pixel_centres() -> None:
    img = np.zeros((20, 20), np.uint8)
    img[5, 7] = 255
    M = np.array([[1.0, 0, 3], [0, 1.0, 2]])
    out = warp(img, M, (20, 20))
    assert out[7, 10] == 255
    # antialiased downscale keeps geometry: a centred dot stays centred
    big = render_dots(np.array([[200.0, 150.0]]), (300, 400), sigma=8)
    M = affine_matrix(np.array([200.0, 150.0]), np.array([400.0, 400.0]), (50, 50))
    small = warp(big, M, (50, 50), antialias=True)
    found = find_dots(small, 1)[0]
    np.testing.assert_allclose(found, [24.5, 24.5], atol=0.2)
    assert cv2.countNonZero(small[..., 0]) > 0


def test_half_body_region_covers_one_half_of_the_body():
    from posekit.data.transforms import TopDownAugment
    from posekit.skeletons import LSP14

    kp = np.zeros((14, 3))
    kp[:, 2] = 2
    kp[:, 0] = 50
    kp[:, 1] = [190, 150, 110, 110, 150, 190, 100, 80, 60, 60, 80, 100, 45, 20]  # standing, head up
    aug = TopDownAugment(output_size=(64, 64), half_body_prob=1.0)
    tops = bottoms = 0
    for seed in range(40):
        center, size = aug.half_body(kp, LSP14.joints, 1.25, np.random.default_rng(seed))
        top, bottom = center[1] - size[1] / 2, center[1] + size[1] / 2
        if bottom < 170:  # the upper half: head to (at most) hips, ankles cut off
            assert top <= 20 and center[1] < 110
            tops += 1
        else:
            assert top > 45 and center[1] >= 110  # the lower half: legs, no head
            bottoms += 1
    assert tops and bottoms
    assert TopDownAugment(output_size=(64, 64)).half_body(kp, LSP14.joints, 1.25, np.random.default_rng(0)) is None


def test_antialiased_warp_of_a_big_photo_reads_only_the_crop_region(data_root, monkeypatch) -> None:
    """Above ROI_MIN_PIXELS the antialiasing shrink runs on the region a crop reads, not the whole photo: the
    same crop up to interpolation noise, the geometry unchanged, and the shrink sized by the region."""
    import posekit.data.transforms as transforms

    photo = cv2.imread(str(data_root / "unlabeled" / "messi5.jpg"))
    big = cv2.resize(photo, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)  # 2192 x 1368
    M = affine_matrix(np.array([700.0, 600.0]), np.array([450.0, 600.0]), (96, 128))
    sizes = []
    real_resize = cv2.resize
    monkeypatch.setattr(cv2, "resize", lambda img, *a, **k: sizes.append(img.shape[:2]) or real_resize(img, *a, **k))
    monkeypatch.setattr(transforms, "ROI_MIN_PIXELS", 0)
    cut = warp(big, M, (96, 128), antialias=True)
    monkeypatch.setattr(transforms, "ROI_MIN_PIXELS", big.shape[0] * big.shape[1])
    whole = warp(big, M, (96, 128), antialias=True)
    assert sizes[0][0] * sizes[0][1] < 0.15 * big.shape[0] * big.shape[1] and sizes[1] == big.shape[:2]
    assert np.abs(cut.astype(int) - whole).mean() < 1.0
    monkeypatch.setattr(transforms, "ROI_MIN_PIXELS", 0)
    dot = render_dots(np.array([[700.0, 600.0]]), (1000, 1200), sigma=30)  # the centre stays the centre
    np.testing.assert_allclose(find_dots(warp(dot, M, (96, 128), antialias=True), 1)[0], [47.5, 63.5], atol=0.3)
