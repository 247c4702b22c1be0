"""The shipped default model: loads with no network and no ../shared, finds a person in an ordinary
photo, and `posekit eval` reports exactly what `load_model("default").predict` gives when scored
independently here."""

import json

import numpy as np
import pytest

import posekit
from posekit.cli import main
from posekit.data import load
from posekit.skeletons import LSP14, map_keypoints


@pytest.fixture(scope="module")
def predictor():
    return posekit.load_model("default", device="cpu")


def test_default_model_is_shipped_small(predictor):
    from posekit import zoo

    assert zoo.resolve("default").stat().st_size < 10e6
    assert set(LSP14.joints) <= set(predictor.skeleton.joints)  # it answers in LSP-14's joints (at least)


def test_finds_the_player_in_messi5(predictor, data_root):
    people = predictor.predict(data_root / "unlabeled" / "messi5.jpg")
    assert len(people) >= 1
    person = people[0]  # the top-scoring person is the player
    k = person.keypoints
    names = person.skeleton.joints
    # the player spans about x 65..460, y 60..335 of this 548 x 342 photo (checked by eye)
    inside = (k[:, 0] > 45) & (k[:, 0] < 480) & (k[:, 1] > 40) & (k[:, 1] < 342)
    assert inside.sum() >= 13, k
    # he faces the camera: his right hand is the one stretched to the image's left, his head is up top
    assert k[names.index("right_wrist"), 0] < k[names.index("left_wrist"), 0]
    assert k[names.index("head_top"), 1] < 130
    assert min(k[names.index("right_ankle"), 1], k[names.index("left_ankle"), 1]) > 200


def _independent_pck(pred: np.ndarray, gt: np.ndarray) -> float:
    """PCK@0.2 written out again without posekit.metrics: torso = |left shoulder - right hip| (LSP
    joints 10 and 3), correct when the error is <= 0.2 x torso, pooled over all labelled joints."""
    torso = np.hypot(*(gt[:, 9, :2] - gt[:, 2, :2]).T)
    err = np.hypot(*(pred[:, :, :2] - gt[:, :, :2]).transpose(2, 0, 1))
    labelled = gt[:, :, 2] > 0
    return 100.0 * ((err <= 0.2 * torso[:, None]) & labelled).sum() / labelled.sum()


def test_eval_command_matches_predict_scored_independently(predictor, data_root, tmp_path):
    n = 20
    samples = load("lsp", data_root / "lsp", split="test")[:n]
    found = [predictor.predict(s.image_path) for s in samples]
    pred = np.stack([map_keypoints(f[0].keypoints, f[0].skeleton, LSP14) if f else np.zeros((14, 3))
                     for f in found])  # top-scoring person, in LSP-14's joints
    gt = np.stack([s.people[0].keypoints for s in samples])
    expected = _independent_pck(pred, gt)
    out = tmp_path / "eval.json"
    assert main(["eval", "--model", "default", "--data", f"lsp:{data_root / 'lsp'}", "--split", "test",
                 "--limit", str(n), "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["metrics"]["pck@0.2"] == pytest.approx(expected, abs=0.01)
    # a floor that only a working model clears (random weights score ~2): guards the shipped file
    assert expected > 60


def test_demo_draws_the_bundled_street_photo(tmp_path, capsys):
    import re

    import cv2

    out = tmp_path / "demo.png"
    assert main(["demo", "--out", str(out)]) == 0
    drawn = cv2.imread(str(out))
    assert drawn is not None and drawn.shape == (220, 433, 3)
    printed = capsys.readouterr().out
    people = int(re.search(r"(\d+) (?:person|people)", printed).group(1))
    assert 4 <= people <= 9, printed  # seven people walk or stand in it; none is a lamp post or a sign
    assert "head_top" in printed


def test_nobody_in_noise_or_blank_images(predictor):
    noise = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    assert predictor.predict(noise) == []
    assert predictor.predict(np.full((480, 640, 3), 128, np.uint8)) == []
    assert predictor.predict(np.zeros((300, 300, 3), np.uint8)) == []


def test_the_left_player_in_basketball1_is_the_top_person(predictor, data_root):
    people = predictor.predict(data_root / "unlabeled" / "basketball1.png")
    assert people and all(a.score >= b.score for a, b in zip(people, people[1:]))  # sorted by score
    x, y, w, h = people[0].box
    assert x + w / 2 < 200 and h > 250  # the full-body player on the left (the photo is 640 x 480)


def test_both_players_in_basketball1(predictor, data_root):
    """The right player is cut by the frame, seen from behind and grey: found since the default's detector is
    YOLOX-nano and its pose network saw real COCO photos (2026-12-02)."""
    people = predictor.predict(data_root / "unlabeled" / "basketball1.png")
    centres = sorted(p.box[0] + p.box[2] / 2 for p in people)
    assert len(centres) >= 2 and centres[0] < 200 and centres[-1] > 430
