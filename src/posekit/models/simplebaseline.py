"""SimpleBaseline (Xiao, Wu & Wei, "Simple Baselines for Human Pose Estimation and Tracking",
ECCV 2018): a ResNet backbone, then upsampling layers, then a 1x1 conv to one heatmap per joint.

posekit's default model is a compact member of this family, sized for accuracy per CPU-second:
a narrow ResNet (BasicBlocks) to stride 16, then two upsample + 3x3 conv stages back to stride 4.
The paper uses deconvolutions (4x4, stride 2); bilinear upsampling + 3x3 conv costs less and avoids
checkerboard artefacts, at no accuracy cost at this size (a stated departure).

Backbones (``backbone``): ``"r18s"``, the compact ResNet above (``widths`` / ``blocks`` size it; random
init), or ``"efficientnet_lite0"`` (:mod:`posekit.models.efficientnet_lite`, ImageNet weights loaded by
:meth:`SimpleBaseline.load_pretrained` when training starts with ``model.kwargs.pretrained: true``); the
same skip-connected upsampling head sits on either's maps at strides 4, 8, 16, 32.

Input (N, 3, H, W) normalised RGB (:func:`posekit.data.dataset.normalize_image`); output heatmaps
(N, K, H/4, W/4).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from posekit.losses import heatmap_activation, heatmap_loss
from posekit.models import register_model
from posekit.models.blocks import BasicBlock, conv_bn_relu

BACKBONES = ("r18s", "efficientnet_lite0")


class SimpleBaseline(nn.Module):
    """Compact SimpleBaseline with skip connections in the upsampling head.

    num_joints: K heatmaps out.
    widths: channels of the stem (stride 2) and of the stages at strides 4, 8, 16, 32.
    blocks: BasicBlocks per stage.
    head_width: channels of the upsampling stages (stride 16 -> 8 -> 4).
    loss: heatmap loss name in ``posekit.losses.HEATMAP_LOSSES`` (l2, l1, ce, bce).
    backbone: one of :data:`BACKBONES`; ``widths[1:]`` / ``blocks`` apply to ``"r18s"`` only.

    forward(image (N,3,H,W), targets=None):
      training with targets {"heatmaps": (N,K,h,w), "weights": (N,K)} -> {"loss_heatmap": scalar};
      otherwise -> {"heatmaps": (N,K,h,w)}, (h, w) = (H/4, W/4).
    """

    def __init__(
        self,
        num_joints: int,
        widths: tuple[int, ...] = (32, 32, 64, 128, 256),
        blocks: tuple[int, ...] = (1, 2, 2, 2),
        head_width: int = 64,
        loss: str = "l2",
        backbone: str = "r18s",
    ) -> None:
        super().__init__()
        heatmap_loss(loss)  # an unknown name fails here, not at the first training step
        if backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {backbone!r}; known: {list(BACKBONES)}")
        self.loss_name = loss
        self.backbone_name = backbone
        if backbone == "efficientnet_lite0":
            from posekit.models.efficientnet_lite import EfficientNetLite0

            self.backbone = EfficientNetLite0(num_classes=0)
            channels = self.backbone.channels
        else:
            channels = self._resnet(widths, blocks)
        # Upsampling head: from the deepest stage back to stride 4, concatenating the stage output of
        # the same resolution at each step (cheaper and sharper than the paper's three deconvolutions).
        cin = channels[-1]
        ups = []
        for skip in reversed(channels[:-1]):
            ups.append(conv_bn_relu(cin + skip, head_width, 3))
            cin = head_width
        self.ups = nn.ModuleList(ups)
        self.final = nn.Conv2d(cin, num_joints, 1)
        nn.init.normal_(self.final.weight, std=0.001)
        nn.init.zeros_(self.final.bias)

    def _resnet(self, widths: tuple[int, ...], blocks: tuple[int, ...]) -> tuple[int, ...]:
        """The compact ResNet ("r18s"): its stem and stages; returns the stages' channels."""
        if len(widths) != len(blocks) + 1:
            raise ValueError("widths must have one more entry (the stem) than blocks")
        # ResNet-style stem: a stride-2 conv then a stride-2 max-pool (stride 4 overall).
        self.stem = nn.Sequential(conv_bn_relu(3, widths[0], 3, stride=2), nn.MaxPool2d(3, 2, 1))
        stages = []
        cin = widths[0]
        for i, (w, n) in enumerate(zip(widths[1:], blocks)):
            layers = [BasicBlock(cin, w, stride=1 if i == 0 else 2)]
            layers += [BasicBlock(w, w) for _ in range(n - 1)]
            stages.append(nn.Sequential(*layers))
            cin = w
        self.stages = nn.ModuleList(stages)
        return tuple(widths[1:])

    def load_pretrained(self) -> None:
        """Load the backbone's ImageNet weights (efficientnet_lite0 only; needs the ``pretrained`` extra).
        Called when training starts with ``model.kwargs.pretrained: true``, never when a checkpoint loads."""
        if self.backbone_name != "efficientnet_lite0":
            raise ValueError(f"backbone {self.backbone_name!r} has no ImageNet weights; use backbone: "
                             "efficientnet_lite0")
        from posekit.models.efficientnet_lite import load_imagenet_weights

        load_imagenet_weights(self.backbone)

    def pyramid(self, image: torch.Tensor) -> list[torch.Tensor]:
        """(N, 3, H, W) -> the backbone's maps at strides 4, 8, 16, 32."""
        if self.backbone_name != "r18s":
            return self.backbone.pyramid(image)
        x = self.stem(image)
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats

    def features(self, image: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, head_width, H/4, W/4): the head's features before the last 1x1 conv."""
        feats = self.pyramid(image)
        x = feats[-1]
        for up, skip in zip(self.ups, reversed(feats[:-1])):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = up(torch.cat([x, skip], dim=1))
        return x

    def heatmaps(self, image: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, K, H/4, W/4) raw heatmaps."""
        return self.final(self.features(image))

    def forward(self, image: torch.Tensor, targets: dict | None = None) -> dict:
        heatmaps = self.heatmaps(image)
        if self.training and targets is not None:
            return heatmap_loss(self.loss_name)(heatmaps, targets["heatmaps"], targets["weights"])
        return {"heatmaps": heatmap_activation(self.loss_name)(heatmaps)}


@register_model("simplebaseline")
def simplebaseline(num_joints: int = 14, **kwargs) -> SimpleBaseline:
    return SimpleBaseline(num_joints=num_joints, **kwargs)
