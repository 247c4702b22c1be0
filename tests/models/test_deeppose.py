"""DeepPose: shapes, per-stage losses, the window crop's frame, and the cascade refining a wrong estimate."""

import pytest
import torch

from posekit.models import get_model
from posekit.models.blocks import crop_windows
from posekit.models.deeppose import DeepPose, pose_diameter

SMALL = dict(width=8, blocks=(1, 1, 1, 1), pool_size=2, crop_size=16, hidden=32)


def _targets(n, k, size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    kps = torch.rand(n, k, 3, generator=g) * (size - 1)
    kps[..., 2] = 1
    kps[0, 0] = 0  # one unlabelled joint
    return {"keypoints": kps, "weights": (kps[..., 2] > 0).float()}


def test_shapes_losses_and_gradients():
    torch.manual_seed(0)
    model = get_model("deeppose", num_joints=3, num_stages=3, **SMALL)
    x = torch.randn(2, 3, 64, 64)
    model.eval()
    with torch.no_grad():
        out = model(x)
    assert set(out) == {"coords"} and out["coords"].shape == (2, 3, 2)
    model.train()
    losses = model(x, _targets(2, 3))
    assert set(losses) == {"loss_stage1", "loss_stage2", "loss_stage3"}
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing
    assert model.error_init.all()  # the stage-1 and stage-2 error statistics were fitted


def test_l1_loss_and_bad_arguments():
    model = DeepPose(num_joints=2, num_stages=1, loss="l1", **SMALL).train()
    losses = model(torch.randn(2, 3, 64, 64), _targets(2, 2))
    assert set(losses) == {"loss_stage1"}
    with pytest.raises(ValueError, match="loss"):
        DeepPose(loss="ce")
    with pytest.raises(ValueError, match="crop_size"):
        DeepPose(crop_size=20)


def test_crop_windows_samples_the_right_pixels():
    img = torch.zeros(1, 1, 64, 64)
    img[0, 0, 22, 40] = 1.0  # bright dot at (x, y) = (40, 22)
    # A 9x9 window of side 9 px (1:1) centred on the dot: the dot lands exactly on the centre cell.
    crop = crop_windows(img, torch.tensor([[[40.0, 22.0]]]), 9.0, 9, (64, 64))[0, 0, 0]
    assert crop.shape == (9, 9) and crop[4, 4] == pytest.approx(1.0) and crop.sum() == pytest.approx(1.0)
    # Window centred 3 px left and 2 px below the dot: the dot is 3 columns right, 2 rows up of the centre.
    crop = crop_windows(img, torch.tensor([[[37.0, 24.0]]]), 9.0, 9, (64, 64))[0, 0, 0]
    assert crop[2, 7] == pytest.approx(1.0)
    # Feature maps at stride 2 cover the same frame: cell (20, 11) is centred on input pixel (40.5, 22.5).
    feat = torch.zeros(1, 1, 32, 32)
    feat[0, 0, 11, 20] = 1.0
    crop = crop_windows(feat, torch.tensor([[[40.5, 22.5]]]), 18.0, 9, (64, 64))[0, 0, 0]
    assert torch.nonzero(crop == crop.max()).tolist() == [[4, 4]] and crop.max() == pytest.approx(1.0)


def test_identity_refiner_keeps_the_estimate_and_stages_used():
    torch.manual_seed(0)
    model = DeepPose(num_joints=3, num_stages=2, **SMALL).eval()
    last = model.refiners[0].head[-1]
    with torch.no_grad():
        last.weight.zero_()
        x = torch.randn(2, 3, 64, 64)
        one = model(x)["coords"]
        model.stages_used = 1
        assert torch.equal(model(x)["coords"], one)  # zero displacement: the crop frame round-trips
        last.bias.fill_(0.25)  # every joint moves a quarter window right and down
        model.stages_used = None
        two = model(x)["coords"]
        model.stages_used = 1
        assert torch.equal(model(x)["coords"], one) and not torch.allclose(two, one)
    sides = model._window_sides(pose_diameter(one * 64), (64, 64))
    assert torch.allclose((two - one) * 64, 0.25 * sides[:, None, None].expand(2, 3, 2), atol=1e-4)


def test_cascade_refines_a_wrong_stage1_estimate():
    torch.manual_seed(0)
    k, size = 3, 64
    truth = torch.tensor([[16.0, 16.0], [47.0, 21.0], [30.0, 46.0]])
    yy, xx = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    blobs = sum(torch.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 4.0) for x, y in truth)
    image = (blobs * 3 - 0.5).expand(1, 3, size, size).repeat(2, 1, 1, 1)
    kps = torch.cat([truth, torch.ones(k, 1)], 1).expand(2, k, 3).clone()
    model = DeepPose(num_joints=k, num_stages=2, window_frac=0.5, **SMALL)
    # Stage 1 is frozen to a deliberately wrong pose: every joint 4-5 px off.
    wrong = truth + torch.tensor([[4.0, -3.0], [-4.0, 3.0], [3.0, 4.0]])
    last = model.stage1.head[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(((wrong + 0.5) / size).flatten())
    model.stage1.requires_grad_(False)
    opt = torch.optim.Adam(model.refiners.parameters(), lr=3e-3)
    model.train()
    for _ in range(40):
        losses = model(image, {"keypoints": kps, "weights": torch.ones(2, k)})
        opt.zero_grad()
        losses["loss_stage2"].backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        full = model(image[:1])["coords"][0] * size - 0.5
        model.stages_used = 1
        first = model(image[:1])["coords"][0] * size - 0.5
    err1 = (first - truth).norm(dim=-1).mean()
    err2 = (full - truth).norm(dim=-1).mean()
    assert err1 == pytest.approx(5.0, abs=1e-3)
    assert err2 < 0.4 * err1, (err1, err2)


def test_hidden_units_cannot_all_die():
    """Even with every hidden pre-activation pushed far negative (the state a too-large step leaves a plain
    Linear -> ReLU head in), the training-mode output still depends on the image."""
    torch.manual_seed(0)
    model = DeepPose(num_joints=3, num_stages=1, **SMALL).train()
    with torch.no_grad():
        model.stage1.head[1].weight.add_(-100.0)
    out = model.stage1(torch.randn(8, 3, 64, 64))
    assert out.std(0).mean() > 1e-4
