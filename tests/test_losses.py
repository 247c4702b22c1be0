"""Losses: hand-computed values, weight handling (a zero weight removes a joint), gradient flow."""

from __future__ import annotations

import math

import pytest
import torch

from posekit.losses import (
    HEATMAP_LOSSES,
    disk_bce,
    heatmap_bce,
    heatmap_ce_softmax,
    heatmap_l1,
    heatmap_l2,
    masked_l2,
    offset_loss,
    regression_l1,
    regression_l2,
)


def only(d: dict) -> torch.Tensor:
    assert len(d) == 1
    (value,) = d.values()
    assert value.dim() == 0
    return value


# ------------------------------------------------------------------------------------- hand-computed values
def test_heatmap_l2_and_l1_values():
    pred = torch.zeros(1, 2, 2, 2)
    target = torch.stack([torch.ones(2, 2), torch.full((2, 2), 2.0)])[None]  # per-joint MSE 1 and 4
    assert heatmap_l2(pred, target) == {"loss_heatmap_l2": pytest.approx(2.5)}
    assert only(heatmap_l2(pred, target, torch.tensor([[1.0, 0.0]]))).item() == pytest.approx(1.0)
    assert only(heatmap_l2(pred, target, torch.tensor([[1.0, 3.0]]))).item() == pytest.approx((1 + 12) / 4)
    assert only(heatmap_l1(pred, target)).item() == pytest.approx(1.5)
    target[0, 0, 0, 0] = 3.0  # joint 0: |err| = 3, 1, 1, 1 -> mean 1.5; squared 9, 1, 1, 1 -> 3
    assert only(heatmap_l1(pred, target, torch.tensor([[1.0, 0.0]]))).item() == pytest.approx(1.5)
    assert only(heatmap_l2(pred, target, torch.tensor([[1.0, 0.0]]))).item() == pytest.approx(3.0)


def test_heatmap_ce_softmax_values():
    target = torch.zeros(1, 1, 2, 2)
    target[0, 0, 0, 1] = 0.7  # one-hot after normalisation
    uniform = torch.zeros(1, 1, 2, 2)
    assert only(heatmap_ce_softmax(uniform, target)).item() == pytest.approx(math.log(4))
    logits = torch.tensor([[[[0.0, math.log(3.0)], [0.0, 0.0]]]])  # softmax: 1/6, 3/6, 1/6, 1/6
    assert only(heatmap_ce_softmax(logits, target)).item() == pytest.approx(-math.log(0.5))
    target[0, 0, 1, 0] = 0.7  # q = (0, .5, .5, 0)
    expect = -(0.5 * math.log(0.5) + 0.5 * math.log(1 / 6))
    assert only(heatmap_ce_softmax(logits, target)).item() == pytest.approx(expect)
    # an all-zero target map contributes nothing (no distribution to match)
    two = torch.cat([logits, logits], 1)
    t2 = torch.cat([target, torch.zeros_like(target)], 1)
    assert only(heatmap_ce_softmax(two, t2)).item() == pytest.approx(expect)


def test_heatmap_bce_values():
    x = torch.tensor([[[[0.0, math.log(3.0)]]]])  # sigmoid: 0.5, 0.75
    t = torch.tensor([[[[0.3, 1.0]]]])
    expect = (math.log(2) - math.log(0.75)) / 2  # logit 0 costs log 2 whatever the target
    assert only(heatmap_bce(x, t)).item() == pytest.approx(expect)
    assert disk_bce(x, t) == {"loss_disk": pytest.approx(expect)}


def test_regression_values():
    pred = torch.tensor([[[0.0, 0.0], [1.0, 1.0]]])
    target = torch.tensor([[[3.0, 4.0], [1.0, 1.0]]])
    assert regression_l2(pred, target) == {"loss_regression_l2": pytest.approx(12.5)}
    assert regression_l1(pred, target) == {"loss_regression_l1": pytest.approx(3.5)}
    assert only(regression_l2(pred, target, torch.tensor([[1.0, 0.0]]))).item() == pytest.approx(25.0)


