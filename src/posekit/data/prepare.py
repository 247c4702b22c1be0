"""``posekit data prepare coco-person``: COCO val2017 person photos + YOLO-pose keypoint label files ->
COCO keypoint JSON split into train / val / test, with the project's fixed test and reserved photo ids kept out
of training (``../shared/datasets/README.md``, "More real data"; ``docs/coco_person.md`` has the steps).

Inputs:

- photos: folders of ``<12-digit COCO id>.jpg`` (COCO val2017 photos that hold a person).
- labels: a folder of ``<12-digit id>.txt``, one line per person with keypoints, YOLO-pose style:
  ``0 cx cy w h`` then 17 x ``x y v``, every coordinate normalised by the image's width or height, COCO-17
  order, v = 0 unlabelled (x = y = 0), 1 labelled but occluded, 2 visible.
- the split lists: ``test_ids.txt`` (the test photos), ``reserved_ids.txt`` (never used for anything: in no
  output at all) and the COCO-mini val2017 JSON (its photos are test photos scored from their own official
  JSON: kept out of every output here).

Outputs, in ``out``: ``person_keypoints_{train,val,test}.json`` (so ``coco:<out>`` with split ``train`` /
``val`` / ``test`` reads them, :func:`posekit.data.formats.coco.load_coco`) and ``summary.json`` (the counts).
``file_name`` is the photo's path relative to ``out`` (keep the two folders where they are, or prepare again).
Keypoints are in pixels (normalised value x image width or height, rounded to 0.01 px; the labels' 6
decimals are exact to ~0.0003 px), v flags kept exactly; ``bbox`` = the label's box in pixels (x, y, w, h);
``area`` = the box's w x h: **these labels carry no segmentation, so the OKS area is the box area, not
COCO's segmentation area** -- OKS on this set is more lenient than COCO's official val protocol and its
figures are not comparable with published val AP (PROTOCOLS.md, "Multi-person"); ``iscrowd`` 0 (the labels
hold no crowd regions); one category, person, with the COCO-17 keypoint names and COCO's skeleton.

Splits: test = the photos of ``test_ids.txt`` less the reserved ones; the others with a label file, less the
reserved and COCO-mini val ones, are the training pool, of which ``val_fraction`` of the photos (a seeded
permutation of the sorted ids) form the validation split. Whatever the construction, :func:`check_splits`
checks the final split and raises :class:`SplitLeakError` when a test, reserved or COCO-mini val id is in
train or val (or reserved in test, or a photo in two splits); nothing is written then.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from posekit.data.errors import DataError
from posekit.skeletons import COCO17

__all__ = ["SplitLeakError", "PreparedSplit", "check_splits", "prepare_coco_person", "read_id_list",
           "read_yolo_pose", "split_train_val", "summary_lines"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class SplitLeakError(ValueError):
    """A photo that must stay out of a split (test, reserved, COCO-mini val) would land in it."""


@dataclass
class PreparedSplit:
    """The photo ids of each split and the counts the command prints (also written as ``summary.json``)."""

    train: list[int]
    val: list[int]
    test: list[int]
    counts: dict[str, Any] = field(default_factory=dict)


def read_id_list(path: str | Path) -> set[int]:
    """A text file of COCO image ids, one per line (12-digit file stems or plain integers; blank lines and
    ``#`` comments ignored) -> set of ints."""
    path = Path(path)
    ids: set[int] = set()
    for n, line in enumerate(path.read_text().splitlines(), 1):
        s = line.split("#", 1)[0].strip()
        if not s:
            continue
        try:
            ids.add(int(Path(s).stem))
        except ValueError:
            raise DataError(path, f"line {n}", f"{s!r} is not an image id") from None
    return ids


def read_coco_image_ids(path: str | Path) -> set[int]:
    """The ``images[].id`` of a COCO JSON (the COCO-mini val photos)."""
    from posekit.data.formats import read_json

    data = read_json(Path(path))
    try:
        return {int(im["id"]) for im in data["images"]}
    except (KeyError, TypeError, ValueError):
        raise DataError(path, "images", "expected a list of objects with an integer 'id'") from None


def read_yolo_pose(path: str | Path, width: int, height: int, num_keypoints: int = 17) -> list[dict[str, Any]]:
    """One label file -> COCO annotation fields per person (no ids): ``keypoints`` (3K flat, pixels, v kept),
    ``num_keypoints``, ``bbox`` [x, y, w, h] pixels, ``area`` = w x h of the box, ``iscrowd`` 0,
    ``category_id`` 1. Lines: ``0 cx cy w h`` + K x ``x y v``, normalised by ``width`` / ``height``."""
    path = Path(path)
    people = []
    scale = np.array([width, height], dtype=np.float64)
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            values = np.array([float(v) for v in line.split()], dtype=np.float64)
        except ValueError:
            raise DataError(path, f"line {n}", "not a list of numbers") from None
        if values.size != 5 + 3 * num_keypoints:
            raise DataError(path, f"line {n}", f"{values.size} numbers, expected 5 + 3 x {num_keypoints} "
                                               "(class, box, keypoints)")
        if values[0] != 0:
            raise DataError(path, f"line {n}", f"class {values[0]:g}, expected 0 (person)")
        if not np.isfinite(values).all():
            raise DataError(path, f"line {n}", "NaN or infinite value")
        kp = values[5:].reshape(num_keypoints, 3)
        if not np.isin(kp[:, 2], (0.0, 1.0, 2.0)).all():
            raise DataError(path, f"line {n}", f"visibility flags {sorted(set(kp[:, 2]))}, expected 0, 1 or 2")
        xy = np.round(kp[:, :2] * scale, 2)
        xy[kp[:, 2] == 0] = 0.0
        cx, cy, bw, bh = values[1:5] * np.concatenate([scale, scale])
        box = [round(float(cx - bw / 2), 2), round(float(cy - bh / 2), 2), round(float(bw), 2), round(float(bh), 2)]
        flat = np.column_stack([xy, kp[:, 2]]).reshape(-1)
        people.append({
            "category_id": 1,
            "keypoints": [float(v) if i % 3 < 2 else int(v) for i, v in enumerate(flat)],
            "num_keypoints": int((kp[:, 2] > 0).sum()),
            "bbox": box,
            "area": round(box[2] * box[3], 4),  # no segmentation in these labels: the box area (module docstring)
            "iscrowd": 0,
        })
    return people


def split_train_val(pool: Iterable[int], val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Carve validation photos from the training pool: a ``seed``-ed permutation of the sorted ids, the first
    ``round(val_fraction * n)`` are val. Returns (train ids, val ids), each sorted."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    ids = np.array(sorted(pool), dtype=np.int64)
    order = np.random.default_rng(seed).permutation(len(ids))
    n_val = int(round(val_fraction * len(ids)))
    return sorted(int(i) for i in ids[order[n_val:]]), sorted(int(i) for i in ids[order[:n_val]])


def check_splits(splits: dict[str, Sequence[int]], test_ids: set[int], reserved_ids: set[int],
                 mini_val_ids: set[int]) -> None:
    """Refuse a leaking split: raise :class:`SplitLeakError` when train or val holds a test, reserved or
    COCO-mini val id, when test holds a reserved id, or when a photo is in two splits."""
    forbidden = {"test_ids.txt": test_ids, "reserved_ids.txt": reserved_ids, "COCO-mini val2017": mini_val_ids}
    problems = []
    for name in ("train", "val"):
        ids = set(splits.get(name, ()))
        for what, bad in forbidden.items():
            leak = sorted(ids & bad)
            if leak:
                problems.append(f"{len(leak)} photo(s) of {what} in {name} (ids {leak[:5]})")
    leak = sorted(set(splits.get("test", ())) & reserved_ids)
    if leak:
        problems.append(f"{len(leak)} reserved photo(s) in test (ids {leak[:5]})")
    names = list(splits)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            both = sorted(set(splits[a]) & set(splits[b]))
            if both:
                problems.append(f"{len(both)} photo(s) in both {a} and {b} (ids {both[:5]})")
    if problems:
        raise SplitLeakError("refusing to write the COCO person splits: " + "; ".join(problems))


def _index_photos(image_dirs: Sequence[Path]) -> tuple[dict[int, Path], int]:
    """id -> photo path over the folders (the first folder wins a duplicate id); and the duplicate count."""
    photos: dict[int, Path] = {}
    duplicates = 0
    for d in image_dirs:
        if not d.is_dir():
            raise FileNotFoundError(f"coco-person: no such image folder {d}")
        for name in sorted(os.listdir(d)):
            p = d / name
            if p.suffix.lower() not in IMAGE_SUFFIXES or not p.stem.isdigit():
                continue
            if int(p.stem) in photos:
                duplicates += 1
                continue
            photos[int(p.stem)] = p
    return photos, duplicates


def _image_size(path: Path) -> tuple[int, int]:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise DataError(path, "whole file", "cannot decode the image")
    return int(image.shape[1]), int(image.shape[0])


def _coco_json(ids: list[int], photos: dict[int, Path], people: dict[int, list[dict]],
               sizes: dict[int, tuple[int, int]], out: Path, split: str) -> dict[str, Any]:
    images, annotations = [], []
    for image_id in ids:
        w, h = sizes[image_id]
        images.append({"id": image_id, "file_name": os.path.relpath(photos[image_id].resolve(), out.resolve()),
                       "width": w, "height": h})
        for i, ann in enumerate(people[image_id]):
            annotations.append({"id": image_id * 1000 + i, "image_id": image_id, **ann})
    category = {"id": 1, "name": "person", "supercategory": "person", "keypoints": list(COCO17.joints),
                "skeleton": [[a + 1, b + 1] for a, b in COCO17.limbs]}
    return {"info": {"description": f"COCO val2017 person photos, split {split}, keypoints from YOLO-pose label "
                                    "files; area = box w x h (no segmentation)"},
            "images": images, "annotations": annotations, "categories": [category]}


def prepare_coco_person(image_dirs: Sequence[str | Path], labels_dir: str | Path, out: str | Path, *,
                        test_ids: set[int], reserved_ids: set[int], mini_val_ids: set[int],
                        val_fraction: float = 0.1, seed: int = 0) -> PreparedSplit:
    """Join photos and label files, split them and write the three COCO JSON files (module docstring).

    Photos without a label file are skipped and counted (``photos_without_labels``), as are label files
    without a photo. Returns the split ids and counts; raises :class:`SplitLeakError` (nothing written)
    when the final split leaks.
    """
    image_dirs = [Path(d) for d in image_dirs]
    labels_dir, out = Path(labels_dir), Path(out)
    if not labels_dir.is_dir():
        raise FileNotFoundError(f"coco-person: no such label folder {labels_dir}")
    photos, duplicates = _index_photos(image_dirs)
    labels = {int(p.stem): p for p in labels_dir.glob("*.txt") if p.stem.isdigit()}
    labelled = set(photos) & set(labels)
    test = sorted((set(test_ids) & labelled) - reserved_ids)
    pool = labelled - test_ids - reserved_ids - mini_val_ids
    train, val = split_train_val(pool, val_fraction, seed)
    splits = {"train": train, "val": val, "test": test}
    check_splits(splits, test_ids, reserved_ids, mini_val_ids)

    used = train + val + test
    sizes = {i: _image_size(photos[i]) for i in used}
    people = {i: read_yolo_pose(labels[i], *sizes[i]) for i in used}
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, Any] = {
        "photos_found": len(photos),
        "label_files": len(labels),
        "photos_without_labels": len(set(photos) - set(labels)),
        "labels_without_photo": len(set(labels) - set(photos)),
        "duplicate_photo_ids": duplicates,
        "reserved_left_out": len(labelled & reserved_ids),
        "coco_mini_val_left_out": len(labelled & mini_val_ids),
        "test_ids_without_labelled_photo": len(set(test_ids) - reserved_ids - labelled),
        "val_fraction": val_fraction,
        "seed": seed,
        "area": "box w x h (no segmentation in these labels)",
    }
    for name, ids in splits.items():
        data = _coco_json(ids, photos, people, sizes, out, name)
        (out / f"person_keypoints_{name}.json").write_text(json.dumps(data))
        counts[name] = {"photos": len(ids), "people": len(data["annotations"]),
                        "labelled_keypoints": sum(a["num_keypoints"] for a in data["annotations"])}
    (out / "summary.json").write_text(json.dumps(counts, indent=2))
    return PreparedSplit(train=train, val=val, test=test, counts=counts)


def summary_lines(counts: dict[str, Any]) -> list[str]:
    """The counts of :func:`prepare_coco_person` as the lines ``posekit data prepare`` prints."""
    c = counts
    lines = ["  person_keypoints_{train,val,test}.json, summary.json",
             f"  photos found {c['photos_found']}, label files {c['label_files']}; skipped: "
             f"{c['photos_without_labels']} photos without labels, {c['labels_without_photo']} label files without "
             f"a photo, {c['reserved_left_out']} reserved, {c['coco_mini_val_left_out']} COCO-mini val"]
    for name in ("train", "val", "test"):
        lines.append(f"  {name:<5}  {c[name]['photos']:5d} photos  {c[name]['people']:5d} people  "
                     f"{c[name]['labelled_keypoints']:6d} labelled keypoints")
    lines.append("  area = the box's w x h (these labels carry no segmentation): OKS on this set is more lenient "
                 "than COCO's official val protocol")
    return lines
