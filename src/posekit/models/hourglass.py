"""Stacked Hourglass (Newell, Yang & Deng, "Stacked Hourglass Networks for Human Pose Estimation",
ECCV 2016).

A stem brings the image to stride 4; then ``num_stacks`` hourglasses, each a symmetric, recursive
encoder-decoder (residual -> max-pool -> ... -> nearest upsample, with a residual skip branch at every
resolution, added back). After every hourglass a head predicts K heatmaps; the stack's features and its
heatmaps are remapped by 1x1 convs and *added* to the stack's input, which becomes the next stack's
input. Every stack's heatmaps are supervised (intermediate supervision); the last stack's are the
prediction.

Sizes, paper vs posekit's defaults (128x128 input, for CPU):

  ==================  =====================================  ==================================
                      paper (256x256 input, 64x64 maps)       posekit default (128x128, 32x32)
  ==================  =====================================  ==================================
  stacks              8 (2-stack ablations)                   ``num_stacks`` = 2
  features f          256                                     ``width`` = 64
  stem                7x7/2 conv 64, res 64->128, pool,       7x7/2 conv f/4, res f/4->f/2, pool,
                      res 128->128, res 128->256              res f/2->f/2, res f/2->f
  hourglass depth     4 (64 -> 4x4 lowest)                    ``depth`` = 3 (32 -> 4x4 lowest)
  residual module     pre-activation BN-ReLU-conv,            ``blocks.Bottleneck`` (expansion 2:
                      1x1 f/2 -> 3x3 f/2 -> 1x1 f                1x1 f/2 -> 3x3 f/2 -> 1x1 f),
                                                              post-activation conv-BN-ReLU
  ==================  =====================================  ==================================

Departures from the paper (all stated):
  * Residual modules are posekit's shared post-activation ``Bottleneck`` (conv-BN-ReLU, ReLU after the
    sum, BN on a projection shortcut) instead of the paper's pre-activation (BN-ReLU-conv) residual.
  * Width 64 and 2 stacks by default (paper 256 and 8) so that it trains on a CPU; all are arguments.
  * The loss is posekit's heatmap loss (``HEATMAP_LOSSES[loss]``, default plain MSE with per-joint
    visibility weights); the paper's MSE is unweighted. The stacks' losses are summed, equal weights.

Input (N, 3, H, W) normalised RGB with H, W divisible by 4 * 2**depth; output heatmaps
(N, K, H/4, W/4).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from posekit.losses import heatmap_activation, heatmap_loss
from posekit.models import register_model
from posekit.models.blocks import Bottleneck, conv_bn_relu


def _residual(cin: int, cout: int) -> Bottleneck:
    """The paper's residual module: 1x1 (cout/2) -> 3x3 (cout/2) -> 1x1 (cout) plus a shortcut."""
    return Bottleneck(cin, cout, expansion=2)


