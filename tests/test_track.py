"""PoseTracker (posekit.track): ids through crossings, new people, track death, raw keypoints, JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from posekit.skeletons import COCO17, COCO19
from posekit.smoothing import OneEuroSettings
from posekit.track import PoseTracker
from posekit.types import Prediction, read_results, results_json

# a standing person 100 px tall, COCO-17 joints, relative to the box's top-left corner (x, y)
_POSE = np.array([[20, 8], [23, 5], [17, 5], [26, 7], [14, 7], [32, 25], [8, 25], [36, 45], [4, 45], [38, 62],
                  [2, 62], [28, 60], [12, 60], [29, 80], [11, 80], [30, 98], [10, 98]], dtype=np.float64)


def person(x: float, y: float = 50.0, score: float = 0.9, mirrored: bool = False) -> Prediction:
    """A synthetic prediction whose box (40 x 100) starts at (x, y); ``mirrored``: arms raised (a different
    pose in the same box, so OKS can tell two people apart where IoU cannot)."""
    xy = _POSE.copy()
    if mirrored:
        xy[[9, 10], 1] = 0.0  # wrists above the head
    kp = np.concatenate([xy + [x, y], np.full((17, 1), 0.9)], axis=1)
    return Prediction(kp, score, np.array([x, y, 40.0, 100.0]), COCO17)


def test_ids_survive_two_people_crossing():
    tracker = PoseTracker(fps=25)
    ids = []
    for f in range(40):  # A walks right, B walks left; they pass through each other around frame 20
        a, b = person(20 + 10 * f), person(420 - 10 * f, mirrored=True)
        out = tracker.update([a, b] if f % 2 else [b, a], f)
        by_side = {("a" if p.raw_keypoints[9, 1] > 50 else "b"): p.track_id for p in out}
        ids.append((by_side["a"], by_side["b"]))
    assert len(set(ids)) == 1 and ids[0][0] != ids[0][1]


def test_new_person_gets_a_new_id_and_a_lost_track_dies_after_max_age():
    tracker = PoseTracker(max_age=5)
    first = tracker.update([person(50)], 0)[0].track_id
    assert tracker.update([person(52)], 1)[0].track_id == first
    newcomer = tracker.update([person(54), person(400)], 2)
    assert {p.track_id for p in newcomer} == {first, first + 1}
    for f in range(3, 9):  # the first person leaves; the track waits max_age frames, then dies
        tracker.update([person(400)], f)
        assert any(t.track_id == first for t in tracker.tracks) == (f - 2 <= 5)
    back = tracker.update([person(58), person(400)], 9)
    assert first not in {p.track_id for p in back} and len({p.track_id for p in back}) == 2


def test_a_person_missed_for_a_few_frames_keeps_the_id():
    tracker = PoseTracker(max_age=10)
    first = tracker.update([person(50)], 0)[0].track_id
    tracker.update([person(55)], 1)
    assert tracker.update([], 2) == [] and tracker.update([], 3) == []
    assert tracker.update([person(70)], 4)[0].track_id == first  # moved on at its velocity meanwhile


def test_low_score_people_continue_tracks_but_start_none():
    tracker = PoseTracker(high_score=0.5, low_score=0.1)
    tid = tracker.update([person(50)], 0)[0].track_id
    tracker.update([person(52)], 1)
    out = tracker.update([person(54, score=0.2), person(400, score=0.2)], 2)
    assert [p.track_id for p in out] == [tid]  # the occluded known person stays, the faint stranger does not
    assert tracker.update([person(400, score=0.05)], 3) == []  # under low_score: ignored


def test_raw_keypoints_are_kept_and_json_round_trips(tmp_path):
    tracker = PoseTracker()
    rng = np.random.default_rng(0)
    frames = []
    for f in range(5):
        p = person(100)
        kp19 = np.zeros((19, 3))
        kp19[:17] = p.keypoints
        kp19[:17, :2] += rng.normal(0, 2, (17, 2))
        frames.append(("clip.mp4", f, tracker.update([Prediction(kp19, 0.9, p.box, COCO19)], f)))
    last = frames[-1][2][0]
    assert last.raw_keypoints is not None and not np.allclose(last.raw_keypoints, last.keypoints)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results_json(frames)))
    back = read_results(path)
    assert [r[2].track_id for r in back] == [1] * 5
    assert back[-1][2].skeleton.name == "coco17"  # written as COCO-17, like the keypoints
    np.testing.assert_allclose(back[-1][2].raw_keypoints, last.raw_keypoints[:17], atol=1e-3)
    np.testing.assert_allclose(back[-1][2].keypoints, last.keypoints[:17], atol=1e-3)


def test_no_smoothing_returns_the_raw_keypoints_and_bad_settings_are_refused():
    tracker = PoseTracker(smoothing=None)
    p = person(10)
    np.testing.assert_array_equal(tracker.update([p], 0)[0].keypoints, p.keypoints)
    with pytest.raises(ValueError, match="frames must increase"):
        tracker.update([p], 0)
    with pytest.raises(ValueError, match="low_score"):
        PoseTracker(high_score=0.1, low_score=0.3)
    assert OneEuroSettings().min_cutoff > 0


def test_keypoints_tell_apart_two_people_sharing_one_box():
    """Two poses in the same box (one with arms raised), listed in a changing order: box IoU cannot tell them
    apart, the OKS term of the similarity can."""
    rng = np.random.default_rng(1)
    for iou_weight, keeps in ((0.5, True), (1.0, False)):
        tracker = PoseTracker(iou_weight=iou_weight)
        seen = set()
        for f in range(12):
            people = [person(100 + rng.normal(0, 1)), person(100 + rng.normal(0, 1), mirrored=True)]
            out = tracker.update(people[::-1] if rng.random() < 0.5 else people, f)
            seen |= {(p.raw_keypoints[9, 1] > 50, p.track_id) for p in out}
        assert (len(seen) == 2) == keeps
