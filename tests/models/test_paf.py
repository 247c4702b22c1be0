"""Part Affinity Fields network (models/paf.py): shapes, a loss at every stage, masks that really remove
cells from the loss, backward reaching every parameter, and the default network's weights fitting its
backbone."""

import pytest
import torch

from posekit.models import get_model

SMALL = dict(widths=(8, 8, 16, 16, 32), blocks=(1, 1, 1, 1), head_width=8, stage_width=8)


def _targets(n=2, k=14, limbs=14, size=16):
    g = torch.Generator().manual_seed(0)
    return {"heatmaps": torch.rand(n, k, size, size, generator=g),
            "pafs": torch.rand(n, limbs, 2, size, size, generator=g) * 2 - 1,
            "heatmap_mask": torch.ones(n, k, size, size), "paf_mask": torch.ones(n, limbs, size, size)}


@pytest.mark.parametrize("stages", [1, 3])
def test_outputs_and_one_loss_per_stage(stages):
    torch.manual_seed(0)
    model = get_model("paf", num_joints=14, num_limbs=14, num_stages=stages, **SMALL)
    x = torch.randn(2, 3, 64, 64)
    model.eval()
    with torch.no_grad():
        out = model(x)
    assert set(out) == {"heatmaps", "pafs"}
    assert out["heatmaps"].shape == (2, 14, 16, 16) and out["pafs"].shape == (2, 28, 16, 16)
    model.train()
    losses = model(x, _targets())
    assert set(losses) == {f"loss_{kind}_s{t}" for t in range(1, stages + 1) for kind in ("heatmap", "paf")}
    sum(losses.values()).backward()
    assert not [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    # every stage's output conv gets a gradient from its own loss alone (intermediate supervision)
    for t in range(stages):
        model.zero_grad()
        losses = model(x, _targets())
        losses[f"loss_paf_s{t + 1}"].backward()
        assert model.paf_stages[t].paf[-1].weight.grad.abs().sum() > 0


def test_masked_cells_carry_no_loss_and_no_gradient():
    torch.manual_seed(0)
    model = get_model("paf", num_joints=3, num_limbs=2, num_stages=2, **SMALL).train()
    x = torch.randn(1, 3, 64, 64)
    t = _targets(1, 3, 2)
    t["heatmap_mask"][:, :, :, 8:] = 0  # right half of every map unsupervised
    t["paf_mask"][:, 1] = 0  # limb 1's field unsupervised everywhere
    base = {k: v.item() for k, v in model(x, t).items()}
    changed = dict(t)
    changed["heatmaps"] = t["heatmaps"].clone()
    changed["heatmaps"][:, :, :, 8:] = 100.0  # garbage where masked: nothing changes
    changed["pafs"] = t["pafs"].clone()
    changed["pafs"][:, 1] = float("nan")
    after = {k: v.item() for k, v in model(x, changed).items()}
    assert after == pytest.approx(base)
    # a per-limb mask covers both (x, y) channels; an unmasked change shows
    changed["pafs"][:, 0] += 1.0
    assert model(x, changed)["loss_paf_s1"].item() > base["loss_paf_s1"]


def test_a_few_steps_fit_one_batch():
    torch.manual_seed(0)
    model = get_model("paf", num_joints=3, num_limbs=2, num_stages=2, **SMALL).train()
    x = torch.randn(2, 3, 32, 32)
    t = _targets(2, 3, 2, size=8)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(40):
        loss = sum(model(x, t).values())
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


def test_the_default_pose_network_initialises_the_backbone():
    """``model.init_weights: default`` (the shipped pose network): every backbone tensor fits by name and
    shape; only the stages start fresh."""
    from posekit.checkpoint import load_weights

    model = get_model("paf", num_joints=14, num_limbs=14)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    load_weights(model, "default", partial=True)
    after = model.state_dict()
    changed = {k for k in after if not torch.equal(before[k], after[k])}
    backbone = {k for k in after if k.startswith(("stem.", "stages.", "ups.")) and "num_batches" not in k}
    assert backbone <= changed
    assert not {k for k in changed if k.startswith("paf_stages.")}
