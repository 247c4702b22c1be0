"""PoseDataset: items, the decoded-crop cache (equivalence, save/load, speed), workers, real LSP images."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from posekit.data.dataset import PoseDataset, worker_init_fn
from posekit.data.transforms import TopDownAugment, apply_affine, invert_affine
from posekit.preprocess import IMAGENET_MEAN, IMAGENET_STD, denormalize_image, normalize_image
from posekit.skeletons import LSP14
from posekit.types import Person, Sample, box_from_keypoints

sys.path.insert(0, str(Path(__file__).parent))
from test_transforms import find_dots, frontal_person, render_dots  # noqa: E402


class HeatmapEncodeStub:
    """Stand-in for the heatmap codec's encode: Gaussian heatmaps at output / stride, plus weights.
    Heatmap pixel centres follow the package convention: x_h = (x + 0.5) / stride - 0.5."""

    def __init__(self, output_size: tuple[int, int], stride: int = 4, sigma: float = 2.0) -> None:
        self.w, self.h = output_size[0] // stride, output_size[1] // stride
        self.stride, self.sigma = stride, sigma
        self.xs = np.arange(self.w, dtype=np.float32)
        self.ys = np.arange(self.h, dtype=np.float32)

    def encode(self, keypoints: np.ndarray) -> dict[str, np.ndarray]:
        mu = (keypoints[:, :2].astype(np.float32) + 0.5) / self.stride - 0.5
        gx = np.exp(-((self.xs[None] - mu[:, :1]) ** 2) / (2 * self.sigma**2))
        gy = np.exp(-((self.ys[None] - mu[:, 1:]) ** 2) / (2 * self.sigma**2))
        weights = (keypoints[:, 2] > 0).astype(np.float32)
        heatmaps = gy[:, :, None] * gx[:, None, :] * weights[:, None, None]
        return {"heatmaps": heatmaps, "weights": weights}


def person(kps: np.ndarray, **kw) -> Person:
    return Person(keypoints=kps, box=box_from_keypoints(kps), **kw)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> list[Sample]:
    """Four images, one dotted frontal person each (moved and scaled), plus people that must be skipped."""
    root = tmp_path_factory.mktemp("synthetic")
    rng = np.random.default_rng(0)
    samples = []
    for i in range(4):
        kps = frontal_person()
        kps[:, :2] = (kps[:, :2] - 100) * rng.uniform(0.8, 1.6) + rng.uniform([140, 150], [180, 190])
        img = render_dots(kps[:, :2], (320, 320))
        path = root / f"img{i}.png"
        cv2.imwrite(str(path), img)
        people = [person(kps)]
        if i == 0:
            people.append(person(np.zeros((14, 3))))  # nothing labelled: skipped
            people.append(person(kps.copy(), is_crowd=True))  # crowd: skipped
        samples.append(Sample(image_path=path, skeleton=LSP14, people=people, image_id=i))
    return samples


def lsp_samples(data_root: Path, n: int) -> list[Sample]:
    """The first ``n`` LSP images, read directly (independent of posekit.data.formats)."""
    from scipy.io import loadmat

    root = data_root / "lsp"
    if not (root / "joints.mat").is_file():
        pytest.skip(f"LSP not found at {root}")
    joints = loadmat(str(root / "joints.mat"))["joints"]  # (3, 14, 2000): x, y, flag (1 = occluded)
    samples = []
    for i in range(n):
        kps = np.zeros((14, 3))
        kps[:, :2] = joints[:2, :, i].T
        kps[:, 2] = np.where(joints[2, :, i] == 1, 1.0, 2.0)
        samples.append(Sample(image_path=root / "images" / f"im{i + 1:04d}.jpg", skeleton=LSP14,
                              people=[person(kps)], image_id=i + 1))
    return samples


def mean_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean absolute difference of two normalised item images, in 0..255 grey levels."""
    return float(np.abs(denormalize_image(a).astype(int) - denormalize_image(b).astype(int)).mean())


def test_normalize_image_constants() -> None:
    img = np.zeros((2, 3, 3), np.uint8)
    img[..., 2] = 255  # BGR red
    t = normalize_image(img)
    assert t.shape == (3, 2, 3) and t.dtype == torch.float32
    np.testing.assert_allclose(t[0], (1 - IMAGENET_MEAN[0]) / IMAGENET_STD[0], rtol=1e-5)  # R channel first
    np.testing.assert_allclose(t[2], (0 - IMAGENET_MEAN[2]) / IMAGENET_STD[2], rtol=1e-5)
    rnd = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    np.testing.assert_array_equal(denormalize_image(normalize_image(rnd)), rnd)


