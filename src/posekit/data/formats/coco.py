"""COCO keypoints JSON, and the datasets that reuse it (CrowdPose, OCHuman, AI Challenger, MHP, PoseTrack18,
JHMDB's JSON form...).

File: ``{"images": [{id, file_name, width, height}], "annotations": [{id, image_id, category_id,
keypoints: [x, y, v] * K, num_keypoints, bbox: [x, y, w, h], area, iscrowd}], "categories": [{id, name,
keypoints: [names], skeleton: [[a, b] 1-based]}]}``. Only annotations of the category that declares
``keypoints`` are read. ``v`` follows the COCO convention (0 not labelled, 1 labelled occluded, 2
visible); any other value is a DataError. PoseTrack18 writes v = 1 for every labelled joint (it does
not annotate visibility); the values are kept as the file has them.

Skeleton, from the category's keypoint names (snake-cased: ``"Right Shoulder"`` -> ``right_shoulder``):
the names of a posekit skeleton (COCO17, MPII16 for MHP, LSP14, JHMDB15, H3D20) give that skeleton;
CrowdPose's 14 names give :data:`CROWDPOSE14` (with CrowdPose's OKS sigmas); any other list gives a new
:class:`~posekit.skeletons.Skeleton` (:func:`skeleton_from_names`): limbs from the category's 1-based
``skeleton`` when every index is in range, else the limbs known skeletons draw between joints of the
same names; torso = (left_shoulder, right_hip) when both exist, else (0, 1).

People: every annotation is kept -- crowd regions (``is_crowd=True``) and people without a labelled
keypoint (``num_labelled == 0``) too, so evaluation can ignore them and training can filter them.
box = the annotation's ``bbox``, else the tight keypoint box; area = ``area`` (None when absent, as in
CrowdPose and AI Challenger); ``extra`` keeps ``id``, ``num_keypoints`` and, when present, ``track_id``,
``bbox_head``, ``face_box``. One Sample per entry of ``images`` (also those without people), image_id =
the COCO image id, image_size = (width, height) when given.

Images are found relative to the JSON: ``file_name`` is tried under the JSON's folder, its parent and
grandparent, and their ``images/`` subfolders (PoseTrack's ``images/val/...`` sits two levels above
its JSON); for a dataset folder also under ``<split>/`` and ``images/<split>/``. A missing image is a
DataError unless ``check_images=False``. Coordinates are kept as stored (COCO's own convention puts
the image's top-left *corner* at (0, 0); posekit does not shift them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from posekit.data.errors import DataError
from posekit.data.formats import ImageIndex, make_person, read_json, snake_case
from posekit.skeletons import COCO17, H3D20, JHMDB15, LSP14, MPII16, Skeleton
from posekit.types import Person, Sample

_CROWDPOSE_NAMES = ("left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
                    "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
                    "right_ankle", "head", "neck")

CROWDPOSE14 = Skeleton(
    name="crowdpose14",
    joints=_CROWDPOSE_NAMES,  # "head" is the top of the head
    limbs=((10, 8), (8, 6), (11, 9), (9, 7), (6, 7), (0, 6), (1, 7), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5),
           (12, 13), (0, 13), (1, 13)),
    torso=(0, 7),
    # CrowdPose's crowdposetools sigmas (COCO's for the shared joints, 0.79 / 10 for head and neck).
    oks_sigmas=(0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089,
                0.079, 0.079),
)

KNOWN_SKELETONS: tuple[Skeleton, ...] = (COCO17, MPII16, LSP14, JHMDB15, H3D20, CROWDPOSE14)
_EXTRA_KEYS = ("track_id", "bbox_head", "face_box")


def skeleton_from_names(names: list[str], limbs: list[list[int]] | None = None, name: str | None = None
                        ) -> Skeleton:
    """The skeleton for a category's declared keypoint ``names`` (any spelling; snake-cased here).

    A known skeleton when the snake-cased names equal its joints; else a new one named ``name``
    (default ``custom<K>``) with ``limbs`` (1-based pairs, as COCO's ``skeleton``) when all are in range,
    else limbs borrowed by joint name from the known skeletons. Raises ValueError on duplicate names.
    """
    joints = tuple(snake_case(n) for n in names)
    for known in KNOWN_SKELETONS:
        if joints == known.joints:
            return known
    k = len(joints)
    if len(set(joints)) != k:
        raise ValueError(f"duplicate keypoint names {list(joints)}")
    pairs: list[tuple[int, int]] = []
    declared_ok = limbs is not None and all(
        len(p) == 2 and all(isinstance(i, int) and 1 <= i <= k for i in p) for p in limbs)
    if declared_ok:
        pairs = [(int(a) - 1, int(b) - 1) for a, b in limbs]  # type: ignore[union-attr]
    else:
        for known in KNOWN_SKELETONS:
            for a, b in known.limbs:
                na, nb = known.joints[a], known.joints[b]
                if na in joints and nb in joints:
                    pair = (joints.index(na), joints.index(nb))
                    if pair not in pairs and pair[::-1] not in pairs:
                        pairs.append(pair)
    if "left_shoulder" in joints and "right_hip" in joints:
        torso = (joints.index("left_shoulder"), joints.index("right_hip"))
    else:
        torso = (0, 1 if k > 1 else 0)
    return Skeleton(name=name or f"custom{k}", joints=joints, limbs=tuple(pairs), torso=torso)


def load_coco(root: str | Path, split: str | None = None, *, check_images: bool = True) -> list[Sample]:
    """COCO-format keypoints.

    root: a dataset folder with ``annotations/person_keypoints_<split>.json`` and images in ``<split>/``
        (split ``"val2017"`` or just ``"val"``; None = every ``person_keypoints_*.json`` there, in name
        order), or one JSON file (``split`` must then be None or part of its name).
    """
    root = Path(root)
    if root.is_file():
        if split is not None and split not in root.stem:
            raise ValueError(f"coco: {root.name} is a single annotation file; split {split!r} does not "
                             "name it (pass split=None, or the dataset folder)")
        return load_coco_file(root, check_images=check_images)
    if not root.is_dir():
        raise FileNotFoundError(f"coco: no such file or folder {root}")
    ann_dir = root / "annotations" if (root / "annotations").is_dir() else root
    if split is None:
        files = sorted(ann_dir.glob("person_keypoints_*.json"))
        if not files:
            raise FileNotFoundError(f"coco: no person_keypoints_*.json in {ann_dir}")
    else:
        stems = [f"person_keypoints_{split}{year}" for year in ("", "2017", "2014")]
        found = [ann_dir / f"{s}.json" for s in stems if (ann_dir / f"{s}.json").is_file()]
        if not found:
            have = sorted(p.name for p in ann_dir.glob("person_keypoints_*.json"))
            raise FileNotFoundError(f"coco: no annotation file for split {split!r} in {ann_dir} "
                                    f"(looked for {[s + '.json' for s in stems]}; found {have})")
        files = found[:1]
    samples: list[Sample] = []
    for f in files:
        name = f.stem[len("person_keypoints_"):]
        dirs = [root / name, root / "images" / name, root / "images", root]
        samples.extend(load_coco_file(f, image_dirs=dirs, check_images=check_images))
    return samples


def load_coco_file(path: str | Path, *, image_dirs: list[Path] | None = None, check_images: bool = True
                   ) -> list[Sample]:
    """One COCO-format JSON file -> Samples (see the module docstring). ``image_dirs`` are tried before
    the default places around the JSON."""
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, dict):
        raise DataError(path, "whole file", f"expected a COCO object, got {type(data).__name__}")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise DataError(path, f"key {key!r}", "missing or not a list")
    skeleton, cat_ids = _category_skeleton(path, data["categories"])
    k = skeleton.num_joints

    samples: list[Sample] = []
    by_id: dict[Any, Sample] = {}
    locator = _ImageLocator(path, image_dirs)
    for i, im in enumerate(data["images"]):
        if not isinstance(im, dict) or "id" not in im or not isinstance(im.get("file_name"), str):
            raise DataError(path, f"images[{i}]", "needs 'id' and a string 'file_name'")
        rec = f"image id {im['id']} ({im['file_name']})"
        if im["id"] in by_id:
            raise DataError(path, rec, "duplicate image id")
        image_path = locator.find(im["file_name"], rec, check_images)
        try:
            size = (int(im["width"]), int(im["height"])) if "width" in im and "height" in im else None
        except (TypeError, ValueError):
            raise DataError(path, rec, "width / height are not integers") from None
        s = Sample(image_path=image_path, skeleton=skeleton, people=[], image_id=im["id"], image_size=size)
        by_id[im["id"]] = s
        samples.append(s)

    for i, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict):
            raise DataError(path, f"annotations[{i}]", "not an object")
        if "category_id" in ann and ann["category_id"] not in cat_ids:
            continue
        rec = f"annotation id {ann.get('id', f'#{i}')} (image id {ann.get('image_id')})"
        sample = by_id.get(ann.get("image_id"))
        if sample is None:
            raise DataError(path, rec, "refers to an image id that 'images' does not list")
        sample.people.append(_person(path, rec, ann, skeleton, k))
    return samples


def _category_skeleton(path: Path, categories: list[Any]) -> tuple[Skeleton, set[Any]]:
    cats = [c for c in categories if isinstance(c, dict) and c.get("keypoints")]
    if not cats:
        raise DataError(path, "categories", "no category declares 'keypoints'")
    names = cats[0]["keypoints"]
    for c in cats[1:]:
        if c["keypoints"] != names:
            raise DataError(path, f"category id {c.get('id')}", "declares other keypoints than "
                            f"category id {cats[0].get('id')}; one keypoint definition per file is supported")
    if not all(isinstance(n, str) for n in names):
        raise DataError(path, f"category id {cats[0].get('id')}", "keypoint names must be strings")
    try:
        skeleton = skeleton_from_names(names, cats[0].get("skeleton"), name=None)
    except ValueError as e:
        raise DataError(path, f"category id {cats[0].get('id')}", str(e)) from None
    return skeleton, {c.get("id") for c in cats}


def _person(path: Path, rec: str, ann: dict[str, Any], skeleton: Skeleton, k: int) -> Person:
    raw = ann.get("keypoints")
    if raw is None or (isinstance(raw, list) and len(raw) == 0):
        kp = np.zeros((k, 3))  # crowd regions may carry no keypoints at all
    else:
        try:
            flat = np.asarray(raw, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise DataError(path, rec, "keypoints are not a list of numbers") from None
        if flat.size != 3 * k:
            raise DataError(path, rec, f"{flat.size} keypoint values, expected {3 * k} "
                                       f"(3 x {k} keypoints of {skeleton.name})")
        kp = flat.reshape(k, 3)
        bad_v = ~np.isin(kp[:, 2], (0.0, 1.0, 2.0))
        if bad_v.any():
            j = int(np.flatnonzero(bad_v)[0])
            raise DataError(path, f"{rec} keypoint {j} ({skeleton.joints[j]})",
                            f"visibility {kp[j, 2]:g}, expected 0, 1 or 2")
        bad = ~np.isfinite(kp[:, :2]).all(1) & (kp[:, 2] > 0)
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            raise DataError(path, f"{rec} keypoint {j} ({skeleton.joints[j]})", "NaN coordinates")
    box = None
    if ann.get("bbox") is not None:
        try:
            box = np.asarray(ann["bbox"], dtype=np.float64).reshape(4)
        except (TypeError, ValueError):
            raise DataError(path, rec, f"bbox {ann['bbox']!r} is not [x, y, w, h]") from None
        if not np.isfinite(box).all():
            raise DataError(path, rec, f"bbox {ann['bbox']!r} has NaN")
    area = ann.get("area")
    try:
        num = int(ann.get("num_keypoints", (kp[:, 2] > 0).sum()))
    except (TypeError, ValueError):
        raise DataError(path, rec, f"num_keypoints {ann.get('num_keypoints')!r} is not an integer") from None
    extra: dict[str, Any] = {"id": ann.get("id"), "num_keypoints": num}
    for key in _EXTRA_KEYS:
        if key in ann:
            extra[key] = ann[key]
    return make_person(kp, box=box, is_crowd=bool(ann.get("iscrowd", 0)),
                       area=float(area) if area is not None else None, extra=extra)


class _ImageLocator:
    """Finds ``file_name`` under the candidate folders, remembering which one worked last."""

    def __init__(self, json_path: Path, image_dirs: list[Path] | None) -> None:
        here = json_path.parent
        defaults = [here, here.parent, here.parent.parent]
        candidates = list(image_dirs or []) + defaults + [d / "images" for d in defaults]
        self.candidates = list(dict.fromkeys(candidates))  # de-duplicated, order kept
        self.json_path = json_path
        self.index = ImageIndex()
        self.last: Path | None = None

    def find(self, file_name: str, record: str, check: bool) -> Path:
        order = ([self.last] if self.last is not None else []) + self.candidates
        for base in order:
            p = base / file_name
            if self.index.exists(p):
                self.last = base
                return p
        if check:
            raise DataError(self.json_path, record, f"image file {file_name} not found under any of "
                                                    f"{[str(c) for c in self.candidates]}")
        return (self.last or self.candidates[0]) / file_name
