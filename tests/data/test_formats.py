"""Dataset readers on the real files in ../shared/datasets, and on small broken files written here."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io

from posekit.data import FORMATS, DataError, load, parse_spec, stats
from posekit.data.formats.coco import CROWDPOSE14, skeleton_from_names
from posekit.skeletons import COCO17, H3D20, JHMDB15, LSP14, MPII16
from posekit.types import Sample


def _check_records(samples: list[Sample]) -> None:
    """Invariants every reader promises (posekit.types)."""
    for s in samples:
        assert isinstance(s.image_path, Path)
        k = s.skeleton.num_joints
        for p in s.people:
            assert p.keypoints.shape == (k, 3) and p.keypoints.dtype == np.float64
            assert p.box.shape == (4,) and p.box.dtype == np.float64
            v = p.keypoints[:, 2]
            assert np.isin(v, (0, 1, 2)).all()
            assert (p.keypoints[v == 0, :2] == 0).all()
            assert np.isfinite(p.keypoints[v > 0, :2]).all()


# ------------------------------------------------------------------------------------------- LSP
def test_lsp_standard_split(data_root: Path) -> None:
    train = load("lsp", data_root / "lsp", split="train")
    test = load("lsp", data_root / "lsp", split="test")
    assert len(train) == len(test) == 1000
    assert sum(len(s.people) for s in train) == sum(len(s.people) for s in test) == 1000
    assert train[0].image_path.name == "im0001.jpg" and train[0].image_id == 1
    assert test[0].image_path.name == "im1001.jpg" and test[-1].image_path.name == "im2000.jpg"
    assert all(s.skeleton is LSP14 and s.people[0].keypoints.shape == (14, 3) for s in test)
    v = np.stack([s.people[0].keypoints[:, 2] for s in test])
    assert (v > 0).all()  # LSP labels every joint
    assert 0.06 <= (v == 1).mean() <= 0.09  # the file's flag 1 = occluded, ~7.5 % of the test joints
    _check_records(train + test)
    assert len(load("lsp", data_root / "lsp")) == 2000


def test_lsp_and_lspet_coordinates_are_not_shifted(data_root: Path) -> None:
    """The stored numbers are 0-based pixel centres already (measured: benchmarks/coordinate_origin.json),
    so the readers must pass them through unchanged -- no MATLAB-style "- 1"."""
    from scipy.io import loadmat

    raw = loadmat(data_root / "lsp" / "joints.mat")["joints"]  # (3, 14, 2000)
    s = load("lsp", data_root / "lsp", split="test")[0]
    np.testing.assert_array_equal(s.people[0].keypoints[:, :2], raw[:2, :, 1000].T)
    raw = loadmat(data_root / "lspet" / "joints.mat")["joints"]  # (14, 3, 10000)
    s = load("lspet", data_root / "lspet")[0]
    labelled = s.people[0].keypoints[:, 2] > 0
    np.testing.assert_array_equal(s.people[0].keypoints[labelled, :2], raw[labelled, :2, 0])


def test_lsp_box_is_tight_keypoint_box(data_root: Path) -> None:
    p = load("lsp", data_root / "lsp", split="test")[0].people[0]
    xy = p.keypoints[:, :2]
    np.testing.assert_allclose(p.box, [*xy.min(0), *(xy.max(0) - xy.min(0))])


def test_lspet_all(data_root: Path) -> None:
    samples = load("lspet", data_root / "lspet")
    assert len(samples) == 10_000
    assert samples[0].image_path.name == "im00001.jpg" and samples[-1].image_path.name == "im10000.jpg"
    v = np.stack([s.people[0].keypoints[:, 2] for s in samples])
    assert not (v == 1).any()  # flag 0 means "not labelled" in LSPet, never "occluded"
    assert (v == 0).sum() == 16_787
    assert 0.87 < (v == 2).mean() < 0.89
    # image 3: R wrist, R elbow, R shoulder carry the image origin (-53.3, 0) in the file -> unlabelled
    assert (samples[2].people[0].keypoints[6:9] == 0).all()
    _check_records(samples[:500])
    assert len(load("lspet", data_root / "lspet", split="train")) == 10_000


# ------------------------------------------------------------------------------------------ COCO
def test_coco_mini_people_with_keypoints(data_root: Path) -> None:
    counts = {}
    for split in ("val2017", "train2017"):
        samples = load("coco", data_root / "coco_mini", split=split)
        _check_records(samples)
        people = [p for s in samples for p in s.people]
        counts[split] = sum(1 for p in people if p.num_labelled > 0 and not p.is_crowd)
        assert all(s.skeleton is COCO17 and s.image_path.is_file() for s in samples)
        assert any(p.is_crowd for p in people) and any(p.num_labelled == 0 for p in people)  # kept, marked
        assert all(p.area is not None and p.area > 0 for p in people)
    assert counts == {"val2017": 68, "train2017": 86}
    assert len(load("coco", data_root / "coco_mini", split="val")) == 79  # "val" finds val2017
    st = stats(load("coco", data_root / "coco_mini"))
    assert st["images"] == 159 and st["people_with_keypoints"] == 154


COCO_FIXTURES = [
    # (path under fixtures/, images, people, skeleton name)
    ("coco/test_coco.json", 4, 14, "coco17"),
    ("coco/test_coco_wholebody.json", 4, 14, "coco17"),
    ("crowdpose/test_crowdpose.json", 2, 5, "crowdpose14"),
    ("ochuman/test_ochuman.json", 3, 5, "coco17"),
    ("aic/test_aic.json", 3, 9, "custom14"),
    ("mhp/test_mhp.json", 2, 4, "mpii16"),
    ("posetrack18/annotations/test_posetrack18_val.json", 3, 14, "custom17"),
    ("posetrack18/annotations/val/003418_mpii_test.json", 1, 1, "custom17"),
]


@pytest.mark.parametrize("rel,n_images,n_people,skeleton", COCO_FIXTURES)
def test_coco_format_fixtures(data_root: Path, rel: str, n_images: int, n_people: int, skeleton: str) -> None:
    samples = load("coco", data_root / "fixtures" / rel)
    assert len(samples) == n_images
    assert sum(len(s.people) for s in samples) == n_people
    assert {s.skeleton.name for s in samples} == {skeleton}
    assert all(s.image_path.is_file() for s in samples)  # PoseTrack's images/val/... two levels up
    _check_records(samples)


def test_coco_declared_skeletons(data_root: Path) -> None:
    crowd = load("coco", data_root / "fixtures/crowdpose/test_crowdpose.json")[0].skeleton
    assert crowd is CROWDPOSE14 and crowd.oks_sigmas is not None
    assert crowd.joints[crowd.torso[0]] == "left_shoulder" and crowd.joints[crowd.torso[1]] == "right_hip"
    aic = load("coco", data_root / "fixtures/aic/test_aic.json")[0].skeleton
    assert aic.joints[0] == "right_shoulder" and aic.joints[12] == "head_top"  # "Head top" snake-cased
    assert (2, 1) in aic.limbs  # declared [3, 2] one-based
    track = load("coco", data_root / "fixtures/posetrack18/annotations/test_posetrack18_val.json")[0]
    assert track.skeleton.joints[1] == "head_bottom"
    assert track.people[0].extra["track_id"] == 0
    # declared limbs out of range (CrowdPose's fixture copies COCO's): borrowed by name instead
    sk = skeleton_from_names(["Left Shoulder", "Right Shoulder", "Left Hip", "Right Hip"], [[1, 17]])
    assert sk.torso == (0, 3) and (0, 1) in sk.limbs


# ------------------------------------------------------------------------------------------ MPII
def test_mpii_valid_h5(data_root: Path) -> None:
    samples = load("mpii", data_root / "mpii", split="valid")
    people = [p for s in samples for p in s.people]
    assert len(people) == 2958 and len(samples) == 2729  # people grouped by image
    assert all(s.skeleton is MPII16 for s in samples)
    _check_records(samples)
    with h5py.File(data_root / "mpii" / "valid.h5") as f:
        normalize = f["normalize"][()]
        visible = f["visible"][()]
    # order of people == file order within each image; compare through the extra index/person ids
    hs = np.array([p.head_size for p in people])
    assert np.isclose(np.sort(hs), np.sort(normalize)).all()  # normalize is already 0.6 x diagonal
    ratio = hs / np.array([np.linalg.norm(p.keypoints[8, :2] - p.keypoints[9, :2]) or np.nan for p in people])
    assert 0.6 <= np.nanmin(ratio) and np.nanmax(ratio) < 1.0
    v = np.stack([p.keypoints[:, 2] for p in people])
    assert (v == 1).sum() == 10_243 and (v == 0).sum() == 3088 and (v == 2).sum() == (visible == 1).sum()
    assert {"center", "scale"} <= set(people[0].extra)
    # images are not required for the h5 kind; the 5 at hand resolve next to the file
    assert samples[0].image_path == data_root / "mpii" / "005808361.jpg" and samples[0].image_path.is_file()


def test_mpii_default_split_and_file_root(data_root: Path) -> None:
    assert sum(len(s.people) for s in load("mpii", data_root / "mpii")) == 2958  # valid.h5
    assert sum(len(s.people) for s in load("mpii", data_root / "mpii" / "valid.h5")) == 2958
    with pytest.raises(ValueError, match="split"):
        load("mpii", data_root / "mpii" / "valid.h5", split="train")


def test_mpii_json_matches_h5(data_root: Path) -> None:
    test = load("mpii", data_root / "mpii", split="test")  # -> test_mpii.json
    assert len(test) == 5 and all(s.image_path.is_file() for s in test)
    _check_records(test)
    valid = {s.image_id: s for s in load("mpii", data_root / "mpii", split="valid")}
    for s in test:
        pj, ph = s.people[0], valid[s.image_id].people[0]
        assert pj.head_size is None and "center" in pj.extra
        lab = pj.keypoints[:, 2] > 0
        np.testing.assert_array_equal(lab, ph.keypoints[:, 2] > 0)
        # the h5 converter truncated coordinates to integers
        assert np.abs(pj.keypoints[lab, :2] - ph.keypoints[lab, :2]).max() < 1.0


def test_mpii_official_mat(data_root: Path) -> None:
    root = data_root / "fixtures" / "mpii_official_mat"
    samples = load("mpii", root)
    assert [s.image_id for s in samples] == ["000000001.jpg", "000000002.jpg", "000000003.jpg"]
    assert [len(s.people) for s in samples] == [1, 1, 2]
    _check_records(samples)
    p = samples[0].people[0]
    x1, y1, x2, y2 = 615, 218.65, 903.4, 505.6
    assert p.head_size == pytest.approx(0.6 * np.hypot(x2 - x1, y2 - y1))
    assert p.keypoints[3, 2] == 1 and p.keypoints[0, 2] == 2  # is_visible 0 -> occluded
    np.testing.assert_allclose(p.extra["center"], [594, 257])
    assert p.extra["scale"] == pytest.approx(3.021)
    with pytest.raises(DataError, match="img_train"):  # the cut-down file has no split flags
        load("mpii", root / "mpii_human_pose_v1_u12_1.mat", split="train")


# ----------------------------------------------------------------------------------------- JHMDB
def test_jhmdb_clip(data_root: Path) -> None:
    samples = load("jhmdb", data_root / "jhmdb_sample")
    assert len(samples) == 40
    assert all(s.skeleton is JHMDB15 and len(s.people) == 1 for s in samples)
    assert all(s.image_path.is_file() for s in samples)
    assert samples[0].image_path.name == "00001.png" and samples[-1].image_path.name == "00040.png"
    pos = scipy.io.loadmat(data_root / "jhmdb_sample" / "joint_positions.mat")["pos_img"]
    np.testing.assert_array_equal(samples[7].people[0].keypoints[:, :2], pos[:, :, 7].T)
    assert all((s.people[0].keypoints[:, 2] == 2).all() for s in samples)
    kp = samples[0].people[0].keypoints  # facing the camera: person-centric right is on the image left
    assert kp[JHMDB15.index("right_shoulder"), 0] < kp[JHMDB15.index("left_shoulder"), 0]
    from_file = load("jhmdb", data_root / "jhmdb_sample" / "joint_positions.mat")
    assert from_file[3].image_id == samples[3].image_id


def test_jhmdb_json(data_root: Path) -> None:
    samples = load("jhmdb", data_root / "fixtures" / "jhmdb")
    assert len(samples) == 3 and all(s.skeleton is JHMDB15 for s in samples)  # declared names == JHMDB15
    assert all(s.image_path.is_file() for s in samples)
    _check_records(samples)


# -------------------------------------------------------------------------------------- Poselets
def test_poselets_xml(data_root: Path) -> None:
    samples = load("poselets", data_root / "fixtures" / "poselets")
    assert [s.image_id for s in samples] == ["2008_000003", "2008_000008"]
    assert all(s.skeleton is H3D20 and len(s.people) == 1 for s in samples)
    _check_records(samples)
    a, b = samples[0].people[0], samples[1].people[0]
    np.testing.assert_allclose(a.box, [62, 190, 21, 53])  # visible_bounds
    assert a.num_labelled == 8 and b.num_labelled == 14
    assert b.keypoints[H3D20.index("right_knee"), 2] == 1  # visible="0"
    np.testing.assert_allclose(b.keypoints[H3D20.index("back_head")], [200.04, 54.93, 2])
    np.testing.assert_allclose(b.keypoints[H3D20.index("left_toes")], [259.56, 189.26, 2])
    assert b.keypoints[H3D20.index("right_toes"), 2] == 0
    assert samples[1].image_path == data_root / "fixtures/poselets/JPEGImages/2008_000008.jpg"
    assert load("poselets", data_root / "fixtures/poselets/person")[1].image_id == "2008_000008"


# ----------------------------------------------------------------------------------- API, stats
def test_dispatch_and_spec() -> None:
    assert set(FORMATS) == {"lsp", "lspet", "mpii", "jhmdb", "coco", "poselets"}
    with pytest.raises(ValueError, match="known formats.*coco"):
        load("h36m", ".")
    assert parse_spec("lsp:../shared/datasets/lsp") == ("lsp", Path("../shared/datasets/lsp"))
    assert parse_spec("coco:C:/data/x.json") == ("coco", Path("C:/data/x.json"))
    for bad in ("lsp", "foo:bar", "lsp:"):
        with pytest.raises(ValueError):
            parse_spec(bad)
    with pytest.raises(ValueError, match="split"):
        load("lsp", ".", split="valid")


def test_stats(data_root: Path) -> None:
    st = stats(load("lsp", data_root / "lsp", split="test"))
    assert st["images"] == st["people"] == st["people_with_keypoints"] == 1000
    assert st["joints"] == st["labelled"] == 14_000 and st["crowd"] == 0
    assert st["occluded"] + st["visible"] == st["labelled"]
    assert st["occluded_fraction"] == pytest.approx(st["occluded"] / 14_000)
    assert st["skeletons"] == ["lsp14"]
    json.dumps(st)  # plain types


# ------------------------------------------------------------------------------------ bad input
def _lsp_folder(tmp_path: Path, joints: np.ndarray, n_images: int, width: int = 4) -> Path:
    (tmp_path / "images").mkdir()
    for i in range(1, n_images + 1):
        (tmp_path / "images" / f"im{i:0{width}d}.jpg").write_bytes(b"")
    scipy.io.savemat(tmp_path / "joints.mat", {"joints": joints})
    return tmp_path


def _lsp_joints(n: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    j = np.zeros((3, 14, n))
    j[:2] = rng.uniform(10, 100, (2, 14, n))
    return j


def test_bad_lsp_nan_names_image_and_joint(tmp_path: Path) -> None:
    j = _lsp_joints(20)
    j[0, 3, 16] = np.nan  # image 17, joint 3
    root = _lsp_folder(tmp_path, j, 20)
    with pytest.raises(DataError, match=r"joints\.mat: image 17 \(im0017\.jpg\) joint 3 \(left_hip\)"):
        load("lsp", root)


def test_bad_lsp_shapes(tmp_path: Path) -> None:
    root = _lsp_folder(tmp_path, np.zeros((3, 13, 5)), 5)
    with pytest.raises(DataError, match=r"joints\.mat: variable 'joints': shape \(3, 13, 5\)"):
        load("lsp", root)
    scipy.io.savemat(root / "joints.mat", {"joints": np.zeros((14, 3, 5))})
    with pytest.raises(DataError, match="use format 'lspet'"):
        load("lsp", root)
    scipy.io.savemat(root / "joints.mat", {"joints": _lsp_joints(5)})
    with pytest.raises(DataError, match="use format 'lsp'"):
        load("lspet", root)
    scipy.io.savemat(root / "joints.mat", {"other": np.zeros(3)})
    with pytest.raises(DataError, match="variable 'joints'"):
        load("lsp", root)


def test_bad_lsp_flag_and_missing_image(tmp_path: Path) -> None:
    j = _lsp_joints(6)
    j[2, 5, 4] = 3
    root = _lsp_folder(tmp_path, j, 6)
    with pytest.raises(DataError, match=r"image 5 \(im0005\.jpg\) joint 5.*flag"):
        load("lsp", root)
    j[2, 5, 4] = 1
    scipy.io.savemat(root / "joints.mat", {"joints": j})
    (root / "images" / "im0004.jpg").unlink()
    with pytest.raises(DataError, match=r"joints\.mat: image 4 \(im0004\.jpg\).*im0004\.jpg does not exist"):
        load("lsp", root)
    assert len(load("lsp", root, check_images=False)) == 6


def test_bad_mat_bytes(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "joints.mat").write_bytes(b"MATLAB 5.0 MAT-file, but then garbage" + bytes(range(256)))
    with pytest.raises(DataError, match=r"joints\.mat: whole file: cannot read MATLAB file"):
        load("lsp", tmp_path)
    bad = tmp_path / "mpii_human_pose_v1_u12_1.mat"
    bad.write_bytes(b"not a mat file at all")
    with pytest.raises(DataError, match="mpii_human_pose_v1_u12_1.mat"):
        load("mpii", bad)


def _coco(tmp_path: Path, anns: list[dict], images: list[dict] | None = None, touch: bool = True) -> Path:
    images = images if images is not None else [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}]
    if touch:
        for im in images:
            (tmp_path / im["file_name"]).write_bytes(b"")
    cat = {"id": 1, "name": "person", "keypoints": list(COCO17.joints), "skeleton": [[1, 2]]}
    path = tmp_path / "ann.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": [cat]}))
    return path


def _ann(**kw) -> dict:
    a = {"id": 7, "image_id": 1, "category_id": 1, "keypoints": [0] * 51, "bbox": [0, 0, 5, 5], "iscrowd": 0}
    a.update(kw)
    return a


def test_bad_coco(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"images": [1, 2,')
    with pytest.raises(DataError, match=r"broken\.json: line 1 column \d+: malformed JSON"):
        load("coco", path)
    with pytest.raises(DataError, match=r"ann\.json: annotation id 7 \(image id 1\): 48 keypoint values"):
        load("coco", _coco(tmp_path, [_ann(keypoints=[0] * 48)]))
    kp = [0] * 51
    kp[3 * 5: 3 * 5 + 3] = [1, 2, 5]
    with pytest.raises(DataError, match=r"annotation id 7 .* keypoint 5 \(left_shoulder\): visibility 5"):
        load("coco", _coco(tmp_path, [_ann(keypoints=kp)]))
    kp[3 * 5: 3 * 5 + 3] = [float("nan"), 2, 2]
    with pytest.raises(DataError, match=r"keypoint 5 \(left_shoulder\): NaN coordinates"):
        load("coco", _coco(tmp_path, [_ann(keypoints=kp)]))
    with pytest.raises(DataError, match="image id that 'images' does not list"):
        load("coco", _coco(tmp_path, [_ann(image_id=99)]))
    missing = [{"id": 1, "file_name": "gone.jpg"}]
    with pytest.raises(DataError, match=r"ann\.json: image id 1 \(gone\.jpg\): image file gone\.jpg not"):
        load("coco", _coco(tmp_path, [_ann()], images=missing, touch=False))
    ok = load("coco", _coco(tmp_path, [_ann(iscrowd=1)], images=missing, touch=False), check_images=False)
    assert ok[0].people[0].is_crowd and ok[0].people[0].num_labelled == 0


def test_bad_mpii(tmp_path: Path) -> None:
    h5 = tmp_path / "valid.h5"
    with h5py.File(h5, "w") as f:
        f["part"] = np.zeros((3, 15, 2))
        f["visible"] = np.zeros((3, 16))
        f["center"] = np.zeros((3, 2))
        f["scale"] = f["normalize"] = np.ones(3)
        f["imgname"] = np.array([b"a.jpg"] * 3)
    with pytest.raises(DataError, match=r"valid\.h5: dataset 'part': shape \(3, 15, 2\)"):
        load("mpii", tmp_path, split="valid")
    with h5py.File(h5, "r+") as f:
        del f["part"]
        part = np.ones((3, 16, 2))
        part[1, 4] = np.nan
        f["part"] = part
        f["visible"][1, 4] = 1
    with pytest.raises(DataError, match=r"valid\.h5: row 1 \(a\.jpg\) joint 4 \(left_knee\): NaN"):
        load("mpii", h5)
    js = tmp_path / "test_mpii.json"
    js.write_text(json.dumps([{"image": "a.jpg", "joints": [[1, 2]] * 15, "joints_vis": [1] * 16}]))
    with pytest.raises(DataError, match=r"test_mpii\.json: entry 0 \(a\.jpg\): joints shape \(15, 2\)"):
        load("mpii", js)
    js.write_text(json.dumps([{"image": "a.jpg", "joints": [[1, 2]] * 16, "joints_vis": [1] * 16}]))
    with pytest.raises(DataError, match=r"test_mpii\.json: entry 0 \(a\.jpg\): image file .*a\.jpg does not"):
        load("mpii", tmp_path, split="test")
    (tmp_path / "a.jpg").write_bytes(b"")
    assert load("mpii", tmp_path, split="test")[0].people[0].num_labelled == 16


def test_bad_jhmdb(tmp_path: Path) -> None:
    clip = tmp_path / "clip"
    clip.mkdir()
    scipy.io.savemat(tmp_path / "joint_positions.mat", {"pos_img": np.ones((2, 14, 3))})
    with pytest.raises(DataError, match=r"joint_positions\.mat: variable 'pos_img': shape \(2, 14, 3\)"):
        load("jhmdb", tmp_path)
    scipy.io.savemat(tmp_path / "joint_positions.mat", {"pos_img": np.ones((2, 15, 3))})
    for t in (1, 2):
        (clip / f"{t:05d}.png").write_bytes(b"")
    with pytest.raises(DataError, match=r"joint_positions\.mat: frame 3: image file .*00003\.png does not"):
        load("jhmdb", tmp_path)
    (clip / "00003.png").write_bytes(b"")
    assert [s.image_id for s in load("jhmdb", tmp_path)] == ["clip/00001", "clip/00002", "clip/00003"]


def test_bad_poselets(tmp_path: Path) -> None:
    person = tmp_path / "person"
    person.mkdir()
    xml = person / "x_0.xml"
    xml.write_text("<annotation><image>x</image><keypoints><keypoint name='L_Hip'")
    with pytest.raises(DataError, match=r"x_0\.xml: line 1 column \d+: malformed XML"):
        load("poselets", tmp_path)
    body = "<annotation><image>x</image><keypoints>{}</keypoints></annotation>"
    xml.write_text(body.format('<keypoint name="L_Tail" visible="1" x="1" y="2"/>'))
    with pytest.raises(DataError, match=r"x_0\.xml: keypoint 'L_Tail': not an H3D keypoint"):
        load("poselets", tmp_path)
    xml.write_text(body.format('<keypoint name="L_Hip" visible="1" x="nan" y="2"/>'))
    with pytest.raises(DataError, match=r"x_0\.xml: keypoint 'L_Hip': .*NaN"):
        load("poselets", tmp_path)
    xml.write_text(body.format('<keypoint name="L_Hip" visible="0" x="1" y="2"/>'))
    s = load("poselets", tmp_path)
    assert s[0].people[0].keypoints[H3D20.index("left_hip")].tolist() == [1, 2, 1]
    with pytest.raises(DataError, match=r"x_0\.xml: <image> x: image file .*x\.jpg does not exist"):
        load("poselets", tmp_path, check_images=True)


def test_data_error_is_value_error() -> None:
    e = DataError("lsp/joints.mat", "image 17 joint 3", "NaN coordinates")
    assert isinstance(e, ValueError)
    assert str(e) == "lsp/joints.mat: image 17 joint 3: NaN coordinates"
    import pickle

    assert str(pickle.loads(pickle.dumps(e))) == str(e)


def test_mpii_coordinates_are_not_shifted(data_root: Path) -> None:
    """valid.h5 holds 0-based pixel centres (measured: benchmarks/coordinate_origin.json, "MPII"): the
    reader passes them through -- no MATLAB-style "- 1"."""
    import h5py

    with h5py.File(data_root / "mpii" / "valid.h5", "r") as f:
        part, names = f["part"][:], [n.decode() if isinstance(n, bytes) else str(n) for n in f["imgname"][:]]
    samples = load("mpii", data_root / "mpii", split="valid", check_images=False)
    person = samples[0].people[0]
    row = names.index(samples[0].image_path.name)
    labelled = person.keypoints[:, 2] > 0
    assert labelled.sum() >= 8
    np.testing.assert_array_equal(person.keypoints[labelled, :2], part[row][labelled])
