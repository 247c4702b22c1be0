"""``posekit data prepare coco-person`` on real COCO-mini photos: YOLO-pose label lines are written here from
COCO-mini's official annotations (CI has no /work/data), joined back, split, and read by the COCO reader."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from posekit.cli import main
from posekit.data import load
from posekit.data import prepare as prep
from posekit.data.prepare import SplitLeakError, check_splits, prepare_coco_person, read_coco_image_ids


def _mini(data_root: Path, split: str) -> dict:
    return json.loads((data_root / f"coco_mini/annotations/person_keypoints_{split}2017.json").read_text())


def _write_labels(data: dict, ids: list[int], folder: Path) -> dict[int, list[dict]]:
    """YOLO-pose label files for ``ids`` from official annotations (people with keypoints only, as the real
    label files); returns the annotations written, per image id."""
    folder.mkdir(parents=True, exist_ok=True)
    images = {im["id"]: im for im in data["images"]}
    written: dict[int, list[dict]] = {}
    for image_id in ids:
        w, h = images[image_id]["width"], images[image_id]["height"]
        anns = [a for a in data["annotations"] if a["image_id"] == image_id and a["num_keypoints"] > 0
                and not a["iscrowd"]]
        lines = []
        for a in anns:
            x, y, bw, bh = a["bbox"]
            kp = np.asarray(a["keypoints"], dtype=np.float64).reshape(17, 3)
            norm = [f"{v:.6f}" for row in kp for v in (row[0] / w, row[1] / h, row[2])]
            lines.append(" ".join(["0", f"{(x + bw / 2) / w:.6f}", f"{(y + bh / 2) / h:.6f}", f"{bw / w:.6f}",
                                   f"{bh / h:.6f}", *norm]))
        (folder / f"{image_id:012d}.txt").write_text("\n".join(lines) + "\n")
        written[image_id] = anns
    return written


@pytest.fixture()
def mini_inputs(data_root: Path, tmp_path: Path):
    """(image dirs, labels dir, written annotations by id, test ids, mini val ids): 6 COCO-mini train photos
    and 2 val photos get label files; one train photo is declared a test photo."""
    train, val = _mini(data_root, "train"), _mini(data_root, "val")
    with_people = lambda d: sorted({a["image_id"] for a in d["annotations"] if a["num_keypoints"] > 0})  # noqa: E731
    train_ids, val_ids = with_people(train)[:6], with_people(val)[:2]
    labels = tmp_path / "labels"
    written = _write_labels(train, train_ids, labels)
    written.update(_write_labels(val, val_ids, labels))
    dirs = [data_root / "coco_mini/train2017", data_root / "coco_mini/val2017"]
    mini_val = read_coco_image_ids(data_root / "coco_mini/annotations/person_keypoints_val2017.json")
    return dirs, labels, written, {train_ids[0]}, mini_val


def test_join_round_trips_pixels_flags_and_areas(mini_inputs, tmp_path: Path) -> None:
    dirs, labels, written, test_ids, mini_val = mini_inputs
    out = tmp_path / "out"
    result = prepare_coco_person(dirs, labels, out, test_ids=test_ids, reserved_ids=set(), mini_val_ids=mini_val,
                                 val_fraction=0.25, seed=0)
    assert result.test == sorted(test_ids)
    assert len(result.train) + len(result.val) == 5 and len(result.val) == 1  # round(0.25 * 5)
    assert not (set(result.train) | set(result.val)) & mini_val  # the COCO-mini val photos stay out
    assert result.counts["coco_mini_val_left_out"] == 2
    assert result.counts["photos_without_labels"] == 159 - 8  # every other COCO-mini photo: skipped, counted
    # deterministic with the seed
    again = prepare_coco_person(dirs, labels, tmp_path / "again", test_ids=test_ids, reserved_ids=set(),
                                mini_val_ids=mini_val, val_fraction=0.25, seed=0)
    assert (again.train, again.val) == (result.train, result.val)

    for split, ids in (("train", result.train), ("val", result.val), ("test", result.test)):
        data = json.loads((out / f"person_keypoints_{split}.json").read_text())
        assert sorted(im["id"] for im in data["images"]) == ids
        assert data["categories"][0]["keypoints"][5] == "left_shoulder"
        for ann in data["annotations"]:
            ref = written[ann["image_id"]]
            match = [r for r in ref if np.allclose(r["bbox"], ann["bbox"], atol=0.01)]
            assert len(match) == 1
            got = np.asarray(ann["keypoints"]).reshape(17, 3)
            want = np.asarray(match[0]["keypoints"], dtype=np.float64).reshape(17, 3)
            np.testing.assert_allclose(got[:, :2], want[:, :2], atol=0.01)  # pixels, to the rounding
            assert (got[:, 2] == want[:, 2]).all()  # v flags kept exactly (0 / 1 / 2)
            assert ann["num_keypoints"] == match[0]["num_keypoints"]
            assert ann["area"] == pytest.approx(ann["bbox"][2] * ann["bbox"][3], abs=1e-3)  # box area
            assert ann["iscrowd"] == 0
        # the project's COCO reader finds the images and reads the same people
        samples = load("coco", out, split=split)
        assert sorted(s.image_id for s in samples) == ids
        assert all(Path(s.image_path).is_file() for s in samples)
        assert sum(len(s.people) for s in samples) == len(data["annotations"])
        assert all(s.skeleton.name == "coco17" for s in samples)


def test_leaks_are_refused() -> None:
    splits = {"train": [1, 2], "val": [3], "test": [4]}
    check_splits(splits, test_ids={4}, reserved_ids={9}, mini_val_ids={8})  # clean: no error
    with pytest.raises(SplitLeakError, match="test_ids.txt in train"):
        check_splits({**splits, "train": [1, 2, 4]}, test_ids={4}, reserved_ids=set(), mini_val_ids=set())
    with pytest.raises(SplitLeakError, match="COCO-mini val2017 in val"):
        check_splits({**splits, "val": [3, 8]}, test_ids={4}, reserved_ids=set(), mini_val_ids={8})
    with pytest.raises(SplitLeakError, match="reserved_ids.txt in train"):
        check_splits({**splits, "train": [1, 2, 9]}, test_ids={4}, reserved_ids={9}, mini_val_ids=set())
    with pytest.raises(SplitLeakError, match="reserved photo"):
        check_splits({**splits, "test": [4, 9]}, test_ids={4}, reserved_ids={9}, mini_val_ids=set())


@pytest.mark.parametrize("leak", ["test", "mini_val"])
def test_prepare_refuses_a_leaking_train_pool(mini_inputs, tmp_path: Path, monkeypatch, leak: str) -> None:
    """A test id or a COCO-mini val id put into the train pool (here by a faulty carving step) is refused by
    the check on the final split, and nothing is written."""
    dirs, labels, _, test_ids, mini_val = mini_inputs
    bad = next(iter(test_ids)) if leak == "test" else min(mini_val)
    carve = prep.split_train_val
    monkeypatch.setattr(prep, "split_train_val", lambda pool, f, s: (carve(pool, f, s)[0] + [bad], []))
    out = tmp_path / "leaky"
    with pytest.raises(SplitLeakError, match="in train"):
        prepare_coco_person(dirs, labels, out, test_ids=test_ids, reserved_ids=set(), mini_val_ids=mini_val)
    assert not out.exists()


def test_cli_prepare(mini_inputs, data_root: Path, tmp_path: Path, capsys) -> None:
    dirs, labels, _, test_ids, _ = mini_inputs
    splits = tmp_path / "splits"
    splits.mkdir()
    (splits / "test_ids.txt").write_text("".join(f"{i:012d}\n" for i in test_ids))
    (splits / "reserved_ids.txt").write_text("")
    out = tmp_path / "cli_out"
    rc = main(["data", "prepare", "coco-person", "--images", *map(str, dirs), "--labels", str(labels),
               "--out", str(out), "--splits", str(splits), "--val-fraction", "0.2",
               "--coco-mini-val", str(data_root / "coco_mini/annotations/person_keypoints_val2017.json")])
    assert rc == 0
    text = capsys.readouterr().out
    assert "151 photos without labels" in text and "no segmentation" in text
    assert {p.name for p in out.iterdir()} == {"person_keypoints_train.json", "person_keypoints_val.json",
                                               "person_keypoints_test.json", "summary.json"}
    assert main(["data", "stats", f"coco:{out}", "--split", "val"]) == 0
