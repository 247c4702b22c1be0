"""Person detectors (posekit.predict.detectors): YOLOX-nano as the pipeline's first stage, chosen by name."""

import numpy as np
import pytest

import posekit
from posekit.data.dataset import read_image
from posekit.predict.detectors import YoloxDetector, _anchor_grid


def test_the_anchor_grid_follows_yolox_output_order():
    cells, strides = _anchor_grid(416)
    assert len(cells) == 52 * 52 + 26 * 26 + 13 * 13  # YOLOX-nano's 3,549 outputs
    assert cells[0].tolist() == [0, 0] and cells[1].tolist() == [1, 0] and cells[52].tolist() == [0, 1]
    assert strides[0, 0] == 8 and strides[52 * 52, 0] == 16 and strides[-1, 0] == 32


def test_yolox_finds_both_basketball_players_and_nobody_on_noise(data_root):
    detector = posekit.load_model("default", backend="torch", overrides=["predict.detector=yolox-nano"]).detector
    assert isinstance(detector, YoloxDetector)
    boxes, scores = detector.detect(read_image(data_root / "unlabeled" / "basketball1.png"))
    strong = boxes[scores > 0.5]
    assert len(strong) == 2  # the left player and the right one, cut by the frame
    assert strong[:, 0].min() < 160 and strong[:, 0].max() > 400
    noise = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    assert not (detector.detect(noise)[1] > 0.1).any()
    assert not (detector.detect(np.full((480, 640, 3), 128, np.uint8))[1] > 0.1).any()


def test_a_detector_can_be_named_in_the_options(data_root):
    predictor = posekit.load_model("default", backend="torch", detector="yolox-nano")
    assert isinstance(predictor.detector, YoloxDetector)
    assert posekit.load_model("default", backend="torch", detector="").detector is None


@pytest.mark.heavy
def test_an_exported_pipeline_carries_its_yolox_detector(tmp_path):
    from posekit.export import export_pipeline

    manifest = export_pipeline("default", tmp_path / "yolox", overrides=["predict.detector=yolox-nano"])
    assert manifest["detector"]["kind"] == "yolox"
    assert manifest["check"]["people_torch"] == manifest["check"]["people_onnx"]
    loaded = posekit.load_model(tmp_path / "yolox", threads=1)
    assert isinstance(loaded.detector, YoloxDetector)