def test_offset_loss_values():
    pred = torch.zeros(1, 1, 2, 1, 3)
    target = torch.zeros(1, 1, 2, 1, 3)
    target[0, 0, 0, 0, 0] = 0.1  # cell 0: dx error 0.1 (quadratic zone of the Huber loss)
    target[0, 0, 1, 0, 1] = 1.0  # cell 1: dy error 1.0 (linear zone)
    target[0, 0, :, 0, 2] = 5.0  # cell 2: outside the disk, ignored
    disk = torch.tensor([[[[1.0, 1.0, 0.0]]]])
    huber = (0.5 * 0.1**2 + 0.25 * (1.0 - 0.5 * 0.25)) / 2
    assert offset_loss(pred, target, disk) == {"loss_offset": pytest.approx(huber)}
    assert only(offset_loss(pred, target, disk, kind="l1")).item() == pytest.approx(1.1 / 2)
    assert only(offset_loss(pred, target, disk, kind="l2")).item() == pytest.approx(1.01 / 2)
    assert only(offset_loss(pred, target, torch.zeros_like(disk))).item() == 0.0  # empty disk
    with pytest.raises(ValueError):
        offset_loss(pred, target, disk, kind="cauchy")


def test_names_and_registry():
    assert set(HEATMAP_LOSSES) == {"l1", "l2", "ce", "bce"}
    x = torch.rand(2, 3, 4, 4)
    assert set(heatmap_ce_softmax(x, x)) == {"loss_heatmap_ce"}
    assert set(heatmap_l2(x, x, name="stage2")) == {"loss_stage2"}
    with pytest.raises(ValueError):
        heatmap_l2(x, x[:, :2])


# ------------------------------------------------------------------------------- weights and gradients
def _cases():
    g = torch.Generator().manual_seed(0)
    n, k, h, w = 2, 3, 5, 4
    hm = torch.rand(n, k, h, w, generator=g)
    coords = torch.rand(n, k, 2, generator=g)
    off = torch.rand(n, k, 2, h, w, generator=g) - 0.5
    disk = (torch.rand(n, k, h, w, generator=g) > 0.5).float()
    cases = [(name, fn, (torch.randn(n, k, h, w, generator=g), hm), {})
             for name, fn in HEATMAP_LOSSES.items()]
    cases += [
        ("regression_l2", regression_l2, (torch.rand(n, k, 2, generator=g), coords), {}),
        ("regression_l1", regression_l1, (torch.rand(n, k, 2, generator=g), coords), {}),
        ("offset", offset_loss, (torch.randn(n, k, 2, h, w, generator=g), off), {"disk": disk}),
        ("disk_bce", disk_bce, (torch.randn(n, k, h, w, generator=g), disk), {}),
    ]
    return cases


@pytest.mark.parametrize("name,fn,args,kwargs", _cases(), ids=[c[0] for c in _cases()])
def test_zero_weight_removes_joint_and_gradients_flow(name, fn, args, kwargs):
    pred, target = args
    weights = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.5]])
    pred = pred.clone().requires_grad_(True)
    loss = only(fn(pred, target, weights=weights, **kwargs))
    assert torch.isfinite(loss) and loss.item() > 0
    loss.backward()
    grad = pred.grad
    assert torch.isfinite(grad).all()
    assert grad[0, 0].abs().sum() > 0 and grad[1, 1].abs().sum() > 0 and grad[1, 2].abs().sum() > 0
    assert grad[0, 1].abs().sum() == 0 and grad[1, 0].abs().sum() == 0  # zero-weight joints: no gradient

    # changing (even poisoning) a zero-weight joint's prediction leaves the loss unchanged
    changed = pred.detach().clone()
    changed[0, 1] = 123.0
    changed[1, 0] = float("nan")
    assert only(fn(changed, target, weights=weights, **kwargs)).item() == pytest.approx(loss.item())

    # normalised by the sum of weights: duplicating the batch changes nothing
    twice = {k: torch.cat([v] * 2) for k, v in kwargs.items()}
    double = only(fn(torch.cat([pred.detach()] * 2), torch.cat([target] * 2),
                     weights=torch.cat([weights] * 2), **twice))
    assert double.item() == pytest.approx(loss.item(), rel=1e-5)

    # no labelled joint at all: zero loss, zero (finite) gradient
    p0 = pred.detach().clone().requires_grad_(True)
    zero = only(fn(p0, target, weights=torch.zeros(2, 3), **kwargs))
    zero.backward()
    assert zero.item() == 0.0 and (p0.grad == 0).all()