def test_items_and_shapes(synthetic) -> None:
    stub = HeatmapEncodeStub((96, 128))
    ds = PoseDataset(synthetic, (96, 128), encode=stub.encode, cache=False)
    assert len(ds) == 4  # unlabelled and crowd people skipped
    item = ds[0]
    assert item["image"].shape == (3, 128, 96) and item["image"].dtype == torch.float32
    assert item["keypoints"].shape == (14, 3) and item["keypoints"].dtype == torch.float32
    assert item["heatmaps"].shape == (14, 32, 24) and item["weights"].shape == (14,)
    assert item["matrix"].shape == (2, 3) and item["matrix"].dtype == torch.float64
    assert item["index"] == 0 and item["sample_index"] == 0 and item["person_index"] == 0
    # evaluation: every joint inside (box from keypoints x 1.25), and at the dots
    assert (item["keypoints"][:, 2] > 0).all()
    found = find_dots(denormalize_image(item["image"]), 14)
    assert np.abs(found - item["keypoints"][:, :2].numpy()).max() < 0.3
    # the matrix maps the original keypoints to the item's
    kps = synthetic[0].people[0].keypoints
    np.testing.assert_allclose(apply_affine(kps[:, :2], item["matrix"].numpy()), item["keypoints"][:, :2],
                               atol=1e-4)
    np.testing.assert_allclose(apply_affine(item["keypoints"][:, :2].numpy(),
                                            invert_affine(item["matrix"].numpy())), kps[:, :2], atol=1e-3)


def test_augmented_keypoints_follow_pixels_through_cache(synthetic) -> None:
    # geometry only (photometric jitter would tint the black background the dot finder relies on)
    aug = TopDownAugment((128, 128), rotation_prob=1.0, brightness=0, contrast=0, saturation=0, rng=3)
    ds = PoseDataset(synthetic, (128, 128), augment=aug, cache=True, cache_margin=aug.max_extent())
    flips = 0
    for k in range(12):
        item = ds[k % len(ds)]
        flips += item["flipped"]
        kps = item["keypoints"].numpy()
        found = find_dots(denormalize_image(item["image"]), 14)
        src = LSP14.flip_index if item["flipped"] else np.arange(14)  # dot colour k = original joint k
        inside = (kps[:, 2] > 0) & (kps[:, :2] > 4).all(axis=1) & (kps[:, :2] < 123).all(axis=1)
        err = np.linalg.norm(found[src][inside] - kps[inside, :2], axis=1)
        assert inside.sum() >= 8 and err.max() < 0.5, err
    assert 0 < flips < 12


def test_cached_equals_uncached_eval(synthetic) -> None:
    for shape in ((128, 128), (96, 128)):
        a = PoseDataset(synthetic, shape, cache=True)
        b = PoseDataset(synthetic, shape, cache=False)
        for i in range(len(a)):
            x, y = a[i], b[i]
            torch.testing.assert_close(x["keypoints"], y["keypoints"], rtol=0, atol=0)
            torch.testing.assert_close(x["matrix"], y["matrix"], rtol=0, atol=0)
            assert mean_abs_diff(x["image"], y["image"]) < 1.0


def test_cache_saved_and_reloaded(synthetic, tmp_path) -> None:
    a = PoseDataset(synthetic, (64, 64), cache=True, cache_dir=tmp_path)
    assert not a.cache_ready
    a.build_cache(num_workers=2, progress=False)
    assert a.cache_ready and a.cache_path is not None and a.cache_path.is_file()
    assert [p.name for p in tmp_path.iterdir() if ".tmp" in p.name] == []
    b = PoseDataset(synthetic, (64, 64), cache=True, cache_dir=tmp_path)
    assert b.cache_ready and b.cache_path == a.cache_path  # loaded at construction, nothing decoded
    torch.testing.assert_close(a[1]["image"], b[1]["image"])
    # pickling (spawned workers) sends the file name and memory-maps it again
    import pickle

    state = pickle.dumps(b)
    assert len(state) < 100_000
    torch.testing.assert_close(pickle.loads(state)[2]["image"], a[2]["image"])
    # other parameters, other key
    c = PoseDataset(synthetic, (64, 64), cache=True, cache_dir=tmp_path, padding=1.5)
    assert not c.cache_ready and c.cache_key() != a.cache_key()