class Hourglass(nn.Module):
    """One recursive hourglass of ``depth`` levels at ``width`` channels (paper Fig. 3).

    (N, f, h, w) -> (N, f, h, w); h, w divisible by 2**depth. The lowest resolution is h / 2**depth.
    Level d: ``up`` = residual at full resolution (the skip branch); ``down`` = max-pool + residual;
    ``inner`` = the depth-1 hourglass (or a residual at the bottom); ``after`` = residual; then nearest
    upsampling by 2 and the elementwise sum with the skip branch.
    """

    def __init__(self, depth: int, width: int) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"hourglass depth must be >= 1, got {depth}")
        self.up = _residual(width, width)
        self.down = nn.Sequential(nn.MaxPool2d(2, 2), _residual(width, width))
        self.inner = Hourglass(depth - 1, width) if depth > 1 else _residual(width, width)
        self.after = _residual(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = self.after(self.inner(self.down(x)))
        return self.up(x) + F.interpolate(low, size=x.shape[-2:], mode="nearest")


class StackedHourglass(nn.Module):
    """Stacked Hourglass with a heatmap head after every stack and intermediate supervision.

    num_joints: K heatmaps out.
    num_stacks: hourglasses in sequence (paper 8).
    width: feature channels f inside the hourglasses (paper 256); the stem runs at f/4 and f/2.
    depth: levels per hourglass (paper 4 at 256x256 input); the lowest resolution is (H/4) / 2**depth.
    loss: heatmap loss name in ``posekit.losses.HEATMAP_LOSSES`` (l2, l1, ce, bce).
    intermediate: True = sum the loss over every stack's heatmaps (keys ``loss_stack0`` ..
      ``loss_stack{S-1}``); False = only the last stack's (one key, ``loss_stack{S-1}``).

    forward(image (N,3,H,W), targets=None):
      training with targets {"heatmaps": (N,K,h,w), "weights": (N,K)} -> {"loss_stack<i>": scalar, ...};
      otherwise -> {"heatmaps": (N,K,h,w)} of the last stack, (h, w) = (H/4, W/4).
    """

    def __init__(
        self,
        num_joints: int,
        num_stacks: int = 2,
        width: int = 64,
        depth: int = 3,
        loss: str = "l2",
        intermediate: bool = True,
    ) -> None:
        super().__init__()
        heatmap_loss(loss)  # an unknown name fails here, not at the first training step
        if num_stacks < 1:
            raise ValueError(f"num_stacks must be >= 1, got {num_stacks}")
        if width % 4:
            raise ValueError(f"width must be divisible by 4 (the stem runs at width/4), got {width}")
        self.loss_name = loss
        self.intermediate = intermediate
        self.depth = depth
        f = width
        # Stem to stride 4 (paper: 7x7/2 conv 64, res 128, pool, res 128, res 256 at f = 256).
        self.stem = nn.Sequential(
            conv_bn_relu(3, f // 4, 7, stride=2),
            _residual(f // 4, f // 2),
            nn.MaxPool2d(2, 2),
            _residual(f // 2, f // 2),
            _residual(f // 2, f),
        )
        self.hourglasses = nn.ModuleList(Hourglass(depth, f) for _ in range(num_stacks))
        # After each hourglass: a residual and a 1x1 conv-BN-ReLU ("lin"), then the 1x1 heatmap head.
        self.features = nn.ModuleList(
            nn.Sequential(_residual(f, f), conv_bn_relu(f, f, 1)) for _ in range(num_stacks)
        )
        self.heads = nn.ModuleList(nn.Conv2d(f, num_joints, 1) for _ in range(num_stacks))
        # Between stacks: 1x1 remaps of the features and of the heatmaps, added to the stack input.
        self.remap_features = nn.ModuleList(nn.Conv2d(f, f, 1) for _ in range(num_stacks - 1))
        self.remap_heatmaps = nn.ModuleList(nn.Conv2d(num_joints, f, 1) for _ in range(num_stacks - 1))
        for head in self.heads:
            nn.init.normal_(head.weight, std=0.001)
            nn.init.zeros_(head.bias)

    @property
    def num_stacks(self) -> int:
        return len(self.hourglasses)

    def stack_heatmaps(self, image: torch.Tensor) -> list[torch.Tensor]:
        """(N, 3, H, W) -> one (N, K, H/4, W/4) raw heatmap tensor per stack, first to last."""
        multiple = 4 * 2**self.depth
        if image.shape[-2] % multiple or image.shape[-1] % multiple:
            raise ValueError(f"input size {tuple(image.shape[-2:])} must be divisible by {multiple} "
                             f"(stride 4 x 2**depth, depth={self.depth})")
        x = self.stem(image)
        outputs = []
        for i, (hourglass, features, head) in enumerate(zip(self.hourglasses, self.features, self.heads)):
            y = features(hourglass(x))
            heatmaps = head(y)
            outputs.append(heatmaps)
            if i < self.num_stacks - 1:
                x = x + self.remap_features[i](y) + self.remap_heatmaps[i](heatmaps)
        return outputs

    def forward(self, image: torch.Tensor, targets: dict | None = None) -> dict:
        outputs = self.stack_heatmaps(image)
        if self.training and targets is not None:
            loss_fn = heatmap_loss(self.loss_name)
            stacks = range(self.num_stacks) if self.intermediate else [self.num_stacks - 1]
            losses: dict = {}
            for i in stacks:
                losses.update(loss_fn(outputs[i], targets["heatmaps"], targets["weights"], name=f"stack{i}"))
            return losses
        return {"heatmaps": heatmap_activation(self.loss_name)(outputs[-1])}


@register_model("hourglass")
def hourglass(num_joints: int = 14, **kwargs) -> StackedHourglass:
    return StackedHourglass(num_joints=num_joints, **kwargs)