def test_weights_default_and_numpy():
    import numpy as np

    x, t = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4)
    a = only(heatmap_l2(x, t))
    b = only(heatmap_l2(x, t, np.ones((2, 3), np.float32)))
    assert a.item() == pytest.approx(b.item())


def test_training_step_reduces_loss():
    """A free heatmap fitted by gradient descent under each heatmap loss moves towards the target."""
    torch.manual_seed(0)
    target = torch.zeros(1, 2, 8, 8)
    target[0, 0, 3, 4] = 1.0
    target[0, 1, 6, 1] = 1.0
    for name, fn in HEATMAP_LOSSES.items():
        pred = torch.zeros(1, 2, 8, 8, requires_grad=True)
        opt = torch.optim.SGD([pred], lr=5.0 if name in ("l2", "l1") else 1.0)
        first = None
        for _ in range(20):
            opt.zero_grad()
            loss = only(fn(pred, target))
            loss.backward()
            opt.step()
            first = loss.item() if first is None else first
        assert loss.item() < first, name


def test_heatmap_activation_gives_decodable_maps_in_0_1_for_every_loss():
    from posekit.losses import HEATMAP_ACTIVATIONS, heatmap_activation

    torch.manual_seed(0)
    logits = torch.randn(2, 3, 16, 16)
    logits[:, :, 5, 9] += 30.0  # a sure joint at cell (x 9, y 5)
    assert set(HEATMAP_ACTIVATIONS) == set(HEATMAP_LOSSES)
    for name in ("ce", "bce"):
        maps = heatmap_activation(name)(logits)
        assert maps.shape == logits.shape and maps.min() >= 0 and maps.max() <= 1
        peak = maps.flatten(2).argmax(-1)
        assert (peak == 5 * 16 + 9).all() and torch.allclose(maps[:, :, 5, 9], torch.ones(2, 3), atol=1e-4)
    assert torch.equal(heatmap_activation("l2")(logits), logits)
    with pytest.raises(ValueError, match="unknown heatmap loss"):
        heatmap_activation("l3")


def test_masked_l2_hand_values_and_nan_proof_mask():
    pred = torch.zeros(1, 2, 2, 2, requires_grad=True)
    target = torch.tensor([[[[1.0, 2.0], [0.0, 0.0]], [[float("nan"), 0.0], [0.0, 3.0]]]])
    mask = torch.tensor([[[[1.0, 1.0], [1.0, 1.0]], [[0.0, 1.0], [1.0, 1.0]]]])
    loss = only(masked_l2(pred, target, mask, name="x"))
    assert loss.item() == pytest.approx((1 + 4 + 9) / 8)  # mean over all 8 cells, the masked one counts 0
    loss.backward()
    assert torch.isfinite(pred.grad).all() and pred.grad[0, 1, 0, 0] == 0
    # an all-ones mask is heatmap_l2 with every joint labelled; a (N, 1, h, w) mask broadcasts
    clean = torch.nan_to_num(target)
    assert only(masked_l2(pred, clean, torch.ones(1, 1, 2, 2))).item() == pytest.approx(
        only(heatmap_l2(pred, clean)).item())