def test_rewriting_an_image_file_changes_what_the_cache_returns(synthetic, tmp_path) -> None:
    """The saved cache is keyed by each image file's size and modification time: an edited photo is
    decoded again, never served from the crops of its old content."""
    path = tmp_path / "photo.png"
    shutil.copy(synthetic[1].image_path, path)
    sample = Sample(image_path=path, skeleton=LSP14, people=synthetic[1].people)
    old = PoseDataset([sample], (64, 64), cache=True, cache_dir=tmp_path / "cache")
    old.build_cache(num_workers=1, progress=False)
    before, old_key = old[0]["image"], old.cache_key()
    stat = path.stat()
    cv2.imwrite(str(path), 255 - cv2.imread(str(path)))  # same size on disk is possible: set the time too
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    new = PoseDataset([sample], (64, 64), cache=True, cache_dir=tmp_path / "cache")
    assert new.cache_key() != old_key and not new.cache_ready  # the old crops are not loaded
    after = new[0]["image"]
    fresh = PoseDataset([sample], (64, 64), cache=False)[0]["image"]
    assert mean_abs_diff(after, fresh) < 1.0 and mean_abs_diff(after, before) > 10.0


def test_missing_image_error_names_file(tmp_path) -> None:
    bad = tmp_path / "nope.jpg"
    s = Sample(image_path=bad, skeleton=LSP14, people=[person(frontal_person())])
    with pytest.raises(FileNotFoundError, match="nope.jpg"):
        PoseDataset([s], (64, 64), cache=True)[0]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    s = Sample(image_path=broken, skeleton=LSP14, people=[person(frontal_person())])
    with pytest.raises(ValueError, match="broken.jpg"):
        PoseDataset([s], (64, 64), cache=False)[0]


def test_workers_get_different_augmentations(synthetic) -> None:
    same = [synthetic[1]] * 4
    aug = TopDownAugment((64, 64), rng=0)
    ds = PoseDataset(same, (64, 64), augment=aug, encode=HeatmapEncodeStub((64, 64)).encode)
    ds.build_cache(progress=False)
    loader = torch.utils.data.DataLoader(ds, batch_size=1, num_workers=2, worker_init_fn=worker_init_fn)
    mats = [b["matrix"][0] for b in loader]
    assert len(mats) == 4 and "heatmaps" in next(iter(loader))
    # items 0 and 1 go to different workers; without per-worker reseeding they would be identical
    assert not torch.equal(mats[0], mats[1])


def test_lsp_real_images(data_root, tmp_path) -> None:
    samples = lsp_samples(data_root, 20)
    stub = HeatmapEncodeStub((128, 128))
    ev = PoseDataset(samples, (128, 128), encode=stub.encode, cache=True, cache_dir=tmp_path)
    raw = PoseDataset(samples, (128, 128), encode=stub.encode, cache=False)
    assert len(ev) == 20
    for i in range(20):
        item = ev[i]
        assert item["image"].shape == (3, 128, 128)
        kps = item["keypoints"].numpy()
        assert (kps[:, 2] > 0).all()  # LSP labels all 14 joints; the padded keypoint box holds them all
        assert (kps[:, :2] >= 0).all() and (kps[:, :2] <= 127).all()
        np.testing.assert_array_equal(kps[:, 2], np.where(samples[i].people[0].keypoints[:, 2] == 1, 1, 2))
        ref = raw[i]
        torch.testing.assert_close(item["keypoints"], ref["keypoints"], rtol=0, atol=0)
        assert mean_abs_diff(item["image"], ref["image"]) < 4.0, i
    aug = PoseDataset(samples, (128, 128), encode=stub.encode, augment=TopDownAugment((128, 128), rng=0),
                      cache=True, cache_dir=tmp_path)
    assert aug.cache_ready  # same crops as the evaluation dataset: shared cache file
    for i in range(20):
        kps = aug[i]["keypoints"].numpy()
        vis = kps[:, 2] > 0
        assert vis.sum() >= 7
        assert (kps[vis, :2] >= -0.5).all() and (kps[vis, :2] < 127.5).all()


