"""Person detector: CenterNet (Zhou, Wang & Krähenbühl, "Objects as Points", 2019), the first stage of
posekit's top-down pipeline (G-RMI, Papandreou et al. 2017, used Faster R-CNN there; an anchor-free
centre-heatmap detector is far cheaper to train from scratch on a CPU and needs no RoI machinery).

A person is the peak of a centre heatmap; the box size (log width, log height) and the centre's sub-cell
offset are regressed on the peak's cell (:class:`~posekit.codecs.boxes.CenterBoxCodec`). Losses as in the
paper: the penalty-reduced pixel-wise focal loss (alpha = 2, beta = 4) on the centre map, normalised by
the number of people, plus L1 on sizes and offsets at the centre cells. Departures: one class (person);
log-space sizes (weight 1) instead of raw sizes (weight 0.1), which makes the loss scale-free; the
backbone is posekit's compact SimpleBaseline (ResNet BasicBlocks to stride 32, skip-connected
upsampling to stride 4) instead of DLA-34/Hourglass-104, so it can start from the default pose
network's weights (the layer names match; :func:`posekit.checkpoint.load_weights` with ``partial=True``).

Input (N, 3, H, W) normalised RGB, H and W multiples of 32; outputs on the stride-4 grid.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from posekit.models import register_model
from posekit.models.blocks import conv_bn_relu
from posekit.models.simplebaseline import SimpleBaseline


def focal_loss(logits: torch.Tensor, target: torch.Tensor, ignore: torch.Tensor | None = None,
               alpha: float = 2.0, beta: float = 4.0) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss on (N, 1, h, w) centre logits against Gaussian targets
    (peak 1 at centres), summed and divided by the number of centres (at least 1); ``ignore`` (N, 1, h, w)
    = 1 removes a cell from the negative term."""
    logits = logits.float()
    p = torch.sigmoid(logits)
    log_p = F.logsigmoid(logits)
    log_1p = F.logsigmoid(-logits)
    pos = target.ge(1.0).float()
    neg = 1.0 - pos
    if ignore is not None:
        neg = neg * (1.0 - ignore)
    pos_loss = -(log_p * (1 - p) ** alpha * pos).sum()
    neg_loss = -(log_1p * p**alpha * (1 - target) ** beta * neg).sum()
    return (pos_loss + neg_loss) / pos.sum().clamp(min=1.0)


def _masked_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean |pred - target| over the cells where mask (N, 1, h, w) is 1, per channel pair."""
    diff = (pred.float() - target).abs() * mask
    return diff.sum() / (mask.sum() * pred.shape[1]).clamp(min=1.0)


class CenterNet(SimpleBaseline):
    """Single-class centre-heatmap detector on the SimpleBaseline backbone.

    widths / blocks / head_width / backbone: as :class:`SimpleBaseline` (the default pose network's sizes by
        default; ``backbone="efficientnet_lite0"`` with ``model.kwargs.pretrained: true`` starts from ImageNet).
    head_conv: channels of each output head's hidden 3x3 conv.

    forward(image (N, 3, H, W), targets=None):
      training with targets (``CenterBoxCodec.encode``, batched) -> {"loss_center", "loss_size", "loss_offset"};
      otherwise -> {"centers": (N, 1, h, w) in [0, 1] (sigmoid), "sizes": (N, 2, h, w) log cells,
      "offsets": (N, 2, h, w) cells}, (h, w) = (H/4, W/4).
    """

    def __init__(self, widths: tuple[int, ...] = (32, 32, 64, 128, 256), blocks: tuple[int, ...] = (1, 2, 2, 2),
                 head_width: int = 64, head_conv: int = 64, backbone: str = "r18s") -> None:
        super().__init__(num_joints=1, widths=widths, blocks=blocks, head_width=head_width, backbone=backbone)
        del self.final  # the pose network's joint heatmaps; replaced by the three heads below

        def head(cout: int) -> nn.Sequential:
            return nn.Sequential(conv_bn_relu(head_width, head_conv, 3), nn.Conv2d(head_conv, cout, 1))

        self.center_head = head(1)
        self.size_head = head(2)
        self.offset_head = head(2)
        # prior 0.1 on every cell being a centre, as CenterNet, so the focal loss starts sane
        nn.init.constant_(self.center_head[-1].bias, -math.log((1 - 0.1) / 0.1))

    def forward(self, image: torch.Tensor, targets: dict | None = None) -> dict:
        x = self.features(image)
        logits = self.center_head(x)
        sizes = self.size_head(x)
        offsets = self.offset_head(x)
        if self.training and targets is not None:
            mask = targets["box_mask"]
            return {
                "loss_center": focal_loss(logits, targets["centers"], targets.get("ignore")),
                "loss_size": _masked_l1(sizes, targets["sizes"], mask),
                "loss_offset": _masked_l1(offsets, targets["offsets"], mask),
            }
        return {"centers": torch.sigmoid(logits.float()), "sizes": sizes.float(), "offsets": offsets.float()}


@register_model("centernet")
def centernet(num_joints: int = 1, **kwargs) -> CenterNet:
    """The person detector (``num_joints`` is accepted for the registry's uniform call and ignored)."""
    return CenterNet(**kwargs)
