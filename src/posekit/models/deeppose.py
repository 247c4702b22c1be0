"""DeepPose (Toshev & Szegedy, "DeepPose: Human Pose Estimation via Deep Neural Networks", CVPR 2014):
direct regression of all joint coordinates by a CNN, then a cascade of regressors that refine each joint
from a crop of the image around its current estimate.

Stage 1: a CNN maps the image to the 2K normalised coordinates ``((x + 0.5) / W, (y + 0.5) / H)`` (the
:class:`~posekit.codecs.RegressionCodec` frame), trained with an L2 loss. Stage s = 2..S: for joint i a
square window of side ``window_frac * diam(y^{s-1})`` (the paper's ``sigma * diam(y)``; here ``diam`` is the
diagonal of the current pose's bounding box) centred on the current estimate ``y_i^{s-1}`` is cropped from
the input image and resized to ``crop_size`` pixels; a stage network (the same architecture family as stage 1,
its own weights per stage, ONE set of weights for all joints) regresses the joint's displacement in
window-normalised units (window = [-0.5, 0.5]^2), and ``y_i^s = y_i^{s-1} + side * displacement``. As in the
paper the stage network outputs 2K numbers and the crop of joint i reads the i-th pair.

Training, as in the paper: stage s learns from the previous stage's (detached) predictions and, in
addition, from simulated predictions ``y_i + delta``, ``delta ~ Normal(mean_i, std_i)`` fitted to the
previous stage's training errors of joint i (here running mean / variance buffers, updated every batch),
for which the window side comes from the true pose, ``sigma * diam(y)``.

Departures from the paper (CPU-sized and end-to-end):
* Networks: compact ResNet-style (BasicBlocks, BatchNorm, a 4x4 adaptive average pool, one hidden FC
  layer with BatchNorm before its ReLU) instead of AlexNet (5 conv + 2 x 4096 FC, local response
  normalisation, dropout 0.5; ``dropout`` is available, default 0). The crop networks have fewer
  stride-2 stages than stage 1 because their input is smaller (32 vs 128 px); the paper resizes every
  crop to the full 220x220 network input.
* All stages train jointly in one loop (stage s sees stage s-1's current, detached predictions, and the
  error statistics are running estimates) instead of training stage 1 to convergence, then stage 2 on its
  fixed predictions, and so on. The losses are summed with equal weights.
* Crops come from the 128x128 network input, not from the full-resolution original image, so the cascade
  cannot see detail finer than the input (in the paper much of its gain comes from that extra resolution).
* ``diam`` is the bounding-box diagonal of the (predicted or true) pose instead of the distance between
  opposite torso joints (works for any skeleton); the window side is clamped to [1/8, 1] x max(W, H).
* Coordinates are normalised by the input size, not by a person box centred at 0 (see RegressionCodec).

Input (N, 3, H, W) normalised RGB. Eval output ``{"coords": (N, K, 2)}`` in the RegressionCodec frame.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from posekit.losses import regression_loss
from posekit.models import register_model
from posekit.models.blocks import BasicBlock, conv_bn_relu, crop_windows


class Regressor(nn.Module):
    """Compact regression CNN: stride-2 3x3 stem, stride-2 BasicBlock stages, adaptive average pool to
    ``pool_size`` x ``pool_size``, flatten, FC -> BatchNorm -> ReLU -> dropout -> FC.

    (N, 3, H, W) -> (N, num_outputs). Stage i (0-based) has ``blocks[i]`` BasicBlocks of width
    ``width * 2**i``; with ``len(blocks)`` stages the last map is (H, W) / 2**(len(blocks) + 1).
    """

    def __init__(
        self,
        num_outputs: int,
        width: int = 32,
        blocks: tuple[int, ...] = (1, 2, 2, 2),
        pool_size: int = 4,
        hidden: int = 256,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv_bn_relu(3, width, 3, stride=2)]
        cin = width
        for i, n in enumerate(blocks):
            cout = width * 2**i
            layers.append(BasicBlock(cin, cout, stride=2))
            layers += [BasicBlock(cout, cout) for _ in range(n - 1)]
            cin = cout
        layers.append(nn.AdaptiveAvgPool2d(pool_size))
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            # BatchNorm before the hidden ReLU keeps its pre-activations centred batch by batch, so the
            # hidden units cannot all die: without it (2026-11-26 run, AdamW lr 2e-3) all 256 died within
            # a few hundred steps and the network output one constant pose for every image.
            nn.Flatten(), nn.Linear(cin * pool_size**2, hidden, bias=False), nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(hidden, num_outputs),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def pose_diameter(xy: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Diagonal of the bounding box of each pose. xy (N, K, 2) (any units); mask (N, K) bool of the joints
    to use (None = all; a pose with no joint in the mask gets 0). Returns (N,)."""
    if mask is None:
        mask = torch.ones(xy.shape[:2], dtype=torch.bool, device=xy.device)
    m = mask[..., None]
    big = torch.finfo(xy.dtype).max
    lo = torch.where(m, xy, torch.full_like(xy, big)).amin(1)
    hi = torch.where(m, xy, torch.full_like(xy, -big)).amax(1)
    any_ = mask.any(1, keepdim=True)
    ext = torch.where(any_, hi - lo, torch.zeros_like(hi))
    return ext.norm(dim=-1)


