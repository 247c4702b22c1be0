"""HRNet (Sun, Xiao, Liu & Wang, "Deep High-Resolution Representation Learning for Human Pose
Estimation", CVPR 2019).

A high-resolution branch is kept from the stem to the output; lower-resolution branches are added
stage by stage (stage s has s parallel branches at strides 4, 8, 16, 32 with widths C, 2C, 4C, 8C), and
the branches exchange information repeatedly: every *exchange unit* (HR module) runs a few residual
blocks on each branch, then each output branch sums all the input branches, brought to its resolution
and width (identity for the same branch; one stride-2 3x3 conv per halving to go down; a 1x1 conv and
nearest upsampling to go up), followed by a ReLU. The heatmaps are a 1x1 conv of the final
highest-resolution branch.

Layout (paper values; posekit's CPU defaults in brackets):

  * stem: two 3x3 stride-2 conv-BN-ReLU at 64 channels [``stem_width`` = 32] -> stride 4.
  * stage 1: Bottlenecks (expansion 4) at inner width 64, out 256 [``stem_width``, 4 x ``stem_width``];
    4 blocks [``num_blocks`` = 2].
  * transitions: a 3x3 conv (stride 1) to width C for branch 0 after stage 1; each new branch is a 3x3
    stride-2 conv-BN-ReLU of the previous lowest-resolution branch.
  * stages 2, 3, 4: 1, 4, 3 HR modules [``num_modules`` = (1, 1, 1, 1), stage 1 first]; 4 BasicBlocks
    per branch in each [``num_blocks`` = 2]; C = 32 or 48 (W32 / W48) [``width`` = 16].
  * the last module of the last stage fuses into the highest-resolution branch only (as in the
    official code: the other outputs would be unused).
  * head: 1x1 conv C -> K.

Departures from the paper (all stated):
  * Smaller by default (W16, one module per stage, 2 blocks per branch and in stage 1, and a 32-channel
    stem with 32 -> 128 Bottlenecks in stage 1 instead of 64 -> 256: at W16 the paper's fixed 64-channel
    stem and stage 1 would cost more than half of the network's MACs) so that it trains on a CPU; every
    size is an argument, and ``width=32, num_modules=(1, 1, 4, 3), num_blocks=4, stem_width=64`` is
    HRNet-W32 (28.5M parameters, as in the paper).
  * No ImageNet pre-training; PyTorch's default initialisation except the head (normal, std 0.001).
  * The loss is posekit's heatmap loss (``HEATMAP_LOSSES[loss]``, default MSE with per-joint visibility
    weights, normalised by the labelled joints; the paper's JointsMSELoss is 0.5 x MSE averaged over all K).
  * Upsampling in the fusion resizes to the target branch's exact size (nearest), which equals the
    paper's x2^k nearest upsampling when H and W are divisible by 32, and also works when they are not.

Input (N, 3, H, W) normalised RGB; output heatmaps (N, K, H/4, W/4).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from posekit.losses import heatmap_activation, heatmap_loss
from posekit.models import register_model
from posekit.models.blocks import BasicBlock, Bottleneck, conv_bn, conv_bn_relu


class HRModule(nn.Module):
    """One exchange unit over parallel branches (paper Sec. 3, "Repeated multi-scale fusion").

    widths[b]: channels of branch b, whose resolution is that of branch 0 halved b times.
    forward(list of (N, widths[b], h/2^b, w/2^b)) -> the same list (or only branch 0 when
    ``multi_scale_output`` is False).
    """

    def __init__(self, widths: Sequence[int], num_blocks: int, multi_scale_output: bool = True) -> None:
        super().__init__()
        widths = list(widths)
        self.branches = nn.ModuleList(
            nn.Sequential(*(BasicBlock(w, w) for _ in range(num_blocks))) for w in widths
        )
        outputs = len(widths) if multi_scale_output else 1
        fuse = []
        for i in range(outputs):
            row = []
            for j, wj in enumerate(widths):
                if j == i:
                    row.append(nn.Identity())
                elif j > i:  # lower resolution -> up: 1x1 conv to width i (upsampled in forward)
                    row.append(conv_bn(wj, widths[i], 1))
                else:  # higher resolution -> down: i-j stride-2 3x3 convs, width j until the last one
                    steps = [conv_bn_relu(wj, wj, 3, stride=2) for _ in range(i - j - 1)]
                    steps.append(conv_bn(wj, widths[i], 3, stride=2))
                    row.append(nn.Sequential(*steps))
            fuse.append(nn.ModuleList(row))
        self.fuse = nn.ModuleList(fuse)
        self.relu = nn.ReLU(inplace=True)

    def branch_forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        """The residual blocks of every branch (before the exchange)."""
        if len(xs) != len(self.branches):
            raise ValueError(f"HRModule: expected {len(self.branches)} branches, got {len(xs)}")
        return [branch(x) for branch, x in zip(self.branches, xs)]

    def fuse_forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        """The exchange: output i = ReLU(sum over j of x_j brought to branch i's resolution and width)."""
        out = []
        for i, row in enumerate(self.fuse):
            y = xs[i]
            for j, (layer, x) in enumerate(zip(row, xs)):
                if j == i:
                    continue
                z = layer(x)
                if j > i:
                    z = F.interpolate(z, size=xs[i].shape[-2:], mode="nearest")
                y = y + z
            out.append(self.relu(y))
        return out

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        return self.fuse_forward(self.branch_forward(xs))


class Transition(nn.Module):
    """From the branches of one stage to the next: keep (or re-width with a 3x3 conv) the existing
    branches, and create each new branch by stride-2 3x3 conv-BN-ReLUs of the lowest-resolution one."""

    def __init__(self, prev: Sequence[int], new: Sequence[int]) -> None:
        super().__init__()
        layers = []
        for i, w in enumerate(new):
            if i < len(prev):
                layers.append(nn.Identity() if prev[i] == w else conv_bn_relu(prev[i], w, 3))
            else:
                steps, cin = [], prev[-1]
                for k in range(i + 1 - len(prev)):
                    cout = w if k == i - len(prev) else cin
                    steps.append(conv_bn_relu(cin, cout, 3, stride=2))
                    cin = cout
                layers.append(nn.Sequential(*steps))
        self.layers = nn.ModuleList(layers)
        self.num_prev = len(prev)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        return [layer(xs[i] if i < self.num_prev else xs[-1]) for i, layer in enumerate(self.layers)]


class HRNet(nn.Module):
    """HRNet for heatmap pose estimation.

    num_joints: K heatmaps out.
    width: C, the channels of the highest-resolution branch; branch b has C * 2**b (paper 32 or 48).
    num_modules: HR modules per stage, stage 1 first (paper (1, 1, 4, 3)); its length is the number of
      stages, and stage s (1-based) has s branches. Stage 1 is ``num_modules[0]`` groups of Bottlenecks.
    num_blocks: residual blocks per branch in every module, and per group in stage 1 (paper 4).
    stem_width: channels of the stem; stage 1's Bottlenecks run at this inner width, 4x it out (paper 64).
    loss: heatmap loss name in ``posekit.losses.HEATMAP_LOSSES`` (l2, l1, ce, bce).

    forward(image (N,3,H,W), targets=None):
      training with targets {"heatmaps": (N,K,h,w), "weights": (N,K)} -> {"loss_heatmap": scalar};
      otherwise -> {"heatmaps": (N,K,h,w)}, (h, w) = (H/4, W/4).
    """

    def __init__(
        self,
        num_joints: int,
        width: int = 16,
        num_modules: Sequence[int] = (1, 1, 1, 1),
        num_blocks: int = 2,
        stem_width: int = 32,
        loss: str = "l2",
    ) -> None:
        super().__init__()
        heatmap_loss(loss)  # an unknown name fails here, not at the first training step
        num_modules = list(num_modules)
        if len(num_modules) < 2 or min(num_modules) < 1:
            raise ValueError(f"num_modules needs >= 2 stages of >= 1 module each, got {num_modules}")
        self.loss_name = loss
        self.stem = nn.Sequential(conv_bn_relu(3, stem_width, 3, stride=2),
                                  conv_bn_relu(stem_width, stem_width, 3, stride=2))
        stage1_out = 4 * stem_width
        blocks = [Bottleneck(stem_width, stage1_out, expansion=4)]
        blocks += [Bottleneck(stage1_out, stage1_out, expansion=4) for _ in range(num_modules[0] * num_blocks - 1)]
        self.stage1 = nn.Sequential(*blocks)
        prev = [stage1_out]
        transitions, stages = [], []
        for s in range(1, len(num_modules)):
            widths = [width * 2**b for b in range(s + 1)]
            transitions.append(Transition(prev, widths))
            last_stage = s == len(num_modules) - 1
            stages.append(nn.ModuleList(
                HRModule(widths, num_blocks, multi_scale_output=not (last_stage and m == num_modules[s] - 1))
                for m in range(num_modules[s])
            ))
            prev = widths
        self.transitions = nn.ModuleList(transitions)
        self.stages = nn.ModuleList(stages)
        self.final = nn.Conv2d(width, num_joints, 1)
        nn.init.normal_(self.final.weight, std=0.001)
        nn.init.zeros_(self.final.bias)

    def branch_features(self, image: torch.Tensor) -> list[torch.Tensor]:
        """(N, 3, H, W) -> the last module's branches just before the final fusion:
        [(N, C, H/4, W/4), (N, 2C, H/8, W/8), (N, 4C, H/16, W/16), (N, 8C, H/32, W/32)] (4 stages)."""
        xs = [self.stage1(self.stem(image))]
        for s, (transition, stage) in enumerate(zip(self.transitions, self.stages)):
            xs = transition(xs)
            for m, module in enumerate(stage):
                final = s == len(self.stages) - 1 and m == len(stage) - 1
                xs = module.branch_forward(xs) if final else module(xs)
        return xs

    def heatmaps(self, image: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, K, H/4, W/4) raw heatmaps."""
        high = self.stages[-1][-1].fuse_forward(self.branch_features(image))[0]
        return self.final(high)

    def forward(self, image: torch.Tensor, targets: dict | None = None) -> dict:
        heatmaps = self.heatmaps(image)
        if self.training and targets is not None:
            return heatmap_loss(self.loss_name)(heatmaps, targets["heatmaps"], targets["weights"],
                                                  name="heatmap")
        return {"heatmaps": heatmap_activation(self.loss_name)(heatmaps)}


@register_model("hrnet")
def hrnet(num_joints: int = 14, **kwargs) -> HRNet:
    return HRNet(num_joints=num_joints, **kwargs)
