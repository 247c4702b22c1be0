"""Every registered pose model: builds, its eval forward has the documented shape ({"heatmaps": (N,K,H/4,W/4)}
or {"coords": (N,K,2)}; bottom-up models add "pafs" (N,2L,H/4,W/4)), and its training forward returns named
losses whose backward reaches every parameter. (The person detector, ``centernet``, has its own test in
test_centernet.py.)"""

import pytest
import torch

from posekit.models import get_model, list_models, register_model


@pytest.mark.parametrize("name", [m for m in list_models() if m != "centernet"])
def test_forward_backward(name):
    torch.manual_seed(0)
    model = get_model(name, num_joints=14)
    x = torch.randn(2, 3, 128, 128)
    model.eval()
    with torch.no_grad():
        out = model(x)
    # Heatmap models return heatmaps at stride 4; coordinate models normalised coordinates.
    assert "heatmaps" in out or "coords" in out
    if "heatmaps" in out:
        assert out["heatmaps"].shape == (2, 14, 32, 32)
        if "offsets" in out:  # G-RMI: an offset field per joint
            assert out["offsets"].shape == (2, 14, 2, 32, 32)
        if "pafs" in out:  # part affinity fields: (x, y) per limb of LSP-14
            assert out["pafs"].shape == (2, 28, 32, 32)
    else:
        assert out["coords"].shape == (2, 14, 2)
        if "scores" in out:
            assert out["scores"].shape == (2, 14)
    model.train()
    keypoints = torch.rand(2, 14, 3) * 127  # (x, y) inside the 128x128 input
    keypoints[..., 2] = 1
    targets = {"heatmaps": torch.rand(2, 14, 32, 32), "weights": torch.ones(2, 14), "keypoints": keypoints,
               "offsets": torch.rand(2, 14, 2, 32, 32) - 0.5, "disk": (torch.rand(2, 14, 32, 32) > 0.9).float(),
               "pafs": torch.rand(2, 14, 2, 32, 32) * 2 - 1}
    losses = model(x, targets)
    assert losses and all(k.startswith("loss_") for k in losses)
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing


def test_registry_rejects_duplicates_and_unknown_names():
    with pytest.raises(ValueError, match="already registered"):
        register_model(list_models()[0])(lambda **kw: None)
    with pytest.raises(KeyError, match="unknown model"):
        get_model("no-such-model")


@pytest.mark.parametrize("loss", ["l2", "l1", "ce", "bce"])
def test_simplebaseline_heatmap_losses(loss):
    model = get_model("simplebaseline", num_joints=3, loss=loss, widths=(8, 8, 16, 16, 32), head_width=8)
    model.train()
    losses = model(torch.randn(2, 3, 64, 64), {"heatmaps": torch.rand(2, 3, 16, 16), "weights": torch.ones(2, 3)})
    assert len(losses) == 1 and torch.isfinite(next(iter(losses.values())))


@pytest.mark.parametrize("name", ["simplebaseline", "hourglass", "hrnet", "tompson"])
def test_logit_losses_give_confidences_in_0_1_outside_training(name):
    """A ce- or bce-trained heatmap model outputs activated maps (heatmap_activation) at eval, so scores
    and the predictor's relative thresholds mean the same as for l2 models."""
    torch.manual_seed(0)
    for loss in ("ce", "bce"):
        model = get_model(name, num_joints=3, loss=loss).eval()
        with torch.no_grad():
            out = model(torch.randn(1, 3, 128, 128) * 3)
        values = out["heatmaps"] if "heatmaps" in out else out["scores"]
        assert values.min() >= 0 and values.max() <= 1 + 1e-6