class DeepPose(nn.Module):
    """DeepPose: stage-1 coordinate regression + ``num_stages - 1`` cascade refinement stages.

    num_joints: K. num_stages: S >= 1 (1 = stage-1 regression alone).
    width, blocks, pool_size, hidden, dropout: the stage-1 :class:`Regressor`; the cascade regressors use the
    first ``log2(crop_size / (2 * pool_size))`` entries of ``blocks`` (so their last map is also
    pool_size x pool_size).
    window_frac: window side = window_frac x bounding-box diagonal of the pose (the paper's sigma).
    crop_size: side of the resampled crop, pixels (a power-of-two multiple of 2 * pool_size).
    loss: "l2" (the paper) or "l1" (``posekit.losses.regression_*``), for every stage.
    num_simulated: simulated predictions per image per cascade stage in training (0 = only real ones).
    error_momentum: update rate of the running error statistics behind the simulated predictions.
    stages_used: None = all; n = use only the first n stages outside training (e.g. 1 to score stage 1
        alone); can also be set as an attribute after construction.

    forward(image (N,3,H,W), targets=None):
      training with targets {"keypoints": (N,K,3) (x, y, v) input pixels, optional "weights": (N,K)}
        -> {"loss_stage1": ..., "loss_stage2": ..., ...};
      otherwise -> {"coords": (N,K,2)} normalised ``((x + 0.5) / W, (y + 0.5) / H)``.
    """

    def __init__(
        self,
        num_joints: int = 14,
        num_stages: int = 2,
        width: int = 32,
        blocks: tuple[int, ...] = (1, 2, 2, 2),
        window_frac: float = 0.4,
        crop_size: int = 32,
        loss: str = "l2",
        pool_size: int = 4,
        hidden: int = 256,
        dropout: float = 0.0,
        num_simulated: int = 1,
        error_momentum: float = 0.05,
        stages_used: int | None = None,
    ) -> None:
        super().__init__()
        regression_loss(loss)  # an unknown name fails here, not at the first training step
        if num_stages < 1:
            raise ValueError(f"num_stages must be >= 1, got {num_stages}")
        depth = math.log2(crop_size / (2 * pool_size))
        if depth < 1 or depth != int(depth) or int(depth) > len(blocks):
            raise ValueError(f"crop_size must be 2 * pool_size * 2**d with 1 <= d <= {len(blocks)}, got "
                             f"crop_size={crop_size}, pool_size={pool_size}")
        self.num_joints = num_joints
        self.num_stages = num_stages
        self.window_frac = float(window_frac)
        self.crop_size = int(crop_size)
        self.loss_name = loss
        self.num_simulated = int(num_simulated)
        self.error_momentum = float(error_momentum)
        self.stages_used = stages_used
        k2 = 2 * num_joints
        self.stage1 = Regressor(k2, width, tuple(blocks), pool_size, hidden, dropout)
        self.refiners = nn.ModuleList(
            Regressor(k2, width, tuple(blocks[: int(depth)]), pool_size, hidden, dropout)
            for _ in range(num_stages - 1)
        )
        # Stage 1 starts at the image centre; each refiner starts as the identity (zero displacement).
        last = self.stage1.head[-1]
        nn.init.normal_(last.weight, std=1e-3)
        nn.init.constant_(last.bias, 0.5)
        for r in self.refiners:
            nn.init.normal_(r.head[-1].weight, std=1e-3)
            nn.init.zeros_(r.head[-1].bias)
        # Running mean / mean square of stage-s training errors (prediction - truth, normalised coords) per
        # joint and axis, for s = 1..S-1: the Normal that simulated predictions for stage s+1 are drawn from.
        n_err = num_stages - 1
        self.register_buffer("error_mean", torch.zeros(n_err, num_joints, 2))
        self.register_buffer("error_sq", torch.full((n_err, num_joints, 2), 0.05**2))
        self.register_buffer("error_init", torch.zeros(n_err, dtype=torch.bool))

    # ------------------------------------------------------------------------------------------- pieces
    def _window_sides(self, diam_px: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        longest = float(max(size))
        return (self.window_frac * diam_px).clamp(longest / 8, longest)

    def refine(self, stage: int, image: torch.Tensor, coords: torch.Tensor, sides: torch.Tensor) -> tuple:
        """One cascade stage. stage: 2..S; image (N,3,H,W); coords (N,K,2) normalised (detached);
        sides (N,) window sides in input pixels. Returns (displacement (N,K,2) window units, centres (N,K,2)
        input pixels, refined coords (N,K,2) normalised)."""
        n, k = coords.shape[:2]
        h, w = image.shape[-2:]
        size = coords.new_tensor([w, h])
        centres = coords * size - 0.5
        side = sides[:, None].expand(n, k)
        crops = crop_windows(image, centres, side, self.crop_size, (w, h))  # (N, K, 3, c, c)
        out = self.refiners[stage - 2](crops.flatten(0, 1)).view(n, k, k, 2)
        disp = torch.diagonal(out, dim1=1, dim2=2).transpose(1, 2)  # crop of joint i reads output pair i
        refined = (centres + disp * side[..., None] + 0.5) / size
        return disp, centres, refined

    @torch.no_grad()
    def _update_errors(self, index: int, error: torch.Tensor, weights: torch.Tensor) -> None:
        """EMA of the per-joint error mean and mean square over the labelled joints of a batch."""
        w = (weights > 0).to(error.dtype)[..., None]  # (N, K, 1)
        count = w.sum(0)  # (K, 1)
        seen = count > 0
        mean = (error * w).sum(0) / count.clamp_min(1)
        sq = (error**2 * w).sum(0) / count.clamp_min(1)
        rate = 1.0 if not bool(self.error_init[index]) else self.error_momentum
        self.error_mean[index] = torch.where(seen, torch.lerp(self.error_mean[index], mean, rate),
                                             self.error_mean[index])
        self.error_sq[index] = torch.where(seen, torch.lerp(self.error_sq[index], sq, rate), self.error_sq[index])
        self.error_init[index] = True

    def error_std(self, index: int) -> torch.Tensor:
        """(K, 2) standard deviation of the stage-(index + 1) errors (floored at 1e-3)."""
        var = self.error_sq[index] - self.error_mean[index] ** 2
        return var.clamp_min(1e-6).sqrt()

    # ------------------------------------------------------------------------------------------ forward
    def forward(self, image: torch.Tensor, targets: dict | None = None) -> dict:
        n, _, h, w = image.shape
        k = self.num_joints
        size = image.new_tensor([w, h])
        coords = self.stage1(image).view(n, k, 2)
        train = self.training and targets is not None
        if not train:
            used = self.num_stages if self.stages_used is None else max(1, min(self.stages_used, self.num_stages))
            for s in range(2, used + 1):
                prev = coords.detach()
                sides = self._window_sides(pose_diameter(prev * size), (w, h))
                coords = self.refine(s, image, prev, sides)[2]
            return {"coords": coords}

        kps = targets["keypoints"].to(coords.dtype)
        weights = (kps[..., 2] > 0).to(coords.dtype)
        if targets.get("weights") is not None:
            weights = weights * targets["weights"].to(coords.dtype).reshape(n, k)
        truth = (torch.nan_to_num(kps[..., :2]) + 0.5) / size  # (N, K, 2) normalised
        loss_fn = regression_loss(self.loss_name)
        losses = loss_fn(coords, truth, weights, name="stage1")
        labelled = weights > 0
        truth_sides = self._window_sides(pose_diameter(truth * size, labelled), (w, h))
        for s in range(2, self.num_stages + 1):
            prev = coords.detach()
            self._update_errors(s - 2, prev - truth, weights)
            starts, sides = [prev], [self._window_sides(pose_diameter(prev * size), (w, h))]
            mean, std = self.error_mean[s - 2], self.error_std(s - 2)
            for _ in range(self.num_simulated):
                delta = mean + std * torch.randn_like(prev)
                starts.append(torch.where(labelled[..., None], truth + delta, prev))
                sides.append(torch.where(labelled.any(1), truth_sides, sides[0]))
            reps = len(starts)
            disp, centres, refined = self.refine(s, image.repeat(reps, 1, 1, 1), torch.cat(starts),
                                                 torch.cat(sides))
            side_all = torch.cat(sides)[:, None, None]
            target = (truth.repeat(reps, 1, 1) * size - 0.5 - centres) / side_all
            losses.update(loss_fn(disp, target, weights.repeat(reps, 1), name=f"stage{s}"))
            coords = refined[:n]  # the real predictions feed the next stage
        return losses


@register_model("deeppose")
def deeppose(num_joints: int = 14, **kwargs) -> DeepPose:
    return DeepPose(num_joints=num_joints, **kwargs)
