"""posekit.load_model: names, paths, options forwarded, the ONNX fallback (posekit.api)."""

import logging

import numpy as np
import pytest

import posekit
from posekit.predict.base import Predictor
from posekit.predict.topdown import TopDownPredictor


@pytest.fixture(scope="module")
def tiny(tiny_topdown):
    return tiny_topdown


def test_the_package_entry_point_forwards_every_option(tiny):
    predictor = posekit.load_model(tiny, backend="torch", device="cpu", threads=1, overrides=["predict.refine_steps=2"],
                                   flip_test=False, person_threshold=0.3)
    assert isinstance(predictor, Predictor) and isinstance(predictor, TopDownPredictor)
    assert predictor.refine_steps == 2 and predictor.flip_test is False and predictor.person_threshold == 0.3
    assert predictor.device.type == "cpu"
    assert posekit.load_model is posekit.api.load_model


def test_an_unknown_name_is_a_clear_error_listing_the_zoo():
    with pytest.raises(FileNotFoundError, match="posekit models lists: default"):
        posekit.load_model("no-such-model")


def test_an_unknown_predictor_option_is_refused(tiny):
    with pytest.raises(TypeError, match="no_such_option"):
        posekit.load_model(tiny, backend="torch", no_such_option=1)


def test_a_failed_onnx_export_falls_back_to_torch_with_one_warning(tiny, monkeypatch, caplog):
    import posekit.api as api
    from posekit.runtime.onnx import ExportError

    def failing_export(*args, **kwargs):
        raise ExportError("tiny cannot be exported to ONNX: RuntimeError: simulated")

    monkeypatch.setattr(api, "cached_export", failing_export)
    monkeypatch.setattr(api, "resolve_backend", lambda backend, device=None: "onnxruntime")
    with caplog.at_level(logging.WARNING, logger="posekit.api"):
        predictor = posekit.load_model(tiny, backend="auto")
    assert isinstance(predictor.model, __import__("torch").nn.Module)  # PyTorch runs the network
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "running with PyTorch instead" in warnings[0].getMessage()
    with pytest.raises(ExportError, match="simulated"):  # asked for by name: no silent change of backend
        posekit.load_model(tiny, backend="onnxruntime")


def test_a_person_detector_is_not_a_pose_model():
    with pytest.raises(ValueError, match="person detector"):
        posekit.load_model("detector", backend="torch")


@pytest.mark.heavy
@pytest.mark.parametrize("name", [n for n in posekit.zoo.names() if posekit.zoo.get(n).task != posekit.zoo.DETECTOR])
def test_every_zoo_model_predicts_messi5(name, data_root):
    """Each model `posekit models` lists loads by name and finds someone in messi5.jpg (a photo with one
    player; the classic and small models may place him badly: this checks that they run end to end)."""
    predictor = posekit.load_model(name, backend="torch", device="cpu")
    people = predictor.predict(data_root / "unlabeled" / "messi5.jpg")
    assert people, name
    assert people[0].keypoints.shape == (predictor.skeleton.num_joints, 3)
    assert np.isfinite(people[0].keypoints).all()
