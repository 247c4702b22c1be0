"""viz: skeleton drawing (sides coloured apart), image saving, PCK and learning-curve plots."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from posekit.skeletons import COCO17, LSP14
from posekit.types import Person, Prediction, box_from_keypoints
from posekit.viz import (
    CENTER_COLOR,
    LEFT_COLOR,
    RIGHT_COLOR,
    draw_pose,
    draw_predictions,
    plot_learning_curve,
    plot_pck_curves,
    save_image,
)


def frontal_lsp() -> np.ndarray:
    kp = {
        "head_top": (200, 40), "neck": (200, 90),
        "right_shoulder": (160, 100), "left_shoulder": (240, 100),
        "right_elbow": (140, 160), "left_elbow": (260, 160),
        "right_wrist": (130, 220), "left_wrist": (270, 220),
        "right_hip": (176, 230), "left_hip": (224, 230), "right_knee": (172, 300), "left_knee": (228, 300),
        "right_ankle": (170, 370), "left_ankle": (230, 370),
    }
    return np.array([[*kp[n], 2.0] for n in LSP14.joints])


def close_to(pixel: np.ndarray, color: tuple[int, int, int], tol: int = 40) -> bool:
    return bool(np.abs(pixel.astype(int) - np.array(color)).max() <= tol)


def test_draw_pose_colours_sides() -> None:
    image = np.zeros((400, 400, 3), np.uint8)
    kps = frontal_lsp()
    out = draw_pose(image, kps, LSP14)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert not out.any(axis=2)[0, 0] and image.max() == 0  # input untouched
    # joint centres carry their side's colour
    for name, color in (("left_wrist", LEFT_COLOR), ("right_wrist", RIGHT_COLOR), ("neck", CENTER_COLOR),
                        ("left_knee", LEFT_COLOR), ("right_knee", RIGHT_COLOR)):
        x, y = kps[LSP14.index(name), :2].astype(int)
        assert close_to(out[y, x], color), (name, out[y, x])
    # limb midpoints: left forearm, right shin, hip-hip (centre)
    def mid(a: str, b: str) -> np.ndarray:
        x, y = ((kps[LSP14.index(a), :2] + kps[LSP14.index(b), :2]) / 2).round().astype(int)
        return out[y, x]

    assert close_to(mid("left_elbow", "left_wrist"), LEFT_COLOR)
    assert close_to(mid("right_knee", "right_ankle"), RIGHT_COLOR)
    assert close_to(mid("left_hip", "right_hip"), CENTER_COLOR)
    assert LEFT_COLOR != RIGHT_COLOR


def test_draw_pose_threshold_and_scaling() -> None:
    kps = frontal_lsp()
    kps[LSP14.index("left_wrist"), 2] = 0  # not labelled: neither the joint nor its limb is drawn
    out = draw_pose(np.zeros((400, 400, 3), np.uint8), kps, LSP14)
    x, y = kps[LSP14.index("left_wrist"), :2].astype(int)
    assert not out[y, x].any()
    # names and legend are text on top (their glyphs may cover any pixel): they must draw something more
    named = draw_pose(np.zeros((400, 400, 3), np.uint8), kps, LSP14, show_names=True, legend=True)
    assert named.any(axis=2).sum() > out.any(axis=2).sum()
    # line width scales with the image: the same pose drawn 4x larger covers a similar fraction
    small = draw_pose(np.zeros((400, 400, 3), np.uint8), frontal_lsp(), LSP14).any(axis=2).mean()
    big = draw_pose(np.zeros((1600, 1600, 3), np.uint8), frontal_lsp() * [4, 4, 1], LSP14).any(axis=2).mean()
    assert 0.35 < big / small < 2.0, (big, small)  # unscaled width would give ~0.25
    gray = draw_pose(np.zeros((400, 400), np.uint8), frontal_lsp(), LSP14)
    assert gray.shape == (400, 400, 3)
    with pytest.raises(ValueError, match="lsp14"):
        draw_pose(np.zeros((10, 10, 3), np.uint8), np.zeros((17, 3)), LSP14)


def test_draw_predictions_people_and_predictions() -> None:
    image = np.full((400, 400, 3), 30, np.uint8)
    kps = frontal_lsp()
    gt = Person(keypoints=kps, box=box_from_keypoints(kps))
    pred = Prediction(keypoints=np.concatenate([kps[:, :2] + 3, np.full((14, 1), 0.9)], 1), score=0.9,
                      box=box_from_keypoints(kps), skeleton=LSP14)
    out = draw_predictions(image, [gt, pred], skeleton=LSP14)
    assert out.shape == image.shape and (out != image).any()
    with pytest.raises(ValueError, match="skeleton"):
        draw_predictions(image, [gt])
    coco = Prediction(keypoints=np.zeros((17, 3)), score=0.1, box=np.zeros(4), skeleton=COCO17)
    draw_predictions(image, [coco], threshold=0.5)


def test_save_image(tmp_path) -> None:
    img = np.zeros((8, 8, 3), np.uint8)
    p = save_image(tmp_path / "sub" / "x.png", img)
    assert p.is_file() and cv2.imread(str(p)).shape == (8, 8, 3)
    with pytest.raises(OSError, match="x.unknownext"):
        save_image(tmp_path / "x.unknownext", img)


def test_plots_write_png(tmp_path) -> None:
    th = np.linspace(0, 0.2, 21)
    p = plot_pck_curves(th, {"model a": np.linspace(0, 0.9, 21), "model b": np.linspace(0, 80, 21)},
                        tmp_path / "pck.png")
    assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="bad"):
        plot_pck_curves(th, {"bad": [1, 2]}, tmp_path / "bad.png")
    records = [{"step": s, "loss": 1.0 / (s + 1)} for s in range(0, 100, 5)]
    records += [{"step": s, "val_pck": 0.5 + s / 400} for s in (20, 60, 99)]
    q = plot_learning_curve(records, tmp_path / "curve.png")
    assert q.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    assert plot_learning_curve(log, tmp_path / "curve2.png").is_file()
    with pytest.raises(ValueError):
        plot_learning_curve([{"epoch": 1}], tmp_path / "none.png")


def test_tracked_people_are_drawn_with_their_id_colour_and_label():
    from posekit.skeletons import COCO17
    from posekit.types import Prediction
    from posekit.viz import draw_predictions, id_color

    assert id_color(3) == id_color(3) and len({id_color(i) for i in range(1, 9)}) == 8
    kp = np.zeros((17, 3))
    p = Prediction(kp, 0.9, np.array([40.0, 60.0, 50.0, 100.0]), COCO17, track_id=7)
    out = draw_predictions(np.zeros((200, 200, 3), np.uint8), [p])
    tag = out[30:60, 40:90].reshape(-1, 3)
    assert (np.abs(tag.astype(int) - id_color(7)).sum(axis=1) == 0).sum() > 100  # the filled id tag
    assert (out[60, 40:90] == id_color(7)).all()  # the box's top edge in the id's colour
