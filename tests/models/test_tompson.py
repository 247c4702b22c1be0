"""Tompson et al. 2015: shapes, loss names, the fine crops' frame, and the fine model refining a coarse
location that is one cell off."""

import pytest
import torch
import torch.nn as nn

from posekit.models import get_model
from posekit.models.tompson import Tompson

SMALL = dict(width=8, window=4, fine_size=8)


def _targets(n, k, size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    kps = torch.rand(n, k, 3, generator=g) * (size - 1)
    kps[..., 2] = 1
    return {"keypoints": kps, "weights": torch.ones(n, k), "heatmaps": torch.rand(n, k, size // 4, size // 4)}


@pytest.mark.parametrize("loss", ["l2", "bce", "ce"])
def test_shapes_losses_and_gradients(loss):
    torch.manual_seed(0)
    model = get_model("tompson", num_joints=3, loss=loss, **SMALL)
    x = torch.randn(2, 3, 64, 64)
    model.eval()
    with torch.no_grad():
        out = model(x)
    assert set(out) == {"coords", "scores", "coarse_heatmaps"}  # no "heatmaps": the predictor uses coords
    assert out["coords"].shape == (2, 3, 2) and out["coarse_heatmaps"].shape == (2, 3, 16, 16)
    assert out["scores"].shape == (2, 3) and (out["scores"] >= 0).all() and (out["scores"] <= 1).all()
    model.train()
    targets = _targets(2, 3)
    # Centre one joint's window on its true location, so the fine loss sees at least one joint.
    rng = torch.get_rng_state()  # the same SpatialDropout masks in both passes
    coarse = model.coarse(x)[0]
    cell = coarse[0, 0].detach().flatten().argmax()
    targets["keypoints"][0, 0, :2] = torch.stack([cell % 16, cell // 16]).float() * 4 + 1.5
    torch.set_rng_state(rng)
    losses = model(x, targets)
    assert set(losses) == {"loss_coarse", "loss_fine"}
    total = sum(losses.values())
    assert torch.isfinite(total) and losses["loss_fine"] > 0
    total.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing


def test_coarse_model_alone_outside_training():
    """refine=False: the coarse heatmaps (activated), decodable like any heatmap model's; the same weights
    as the full model, whose coarse output they equal; training still returns both losses."""
    torch.manual_seed(0)
    full = get_model("tompson", num_joints=3, loss="bce", **SMALL).eval()
    coarse_only = get_model("tompson", num_joints=3, loss="bce", refine=False, **SMALL).eval()
    coarse_only.load_state_dict(full.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        out, ref = coarse_only(x), full(x)
    assert set(out) == {"heatmaps"}
    assert torch.allclose(out["heatmaps"], torch.sigmoid(ref["coarse_heatmaps"]))
    losses = coarse_only.train()(x, _targets(2, 3))
    assert set(losses) == {"loss_coarse", "loss_fine"}


def test_fine_target_and_decoding_share_one_frame():
    model = Tompson(num_joints=2, **SMALL)
    centres = torch.tensor([[[21.5, 37.5], [40.0, 10.0]]])
    side = 16.0
    kps = torch.tensor([[[23.2, 35.9, 1.0], [60.0, 10.0, 1.0]]])  # joint 1 lies outside its window
    target, w = model.fine_targets(kps, centres, side, torch.ones(1, 2))
    assert w.tolist() == [[1.0, 0.0]] and target[0, 1].abs().max() == 0
    xy = model.locate(target, centres, side, (64, 64))[0, 0] * 64 - 0.5
    # argmax + quarter step: within a quarter of a fine cell (side / fine_size = 2 px) per axis
    assert (xy - kps[0, 0, :2]).abs().max() <= 0.5 + 1e-5
    # A joint at the window centre peaks between the four central cells of the (even-sized) fine map.
    target, _ = model.fine_targets(torch.tensor([[[21.5, 37.5, 1.0]] * 2]), centres[:, :1].repeat(1, 2, 1),
                                   side, torch.ones(1, 2))
    t = target[0, 0]
    assert t[3:5, 3:5].min() == t.max()


class _SumChannels(nn.Module):
    """Stand-in fine head: the sum of the cropped feature channels, copied to K outputs."""

    def __init__(self, k):
        super().__init__()
        self.k = k

    def forward(self, x):
        return x.sum(1, keepdim=True).expand(-1, self.k, -1, -1)


@pytest.mark.parametrize("which", ["full", "half"])
def test_fine_model_crops_the_shared_features_around_the_joint(which):
    # fine_size 9 over a 20 px window: the central crop cell samples the window centre exactly.
    model = Tompson(num_joints=2, width=8, window=5, fine_size=9).eval()
    model.fine_full, model.fine_half, model.fine_head = nn.Identity(), nn.Identity(), _SumChannels(2)
    f_full, f_half = torch.zeros(1, 8, 32, 32), torch.zeros(1, 8, 16, 16)
    if which == "full":  # stride 2: cell (13, 7) is centred on input pixel (26.5, 14.5)
        f_full[0, 3, 7, 13] = 1.0
        centre = [26.5, 14.5]
    else:  # stride 4: cell (9, 3) is centred on input pixel (37.5, 13.5)
        f_half[0, 3, 3, 9] = 1.0
        centre = [37.5, 13.5]
    centres = torch.tensor([[centre, [5.0, 5.0]]])
    fine = model.fine(f_full, f_half, centres, 20.0, (64, 64))
    assert fine.shape == (1, 2, 9, 9)
    assert torch.nonzero(fine[0, 0] == fine[0, 0].max()).tolist() == [[4, 4]]
    assert fine[0, 0].max() == pytest.approx(1.0) and fine[0, 1].abs().max() == 0
    xy = model.locate(fine, centres, 20.0, (64, 64))[0, 0] * 64 - 0.5
    assert xy.tolist() == pytest.approx(centre)


class _FixedMaps(nn.Module):
    """Stand-in coarse head returning fixed heatmaps (plus 0 x the features, to keep the graph)."""

    def __init__(self, maps):
        super().__init__()
        self.maps = maps

    def forward(self, x):
        return self.maps.expand(x.shape[0], -1, -1, -1) + 0 * x[:, :1].mean()


def test_fine_model_refines_a_wrong_coarse_location():
    torch.manual_seed(0)
    k, size = 3, 64
    truth = torch.tensor([[17.3, 14.2], [46.1, 22.8], [29.6, 45.4]])
    yy, xx = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    blobs = sum(torch.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 4.0) for x, y in truth)
    image = (blobs * 3 - 0.5).expand(2, 3, size, size).clone()
    model = Tompson(num_joints=k, **SMALL)
    # The coarse model is replaced by fixed maps peaking one cell (4 px) off each joint.
    cells = ((truth + 0.5) / 4 - 0.5).round().long() + torch.tensor([[1, 0], [0, -1], [-1, 1]])
    maps = torch.zeros(1, k, size // 4, size // 4)
    maps[0, torch.arange(k), cells[:, 1], cells[:, 0]] = 1.0
    model.coarse_head = _FixedMaps(maps)
    coarse_xy = (cells.float() + 0.5) * 4 - 0.5
    kps = torch.cat([truth, torch.ones(k, 1)], 1).expand(2, k, 3).clone()
    targets = {"keypoints": kps, "weights": torch.ones(2, k), "heatmaps": maps.expand(2, -1, -1, -1)}
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(40):
        loss = model(image, targets)["loss_fine"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        out = model(image[:1])
    xy = out["coords"][0] * size - 0.5
    err_coarse = (coarse_xy - truth).norm(dim=-1).mean()
    err_fine = (xy - truth).norm(dim=-1).mean()
    assert err_coarse > 3.0
    assert err_fine < 0.4 * err_coarse, (err_coarse, err_fine)
