"""Stacked Hourglass: output shapes, one loss per supervised stack, one head per stack, gradients."""

import pytest
import torch

from posekit.models import get_model

K = 5


def _small(**kwargs):
    torch.manual_seed(0)
    kwargs = {"width": 16, **kwargs}
    return get_model("hourglass", num_joints=K, **kwargs)


def _targets(n, size):
    return {"heatmaps": torch.rand(n, K, size // 4, size // 4), "weights": torch.ones(n, K)}


@pytest.mark.parametrize("size", [64, 128])
def test_shapes(size):
    model = _small().eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, size, size))
        stacks = model.stack_heatmaps(torch.randn(2, 3, size, size))
    assert out["heatmaps"].shape == (2, K, size // 4, size // 4)
    assert len(stacks) == 2 and all(s.shape == (2, K, size // 4, size // 4) for s in stacks)


def test_eval_output_is_last_stack():
    model = _small(num_stacks=3).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x)["heatmaps"], model.stack_heatmaps(x)[-1])


@pytest.mark.parametrize("stacks", [1, 2, 3])
def test_intermediate_supervision_one_loss_per_stack(stacks):
    model = _small(num_stacks=stacks).train()
    assert len(model.heads) == stacks
    x, t = torch.randn(2, 3, 64, 64), _targets(2, 64)
    losses = model(x, t)
    assert sorted(losses) == [f"loss_stack{i}" for i in range(stacks)]
    model = _small(num_stacks=stacks, intermediate=False).train()
    losses = model(x, t)
    assert list(losses) == [f"loss_stack{stacks - 1}"]


def test_stack_count_changes_heads_and_parameters():
    one, three = _small(num_stacks=1), _small(num_stacks=3)
    assert len(one.heads) == 1 and len(three.heads) == 3
    assert len(one.remap_heatmaps) == 0 and len(three.remap_heatmaps) == 2
    assert sum(p.numel() for p in three.parameters()) > sum(p.numel() for p in one.parameters())


@pytest.mark.parametrize("intermediate", [True, False])
def test_gradients_reach_every_parameter(intermediate):
    model = _small(intermediate=intermediate).train()
    losses = model(torch.randn(2, 3, 64, 64), _targets(2, 64))
    sum(losses.values()).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


def test_depth_sets_lowest_resolution():
    seen = []
    model = _small(depth=2).eval()
    inner = model.hourglasses[0].inner.inner  # depth 2: the bottom residual
    inner.register_forward_hook(lambda m, i, o: seen.append(o.shape[-1]))
    with torch.no_grad():
        model(torch.randn(1, 3, 64, 64))
    assert seen == [16 // 4]
    with pytest.raises(ValueError, match="divisible"):
        model(torch.randn(1, 3, 72, 72))
