"""BottomUpDataset: PAF targets of every person, and loss masks that never teach an unannotated person as
background (module docstring of posekit.data.bottomup)."""

import dataclasses

import numpy as np
import pytest

from posekit.codecs.paf import PAFCodec, skeleton_limbs
from posekit.data import convert_samples, load
from posekit.data.bottomup import BottomUpDataset, box_cells
from posekit.data.compose import SceneComposer, read_backgrounds
from posekit.data.dataset import read_image
from posekit.data.detection import PARTIAL_CONTEXT
from posekit.preprocess import letterbox_matrix
from posekit.skeletons import COCO17, LSP14
from posekit.types import box_from_keypoints


def _codec(skeleton=LSP14, size=96, grid=24):
    return PAFCodec((size, size), (grid, grid), limbs=skeleton_limbs(skeleton), limb_width=4.0, sigma=1.0)


def test_box_cells():
    # stride 4: cell i covers input x in [4 i - 0.5, 4 i + 3.5]; [10, 30] overlaps cells 2 .. 7
    rows, cols = box_cells(np.array([10.0, 0.0, 20.0, 200.0]), (96, 96), (24, 24))
    assert (cols.start, cols.stop) == (2, 8) and (rows.start, rows.stop) == (0, 24)
    rows, cols = box_cells(np.array([10.0, 9.0, 1.0, 1.0]), (96, 96), (24, 24))
    assert (cols.start, cols.stop) == (2, 3) and (rows.start, rows.stop) == (2, 3)  # a tiny box: its own cell
    rows, cols = box_cells(np.array([200.0, 200.0, 5.0, 5.0]), (96, 96), (24, 24))
    assert cols.start == cols.stop  # outside the grid: no cell


def test_single_person_photos_are_supervised_only_around_their_person(data_root):
    sample = load("lsp", data_root / "lsp", split="train")[0]
    codec = _codec()
    ds = BottomUpDataset(codec, keypoint_only=[sample], augment=False)
    item = ds.get(0)
    k, limbs = 14, len(codec.limbs)
    assert item["image"].shape == (3, 96, 96)
    assert item["heatmaps"].shape == (k, 24, 24) and item["pafs"].shape == (limbs, 2, 24, 24)
    assert item["heatmap_mask"].shape == (k, 24, 24) and item["paf_mask"].shape == (limbs, 24, 24)
    # every joint of the LSP person labelled: one mask for all channels, 1 inside the grown extent box only
    mask = item["heatmap_mask"].numpy()
    assert (mask == mask[0]).all() and (item["paf_mask"].numpy() == mask[0]).all()
    (person,) = ds.ground_truth(0)  # its box: the keypoint extent (compose.extent_box), in input pixels
    centre = person.box[:2] + person.box[2:] / 2
    ys, xs = np.nonzero(mask[0])
    cx, cy = (xs + 0.5) * 4 - 0.5, (ys + 0.5) * 4 - 0.5
    half = PARTIAL_CONTEXT * person.box[2:] / 2 + 4  # + a cell that the grown box overlaps
    assert (np.abs(cx - centre[0]) <= half[0]).all() and (np.abs(cy - centre[1]) <= half[1]).all()
    assert 0 < mask[0].mean() < 1
    # the targets lie inside the supervised region: the person's joints are positives
    hm = item["heatmaps"].numpy()
    assert (hm.max(axis=(1, 2)) > 0.8).all()  # peaks off the cell centres
    assert (hm * (1 - mask)).max() < 0.05


def test_an_unlabelled_joint_is_unsupervised_in_its_map_and_limbs_near_its_person(data_root):
    sample = load("lspet", data_root / "lspet")[0]
    missing = np.flatnonzero(sample.people[0].keypoints[:, 2] == 0)
    assert len(missing)
    codec = _codec()
    item = BottomUpDataset(codec, partial=[sample], augment=False).get(0)
    hm_mask, paf_mask = item["heatmap_mask"].numpy(), item["paf_mask"].numpy()
    labelled = [j for j in range(14) if j not in missing]
    assert hm_mask[labelled[0]].sum() > 0
    for j in missing:
        assert hm_mask[j].sum() == 0
    for li, (a, b) in enumerate(codec.limbs):
        if a in missing or b in missing:
            assert paf_mask[li].sum() == 0
        else:
            assert np.array_equal(paf_mask[li], hm_mask[labelled[0]])


