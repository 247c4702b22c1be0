"""ONNX export and the ONNX Runtime backend (posekit.runtime.onnx, posekit.export): every registered network
exports or fails clearly, the exported default pipeline gives PyTorch's keypoints, the CLI round trip, int8."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime", reason="the onnx extra is not installed (pip install 'posekit[onnx]')")

from posekit.api import load_model  # noqa: E402
from posekit.cli import DEMO_IMAGE, main  # noqa: E402
from posekit.data import load  # noqa: E402
from posekit.data.dataset import read_image  # noqa: E402
from posekit.export import export_pipeline  # noqa: E402
from posekit.models import get_model, list_models  # noqa: E402
from posekit.runtime.device import resolve_backend
from posekit.runtime.onnx import ExportError, OnnxNetwork, export_network


@pytest.mark.heavy
@pytest.mark.parametrize("name", list_models())
def test_every_registered_network_exports_and_matches_pytorch(name, tmp_path):
    torch.manual_seed(0)
    model = get_model(name) if name == "centernet" else get_model(name, num_joints=14)
    path = tmp_path / f"{name}.onnx"
    names = export_network(model, (128, 128), path, dynamic_size=name == "centernet", name=name)
    x = torch.randn(3, 3, 128, 128)
    with torch.no_grad():
        want = model.eval()(x)
    got = OnnxNetwork(path, threads=1)(x)
    assert list(got) == names == list(want)
    for key in names:
        assert got[key].shape == want[key].shape
        assert torch.allclose(got[key], want[key].float(), atol=1e-4)


def test_a_network_that_cannot_be_exported_fails_with_a_clear_message(tmp_path):
    class Branches(torch.nn.Module):  # a Python branch on the input's values: no single graph to export
        def forward(self, x):
            return {"heatmaps": x * 2 if float(x.sum()) > 0 else x}

    with pytest.raises(ExportError, match="toy cannot be exported to ONNX: GuardOnDataDependent"):
        export_network(Branches(), (32, 32), tmp_path / "toy.onnx", name="toy")


#: the pose network + CenterNet pipeline the ONNX figures of benchmarks/onnx.md were measured on (the default until
#: 2026-12-02), named exactly so that the parity checks keep their meaning whatever the default becomes
MODEL = "grmi-p5-2026-11-29"


@pytest.fixture(scope="module")
def exported_default(tmp_path_factory):
    """That pipeline exported with the CLI (float32), and what the CLI printed."""
    out = tmp_path_factory.mktemp("onnx") / "default"
    assert main(["export", MODEL, "--format", "onnx", "--out", str(out)]) == 0
    return out


@pytest.mark.heavy
def test_export_writes_both_networks_and_a_checked_manifest(exported_default):
    manifest = json.loads((exported_default / "posekit.json").read_text())
    assert (exported_default / "pose.onnx").stat().st_size > 1e6
    assert (exported_default / "detector.onnx").stat().st_size > 1e6
    assert manifest["detector"]["calibration"] == pytest.approx(list(load_model(MODEL, backend="torch")
                                                                     .detector.codec.calibration))
    assert manifest["check"]["people_onnx"] == manifest["check"]["people_torch"] > 0
    assert manifest["check"]["max_keypoint_diff_px"] <= 0.5


@pytest.mark.heavy
def test_onnxruntime_keypoints_equal_pytorch_on_lsp_test_images(exported_default, data_root):
    torch_predictor = load_model(MODEL, device="cpu", backend="torch")
    onnx_predictor = load_model(exported_default, threads=2)
    samples = load("lsp", data_root / "lsp", split="test")[::40]  # 25 images spread over the test set
    worst = 0.0
    for sample in samples:
        image = read_image(sample.image_path)
        want, got = torch_predictor.predict(image), onnx_predictor.predict(image)
        assert len(want) == len(got)
        for a, b in zip(want, got):
            worst = max(worst, float(np.abs(a.keypoints[:, :2] - b.keypoints[:, :2]).max()))
            assert np.abs(a.keypoints[:, 2] - b.keypoints[:, 2]).max() < 5e-3
            # (the person score counts keypoints scoring over 0.2 only: one crossing it moves the mean)
            assert a.score == pytest.approx(b.score, abs=0.02)
    assert worst <= 0.5


@pytest.mark.heavy
def test_cli_predict_with_the_exported_folder_writes_coco_results(exported_default, tmp_path, capsys):
    out = tmp_path / "results.json"
    assert main(["predict", str(DEMO_IMAGE), "--model", str(exported_default), "--threads", "1",
                 "--json", str(out)]) == 0
    results = json.loads(out.read_text())
    assert len(results) >= 3 and all(r["category_id"] == 1 and len(r["keypoints"]) == 14 * 3 for r in results)


@pytest.mark.heavy
def test_exports_take_predict_overrides_only_and_never_the_torch_backend(exported_default):
    fewer = load_model(exported_default, overrides=["predict.max_people=1"])
    assert len(fewer.predict(read_image(DEMO_IMAGE))) == 1
    with pytest.raises(ValueError, match="only predict"):
        load_model(exported_default, overrides=["model.kwargs.head_width=8"])
    with pytest.raises(ValueError, match="ONNX export"):
        load_model(exported_default, backend="torch")


def test_auto_backend_is_onnxruntime_on_the_cpu_only_where_installed(monkeypatch):
    assert resolve_backend("auto", "cpu") == "onnxruntime"
    assert resolve_backend("auto", "cuda") == "torch"
    assert resolve_backend("torch", "cpu") == "torch"
    import posekit.runtime.onnx as backend

    monkeypatch.setattr(backend, "onnxruntime_available", lambda: False)
    assert resolve_backend("auto", "cpu") == "torch"
    with pytest.raises(ValueError, match="unknown backend"):
        resolve_backend("tensorrt")


@pytest.mark.heavy
def test_a_checkpoint_on_the_onnxruntime_backend_is_exported_once_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("POSEKIT_CACHE", str(tmp_path))
    first = load_model(MODEL, backend="onnxruntime", overrides=["predict.refine_steps=0"], threads=1)
    assert isinstance(first.model, OnnxNetwork) and first.refine_steps == 0
    folders = list((tmp_path / "onnx").iterdir())
    assert len(folders) == 1  # predict.* overrides do not shape the networks: no second export
    load_model(MODEL, backend="onnxruntime", threads=1)
    assert list((tmp_path / "onnx").iterdir()) == folders


@pytest.mark.heavy
def test_int8_export_calibrates_on_training_images_and_still_finds_the_people(tmp_path, data_root):
    calibration = [read_image(s.image_path) for s in load("lsp", data_root / "lsp", split="train")[:12]]
    manifest = export_pipeline(MODEL, tmp_path / "int8", quantize="int8", calibration=calibration)
    assert manifest["quantize"] == "int8" and manifest["calibration"]["images"] == 12
    people = load_model(tmp_path / "int8", threads=1).predict(read_image(DEMO_IMAGE))
    assert abs(len(people) - manifest["check"]["people_torch"]) <= 1
    with pytest.raises(ValueError, match="calibration"):
        export_pipeline(MODEL, tmp_path / "none", quantize="int8")


def test_without_onnxruntime_the_cli_says_what_to_install(monkeypatch, capsys):
    import posekit.runtime.onnx as backend

    real_import = __import__

    def no_onnxruntime(name, *args, **kwargs):
        if name.split(".")[0] == "onnxruntime":
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr("builtins.__import__", no_onnxruntime)
    assert not backend.onnxruntime_available()
    assert main(["predict", str(DEMO_IMAGE), "--backend", "onnxruntime"]) == 2
    assert "pip install 'posekit[onnx]'" in capsys.readouterr().err