def test_pasted_occluders_hide_joints_that_stay_labelled(data_root) -> None:
    from posekit.data import load

    samples = load("lsp", data_root / "lsp", split="train")[:30]
    aug = TopDownAugment(output_size=(96, 96), rotation_deg=0, flip_prob=0, brightness=0, contrast=0, saturation=0,
                         scale_range=(1.0, 1.0), translate_frac=0)
    plain = PoseDataset(samples, (96, 96), augment=aug, cache=False)
    occluded = PoseDataset(samples, (96, 96), augment=aug, cache=False, occlude_prob=1.0)
    hidden = changed = 0
    for i in range(30):
        a = plain.get(i, np.random.default_rng(i))
        b = occluded.get(i, np.random.default_rng(i))
        changed += int((a["image"] != b["image"]).any())
        va, vb = a["keypoints"][:, 2], b["keypoints"][:, 2]
        assert torch.equal(a["keypoints"][:, :2], b["keypoints"][:, :2])  # labels never move
        assert torch.equal(va > 0, vb > 0)  # nor disappear
        hidden += int(((va == 2) & (vb == 1)).sum())
    assert changed >= 25 and hidden > 0


def test_border_cut_blanks_one_side_and_unlabels_its_joints(data_root) -> None:
    """A person cut by an image edge: the crop beyond the cut is black and the joints there unlabelled;
    every joint left labelled sits on kept pixels."""
    from posekit.data import load

    samples = load("lsp", data_root / "lsp", split="train")[:30]

    def black_share_and_lost(prob: float) -> tuple[float, int]:
        aug = TopDownAugment(output_size=(96, 96), rotation_deg=30, flip_prob=0.5, brightness=0, contrast=0,
                             saturation=0, border_cut_prob=prob)
        ds = PoseDataset(samples, (96, 96), augment=aug, cache=False)
        share, lost = 0.0, 0
        for i in range(len(samples)):
            item = ds.get(i, np.random.default_rng(i))
            pixels = (item["image"] * torch.tensor(IMAGENET_STD)[:, None, None]
                      + torch.tensor(IMAGENET_MEAN)[:, None, None]) * 255
            black = (pixels.abs() < 0.5).all(0).numpy()
            kps = item["keypoints"].numpy()
            labelled = kps[:, 2] > 0
            xy = np.rint(kps[labelled, :2]).astype(int)
            assert not black[xy[:, 1], xy[:, 0]].any()  # no labelled joint on a blanked pixel
            share += black.mean() / len(samples)
            lost += int((samples[i].people[0].keypoints[:, 2] > 0).sum() - labelled.sum())
        return share, lost

    _, plain_lost = black_share_and_lost(0.0)
    _, cut_lost = black_share_and_lost(1.0)
    assert cut_lost > plain_lost + 60


def test_apply_cut_blanks_exactly_the_image_half_plane() -> None:
    """Through a rotating, scaling, mirroring image -> crop matrix, the blanked crop pixels are those whose
    image point lies beyond the cut, and only the joints there lose their label."""
    from posekit.data.dataset import _apply_cut
    from posekit.data.transforms import affine_matrix, apply_affine

    M = affine_matrix(np.array([50.0, 60.0]), np.array([80.0, 80.0]), (64, 64), rotation_deg=25.0, flip=True)
    crop = np.full((64, 64, 3), 200, np.uint8)
    joints_image = np.array([[50.0, 40.0], [50.0, 75.0], [30.0, 90.0]])
    kps = np.concatenate([apply_affine(joints_image, M), np.full((3, 1), 2.0)], axis=1)
    out, out_kps = _apply_cut(crop, kps, M, np.array([0.0, 1.0, 70.0]))  # image y > 70 is gone
    ys, xs = np.mgrid[0:64, 0:64]
    A = np.vstack([M, [0, 0, 1]])
    image_points = apply_affine(np.stack([xs.ravel(), ys.ravel()], 1).astype(float), np.linalg.inv(A)[:2])
    gone = (image_points[:, 1] > 70).reshape(64, 64)
    assert 0.1 < gone.mean() < 0.9
    assert (out[gone] == 0).all() and (out[~gone] == 200).all()
    assert out_kps[:, 2].tolist() == [2.0, 0.0, 0.0]
