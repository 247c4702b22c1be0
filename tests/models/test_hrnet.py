"""HRNet: output shapes, the parallel branches' resolutions and widths, gradients to every parameter."""

import pytest
import torch

from posekit.models import get_model
from posekit.models.hrnet import HRModule

K = 5


def _small(**kwargs):
    torch.manual_seed(0)
    kwargs = {"width": 8, "stem_width": 16, "num_blocks": 1, **kwargs}
    return get_model("hrnet", num_joints=K, **kwargs)


@pytest.mark.parametrize("size", [64, 128])
def test_shapes_and_branch_resolutions(size):
    model = _small().eval()
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        out = model(x)
        branches = model.branch_features(x)
    assert out["heatmaps"].shape == (2, K, size // 4, size // 4)
    assert [tuple(b.shape) for b in branches] == [
        (2, 8 * 2**b, size // 4 // 2**b, size // 4 // 2**b) for b in range(4)
    ]


def test_every_stage_adds_a_branch():
    seen = []
    model = _small(num_modules=(1, 1, 2, 1)).eval()
    for transition in model.transitions:
        transition.register_forward_hook(lambda m, i, o: seen.append([t.shape[-1] for t in o]))
    # Modules that exchange into every branch (all but the very last one).
    model.stages[1][1].register_forward_hook(lambda m, i, o: seen.append([t.shape[-1] for t in o]))
    with torch.no_grad():
        model(torch.randn(1, 3, 128, 128))
    assert seen == [[32, 16], [32, 16, 8], [32, 16, 8], [32, 16, 8, 4]]
    assert [len(s) for s in model.stages] == [1, 2, 1]
    # The last module fuses into the high-resolution branch only (its other outputs would be unused).
    assert len(model.stages[-1][-1].fuse) == 1 and len(model.stages[1][-1].fuse) == 3


def test_fusion_sums_every_branch():
    module = HRModule([4, 8, 16], num_blocks=1)
    assert [len(row) for row in module.fuse] == [3, 3, 3]
    # Branch 2 from branch 0: two stride-2 convs; branch 0 from branch 2: a 1x1 conv (then upsampling).
    assert len(module.fuse[2][0]) == 2 and module.fuse[0][2][0].kernel_size == (1, 1)
    xs = [torch.randn(1, 4, 16, 16), torch.randn(1, 8, 8, 8), torch.randn(1, 16, 4, 4)]
    with torch.no_grad():
        out = module.eval()(xs)
    assert [tuple(o.shape) for o in out] == [tuple(x.shape) for x in xs]


def test_gradients_reach_every_parameter():
    model = _small().train()
    targets = {"heatmaps": torch.rand(2, K, 16, 16), "weights": torch.ones(2, K)}
    losses = model(torch.randn(2, 3, 64, 64), targets)
    assert list(losses) == ["loss_heatmap"]
    sum(losses.values()).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


def test_paper_w32_layout():
    model = get_model("hrnet", num_joints=17, width=32, num_modules=(1, 1, 4, 3), num_blocks=4,
                      stem_width=64)
    assert [len(s) for s in model.stages] == [1, 4, 3]
    assert len(model.stage1) == 4
    assert [len(b) for b in model.stages[-1][0].branches] == [4, 4, 4, 4]
    assert abs(sum(p.numel() for p in model.parameters()) / 1e6 - 28.5) < 0.5  # paper: 28.5M
