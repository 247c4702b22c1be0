"""G-RMI's second stage (Papandreou et al., "Towards Accurate Multi-person Pose Estimation in the
Wild", CVPR 2017): a fully convolutional pose network run on each detected person box that predicts,
per joint, a heatmap and a 2-D offset field pointing from every nearby cell to the joint; the two are
aggregated by Hough voting (:class:`~posekit.codecs.offsets.OffsetCodec`) into a sub-cell location.

Departures, stated: the backbone is posekit's compact SimpleBaseline (the paper: ResNet-101 at
353 x 257, stride 8) so it can start from the default pose network; the heatmap head keeps that network's
Gaussian heatmaps and L2 loss (the paper: disks of radius R with a per-cell logistic loss), which lets
heatmap-only, DARK and offset decoding be compared on the same trained network
(``codec.refine``); the offset loss is the paper's Huber loss inside the disk of radius
``codec.offset_radius``; the first stage is posekit's CenterNet person detector (the paper: Faster R-CNN).

Input (N, 3, H, W); outputs on the stride-4 grid: heatmaps (N, K, h, w), offsets (N, K, 2, h, w) in units
of the disk radius.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from posekit.losses import heatmap_activation, heatmap_loss, offset_loss
from posekit.models import register_model
from posekit.models.simplebaseline import SimpleBaseline


class GRMIPose(SimpleBaseline):
    """SimpleBaseline heatmaps plus an offset-field head (a 1x1 conv from the same features).

    num_joints, widths, blocks, head_width, loss: as :class:`SimpleBaseline`.
    offset_weight: weight of the offset loss against the heatmap loss (the paper's 4 for its disk loss;
        here the heatmap L2 is ~1e-3 per cell, so the default keeps the two terms of similar size).

    forward(image, targets=None): training with targets {"heatmaps", "weights", "offsets", "disk"}
    (``HeatmapCodec(offset_radius > 0).encode``) -> {"loss_heatmap_*", "loss_offset"}; otherwise
    {"heatmaps": (N, K, h, w), "offsets": (N, K, 2, h, w)}.
    """

    def __init__(self, num_joints: int, offset_weight: float = 0.02, **kwargs) -> None:
        super().__init__(num_joints=num_joints, **kwargs)
        self.num_joints = num_joints
        self.offset_weight = float(offset_weight)
        self.offset_head = nn.Conv2d(self.final.in_channels, 2 * num_joints, 1)
        nn.init.normal_(self.offset_head.weight, std=0.001)
        nn.init.zeros_(self.offset_head.bias)

    def forward(self, image: torch.Tensor, targets: dict | None = None) -> dict:
        x = self.features(image)
        heatmaps = self.final(x)
        n, _, h, w = heatmaps.shape
        offsets = self.offset_head(x).view(n, self.num_joints, 2, h, w)
        if self.training and targets is not None:
            losses = heatmap_loss(self.loss_name)(heatmaps, targets["heatmaps"], targets["weights"])
            off = offset_loss(offsets.float(), targets["offsets"], targets["disk"], targets["weights"])
            losses["loss_offset"] = self.offset_weight * off["loss_offset"]
            return losses
        return {"heatmaps": heatmap_activation(self.loss_name)(heatmaps), "offsets": offsets.float()}


@register_model("grmi")
def grmi(num_joints: int = 14, **kwargs) -> GRMIPose:
    return GRMIPose(num_joints=num_joints, **kwargs)
