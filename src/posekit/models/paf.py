"""Part Affinity Fields (Cao, Simon, Wei & Sheikh, "Realtime Multi-Person 2D Pose Estimation using Part
Affinity Fields", CVPR 2017): bottom-up multi-person pose estimation. One network predicts, for the whole
image, a confidence map per body part (every person's joints) and a part affinity field per limb (unit
vectors along every person's limb); people are then assembled from the maps by line integrals along
candidate limbs and greedy bipartite matching limb by limb over the tree
(:class:`~posekit.codecs.paf.PAFCodec`, which also encodes the targets).

The network, as the paper's: backbone features F, then T stages. Stage 1 predicts the confidence maps
S^1 = rho^1(F) and the fields L^1 = phi^1(F) with two branches; stage t >= 2 predicts S^t and L^t from the
concatenation (F, S^{t-1}, L^{t-1}), refining the previous stage's guess with its context. Every stage
gets an L2 loss against the same targets (intermediate supervision against vanishing gradients), with
the paper's binary mask W(p): cells where the annotation is missing (people nobody labelled, a person's
unlabelled joints) count neither as part nor as background.

Departures, sized for training on a 2-core CPU (the paper trained on GPUs for days):

* **Backbone**: posekit's compact SimpleBaseline (ResNet BasicBlocks to stride 32, skip-connected
  upsampling back to stride 4, 64 channels; :class:`~posekit.models.simplebaseline.SimpleBaseline`), so it
  starts from the shipped default pose network's weights (same layer names; ``load_weights(partial=True)``),
  instead of VGG-19's first ten layers (ImageNet-initialised).
* **Stride 4** instead of 8: in 256 x 256 inputs the people of a crowded composed scene are 20-70 px tall,
  3-9 cells at stride 8 (limbs of one or two cells, neighbours' fields touching) and 5-17 at stride 4. The
  stages cost four times more per channel at stride 4, so they are narrow (below).
* **Stages**: T = 3 (the paper: 6), each two branches of ``stage_width`` (32) channels instead of 128.
  Stage 1: two 3x3 conv + BN + ReLU layers and a 1x1 output conv per branch (the paper: three 3x3, two
  1x1). Stages >= 2: three 3x3 convs dilated 1, 2 and 4 (receptive field 15 cells = 60 input px, on top of
  the backbone's own) and a 1x1 output, instead of five 7x7 convs and two 1x1 (31 cells at stride 8):
  dilation buys the large context the paper's 7x7 kernels give at a ninth of their cost. BatchNorm after
  every hidden conv (VGG has none).
* **Loss normalisation**: per stage, the masked squared error of the maps and of the fields, each a mean
  over its cells and channels (:func:`~posekit.losses.masked_l2`) and summed, where the paper sums over
  cells and channels (which weighs the 2L field channels twice the K maps; Adam makes the overall scale
  irrelevant).

Input (N, 3, H, W) normalised RGB, H and W multiples of 32; outputs on the stride-4 grid (h, w) = (H/4, W/4).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from posekit.losses import masked_l2
from posekit.models import register_model
from posekit.models.blocks import conv_bn_relu
from posekit.models.simplebaseline import SimpleBaseline


def _branch(cin: int, width: int, cout: int, dilations: Sequence[int]) -> nn.Sequential:
    """3x3 conv + BN + ReLU layers (one per dilation), then a 1x1 conv to ``cout`` maps, initialised to
    near-zero outputs (the targets are zero almost everywhere)."""
    layers: list[nn.Module] = []
    for d in dilations:
        layers.append(conv_bn_relu(cin, width, 3, dilation=d))
        cin = width
    out = nn.Conv2d(cin, cout, 1)
    nn.init.normal_(out.weight, std=0.001)
    nn.init.zeros_(out.bias)
    layers.append(out)
    return nn.Sequential(*layers)


class PAFStage(nn.Module):
    """One stage: a confidence-map branch (K maps) and a part-affinity branch (2L fields) on the same input.

    (N, cin, h, w) -> (heatmaps (N, K, h, w), pafs (N, 2L, h, w)); field channels 2l, 2l + 1 are the x, y
    components of limb l.
    """

    def __init__(self, cin: int, width: int, num_joints: int, num_limbs: int, dilations: Sequence[int]) -> None:
        super().__init__()
        self.heatmap = _branch(cin, width, num_joints, dilations)
        self.paf = _branch(cin, width, 2 * num_limbs, dilations)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.heatmap(x), self.paf(x)


class PAFNet(SimpleBaseline):
    """Multi-stage part confidence maps + part affinity fields on the SimpleBaseline backbone.

    num_joints: K confidence maps. num_limbs: L limbs (2L field channels), in the codec's limb order.
    widths / blocks / head_width: the backbone, as :class:`SimpleBaseline` (the default pose network's
        sizes by default).
    num_stages: T >= 1 stages. stage_width: channels of every branch's hidden convs.
    first_dilations / later_dilations: one 3x3 conv per entry, dilated that much, in stage 1 / stages >= 2.

    forward(image (N, 3, H, W), targets=None):
      training with targets {"heatmaps": (N, K, h, w), "pafs": (N, L, 2, h, w) or (N, 2L, h, w), optional
      "heatmap_mask" (N, K or 1, h, w), "paf_mask" (N, L or 1, h, w) (1 = supervised, 0 = annotation
      missing), optional per-channel "weights" (N, K) and "paf_weights" (N, L)} ->
      {"loss_heatmap_s1", "loss_paf_s1", ..., "loss_heatmap_sT", "loss_paf_sT"}: a loss at every stage;
      otherwise -> the last stage's {"heatmaps": (N, K, h, w), "pafs": (N, 2L, h, w)}, (h, w) = (H/4, W/4),
      raw (regressed to Gaussians of peak 1 and to unit vectors; not clamped, so that DARK's sub-cell
      refinement sees the true shape of a peak).
    """

    def __init__(self, num_joints: int, num_limbs: int, widths: tuple[int, ...] = (32, 32, 64, 128, 256),
                 blocks: tuple[int, ...] = (1, 2, 2, 2), head_width: int = 64, num_stages: int = 3,
                 stage_width: int = 32, first_dilations: tuple[int, ...] = (1, 1),
                 later_dilations: tuple[int, ...] = (1, 2, 4)) -> None:
        super().__init__(num_joints=num_joints, widths=widths, blocks=blocks, head_width=head_width)
        if num_stages < 1 or num_limbs < 1:
            raise ValueError(f"num_stages and num_limbs must be >= 1, got {num_stages}, {num_limbs}")
        del self.final  # the pose network's heatmap conv; each stage has its own output convs
        self.num_joints, self.num_limbs = int(num_joints), int(num_limbs)
        later_in = head_width + num_joints + 2 * num_limbs
        self.paf_stages = nn.ModuleList(
            [PAFStage(head_width, stage_width, num_joints, num_limbs, first_dilations)]
            + [PAFStage(later_in, stage_width, num_joints, num_limbs, later_dilations) for _ in range(num_stages - 1)])

    def stage_outputs(self, image: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(heatmaps (N, K, h, w), pafs (N, 2L, h, w)) of every stage, first to last, raw."""
        features = self.features(image)
        outputs = [self.paf_stages[0](features)]
        for stage in self.paf_stages[1:]:
            outputs.append(stage(torch.cat([features, *outputs[-1]], dim=1)))
        return outputs

    def forward(self, image: torch.Tensor, targets: dict | None = None) -> dict:
        outputs = self.stage_outputs(image)
        if self.training and targets is not None:
            return self.losses(outputs, targets)
        heatmaps, pafs = outputs[-1]
        return {"heatmaps": heatmaps.float(), "pafs": pafs.float()}

    def losses(self, outputs: list[tuple[torch.Tensor, torch.Tensor]], targets: dict) -> dict:
        """The masked L2 loss of every stage's maps and fields (class docstring)."""
        heatmap_target = targets["heatmaps"]
        n, k, h, w = heatmap_target.shape
        paf_target = targets["pafs"].reshape(n, -1, h, w)  # (N, L, 2, h, w) -> (N, 2L, h, w): x, y per limb
        ones = heatmap_target.new_ones(n, 1, h, w)
        heatmap_mask = targets.get("heatmap_mask", ones)
        paf_mask = targets.get("paf_mask", ones)
        if "weights" in targets:
            heatmap_mask = heatmap_mask * targets["weights"].reshape(n, k, 1, 1)
        if "paf_weights" in targets:
            paf_mask = paf_mask * targets["paf_weights"].reshape(n, -1, 1, 1)
        if paf_mask.shape[1] > 1:  # per limb -> per field channel
            paf_mask = paf_mask.repeat_interleave(2, dim=1)
        losses = {}
        for t, (heatmaps, pafs) in enumerate(outputs, start=1):
            losses.update(masked_l2(heatmaps.float(), heatmap_target, heatmap_mask, name=f"heatmap_s{t}"))
            losses.update(masked_l2(pafs.float(), paf_target, paf_mask, name=f"paf_s{t}"))
        return losses


@register_model("paf")
def paf(num_joints: int = 14, num_limbs: int = 14, **kwargs) -> PAFNet:
    """PAFNet; the defaults fit LSP-14 (14 joints, 14 limbs)."""
    return PAFNet(num_joints=num_joints, num_limbs=num_limbs, **kwargs)