def test_composed_scenes_are_supervised_everywhere_and_hold_every_person(data_root):
    people = load("lsp", data_root / "lsp", split="train")[:20]
    composer = SceneComposer(people, read_backgrounds(data_root / "backgrounds"))
    codec = _codec(size=128, grid=32)
    ds = BottomUpDataset(codec, composer=composer, num_scenes=6, augment=False)
    counts = []
    for i in range(len(ds)):
        item = ds.get(i)
        assert ds.kind(i) == "scene"
        assert item["heatmap_mask"].numpy().min() == 1 and item["paf_mask"].numpy().min() == 1
        gt = ds.ground_truth(i)
        counts.append(len(gt))
        for p in gt:  # area for OKS: the keypoint box enlarged x 1.25 (PROTOCOLS.md "Multi-person")
            box = box_from_keypoints(p.keypoints)
            assert p.area == pytest.approx(box[2] * box[3] * 1.25**2)
        # the same scene twice without augmentation (validation is reproducible)
        assert np.array_equal(item["heatmaps"].numpy(), ds.get(i)["heatmaps"].numpy())
    assert max(counts) >= 2


def test_coco_photos_mask_crowds_and_people_without_keypoints(data_root):
    samples = convert_samples(load("coco", data_root / "fixtures" / "coco" / "test_coco.json"), LSP14)
    sample = next(s for s in samples if s.image_path.name == "000000040083.jpg")
    crowd = dataclasses.replace(sample.people[0], is_crowd=True)
    sample = dataclasses.replace(sample, people=[crowd, *sample.people[1:]])
    codec = _codec(size=128, grid=32)
    ds = BottomUpDataset(codec, annotated=[sample], augment=False)
    item = ds.get(0)
    M = letterbox_matrix(read_image(sample.image_path).shape[1::-1], codec.input_size)
    mask = item["heatmap_mask"].numpy()
    people = ds._in_input(sample, "annotated", M)
    for p in people:
        cells = box_cells(p.box, codec.input_size, codec.heatmap_size)
        if p.is_crowd or not p.num_labelled:
            assert mask[(slice(None), *cells)].max() == 0
    # COCO-17 has no neck or head top: unsupervised around the annotated person, supervised far away
    neck = LSP14.joints.index("neck")
    person = next(p for p in people if not p.is_crowd and p.num_labelled)
    assert mask[(neck, *box_cells(person.box, codec.input_size, codec.heatmap_size))].max() == 0
    assert mask[neck].max() == 1
    # the crowd person's joints are no target
    assert ds.ground_truth(0)[0].is_crowd


def test_mirroring_swaps_left_and_right(data_root):
    sample = load("lsp", data_root / "lsp", split="train")[3]
    ds = BottomUpDataset(_codec(), keypoint_only=[sample], augment=False)
    size = read_image(sample.image_path).shape[1::-1]
    plain = ds._in_input(sample, "keypoints", letterbox_matrix(size, (96, 96)))[0].keypoints
    mirrored = ds._in_input(sample, "keypoints", letterbox_matrix(size, (96, 96), flip=True))[0].keypoints
    flip = np.asarray(LSP14.flip_index)
    np.testing.assert_allclose(mirrored[:, 0], 95 - plain[flip, 0])
    np.testing.assert_allclose(mirrored[:, 1], plain[flip, 1])


def test_coco17_skeleton_works_too(data_root):
    samples = load("coco", data_root / "fixtures" / "coco" / "test_coco.json")
    ds = BottomUpDataset(_codec(COCO17, 128, 32), annotated=samples, augment=True)
    item = ds.get(1, np.random.default_rng(0))
    assert item["heatmaps"].shape == (17, 32, 32) and item["pafs"].shape == (len(COCO17.limbs), 2, 32, 32)
