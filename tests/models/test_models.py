"""Every registered model: builds, its eval forward has the documented shape, and its training
forward returns named losses whose backward reaches every parameter."""

import pytest
import torch

from posekit.models import get_model, list_models, register_model


@pytest.mark.parametrize("name", list_models())
def test_forward_backward(name):
    torch.manual_seed(0)
    model = get_model(name, num_joints=14)
    x = torch.randn(2, 3, 128, 128)
    model.eval()
    with torch.no_grad():
        out = model(x)
    assert out["heatmaps"].shape == (2, 14, 32, 32)
    model.train()
    targets = {"heatmaps": torch.rand(2, 14, 32, 32), "weights": torch.ones(2, 14)}
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
