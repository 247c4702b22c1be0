"""Tompson, Goroshin, Jain, LeCun & Bregler, "Efficient Object Localization Using Convolutional Networks",
CVPR 2015: a coarse heatmap ConvNet (multi-resolution banks, SpatialDropout) followed by a fine heatmap
model that reuses the coarse model's convolution features, cropped around each joint's coarse location,
to regress a sub-cell offset.

Coarse model: the image at full and half resolution, each through its own bank (5x5 conv, pool, 5x5 conv,
pool, 5x5 conv, 9x9 conv); the half-resolution output is upsampled and added to the full-resolution one;
SpatialDropout (``nn.Dropout2d``: whole feature maps are dropped) then two 1x1 convolutions give K heatmaps
at stride 4, trained against the dataset's Gaussian heatmaps (``loss_coarse``).

Fine model: the coarse location of joint k is the arg-max cell of its coarse heatmap (detached, as in the
paper: the crop position is not differentiated). A window of ``window`` x ``window`` heatmap cells centred on
it is cropped (bilinear, :func:`~posekit.models.blocks.crop_windows`) from the coarse model's second-layer
feature maps of both banks (strides 2 and 4), each resampled to ``fine_size`` x ``fine_size``; a fine
network with ONE set of weights for all joints (the paper's Siamese instances) runs a small conv bank on
each resolution, sums them and outputs a fine heatmap over the window. Its last 1x1 conv has K channels and
the crop of joint k reads channel k (the weights stay shared; the channel tells the network which joint it
is refining). Target: a Gaussian (``fine_sigma`` fine cells) at the true joint, weighted by visibility and by
whether the joint lies inside the window (``loss_fine``). Gradients of the fine loss flow into the shared
coarse features, so both models train jointly, as in the paper. Final location = window centre + the
fine heatmap's arg-max offset (quarter-cell refined).

Departures from the paper (CPU-sized):
* Two resolution banks (the paper uses three for its coarse model), far fewer feature maps than the paper's
  (width 32), BatchNorm after every conv, no local contrast normalisation of the input (our images are
  ImageNet-normalised), and the banks' 9x9 convolution is depthwise-separable (9x9 depthwise + 1x1).
* The fine heatmap has ``fine_size`` cells over a ``window * 4``-pixel window (default 16 cells over 32 px,
  i.e. 2 px per cell) instead of full input resolution, and the fine model crops two feature resolutions.
* Loss weights are 1 : 1 (``fine_weight``) and both models train together from the first step, without a
  separate coarse-only phase first (early on few joints fall inside their windows; the fine loss counts
  only those).
* The SpatialDropout rate (``dropout``) is our choice.

Input (N, 3, H, W) normalised RGB. Eval output ``{"coords": (N, K, 2)`` normalised as
:class:`~posekit.codecs.RegressionCodec`, ``"scores": (N, K)`` coarse peak values in [0, 1],
``"coarse_heatmaps": (N, K, H/4, W/4)}``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from posekit.losses import heatmap_activation, heatmap_loss
from posekit.models import register_model
from posekit.models.blocks import conv_bn_relu, crop_windows

STRIDE = 4  # coarse heatmap stride (input pixels per cell)


class CoarseBank(nn.Module):
    """One resolution bank of the coarse model. (N, 3, h, w) ->
    (shared features (N, width, h/2, w/2), output features (N, 4 width, h/4, w/4))."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv1 = conv_bn_relu(3, width // 2, 5)
        self.conv2 = conv_bn_relu(width // 2, width, 5)
        self.conv3 = conv_bn_relu(width, 2 * width, 5)
        # The paper's large 9x9 layer, made depthwise-separable for CPU cost.
        self.conv4 = nn.Sequential(conv_bn_relu(2 * width, 2 * width, 9, groups=2 * width),
                                   conv_bn_relu(2 * width, 4 * width, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shared = self.conv2(F.max_pool2d(self.conv1(x), 2))
        return shared, self.conv4(self.conv3(F.max_pool2d(shared, 2)))


class Tompson(nn.Module):
    """Coarse multi-resolution heatmap ConvNet + shared-weight fine heatmap model on feature crops.

    num_joints: K. width: coarse model width (banks: width/2, width, 2 width, 4 width maps).
    window: crop side in coarse heatmap cells (window * 4 input pixels). fine_size: fine heatmap side (cells
    over the window). fine_width: fine network width (default width // 2). fine_sigma: fine target Gaussian
    std in fine cells. dropout: SpatialDropout rate before the 1x1 output convs. loss: heatmap loss name in
    ``posekit.losses.HEATMAP_LOSSES`` (l2, l1, ce, bce) for both models. fine_weight: weight of loss_fine.
    refine: use the fine model outside training; False scores the coarse model alone (what the refinement
    adds), its heatmaps decoded by the codec like any heatmap model's. Training always trains both.

    forward(image (N,3,H,W), targets=None), H and W multiples of 4:
      training with targets {"heatmaps": (N,K,H/4,W/4), "weights": (N,K), "keypoints": (N,K,3) input
        pixels} -> {"loss_coarse": ..., "loss_fine": ...};
      otherwise -> {"coords": (N,K,2) normalised ((x + 0.5) / W, (y + 0.5) / H), "scores": (N,K),
        "coarse_heatmaps": (N,K,H/4,W/4)}; with ``refine=False`` -> {"heatmaps": (N,K,H/4,W/4)} activated.
    """

    def __init__(
        self,
        num_joints: int = 14,
        width: int = 32,
        window: int = 8,
        fine_size: int = 16,
        loss: str = "l2",
        fine_width: int | None = None,
        fine_sigma: float = 1.5,
        dropout: float = 0.2,
        fine_weight: float = 1.0,
        refine: bool = True,
    ) -> None:
        super().__init__()
        heatmap_loss(loss)  # an unknown name fails here, not at the first training step
        if width % 2:
            raise ValueError(f"width must be even, got {width}")
        self.num_joints = num_joints
        self.window = int(window)
        self.fine_size = int(fine_size)
        self.fine_sigma = float(fine_sigma)
        self.loss_name = loss
        self.fine_weight = float(fine_weight)
        self.refine = bool(refine)
        fw = fine_width or max(width // 2, 8)
        # Coarse model.
        self.bank_full = CoarseBank(width)
        self.bank_half = CoarseBank(width)
        self.coarse_head = nn.Sequential(
            nn.Dropout2d(dropout), conv_bn_relu(4 * width, 4 * width, 1), nn.Dropout2d(dropout),
            nn.Conv2d(4 * width, num_joints, 1),
        )
        # Fine model: one bank per cropped feature resolution, summed, then the output layers.
        self.fine_full = nn.Sequential(conv_bn_relu(width, fw, 3), conv_bn_relu(fw, fw, 3))
        self.fine_half = nn.Sequential(conv_bn_relu(width, fw, 3), conv_bn_relu(fw, fw, 3))
        self.fine_head = nn.Sequential(conv_bn_relu(fw, fw, 3), nn.Conv2d(fw, num_joints, 1))
        for conv in (self.coarse_head[-1], self.fine_head[-1]):
            nn.init.normal_(conv.weight, std=0.001)
            nn.init.zeros_(conv.bias)

    # -------------------------------------------------------------------------------------- the models
    def coarse(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(N,3,H,W) -> (coarse heatmaps (N,K,H/4,W/4), shared features at stride 2 and 4)."""
        f_full, out_full = self.bank_full(image)
        f_half, out_half = self.bank_half(F.avg_pool2d(image, 2))
        merged = out_full + F.interpolate(out_half, size=out_full.shape[-2:], mode="bilinear", align_corners=False)
        return self.coarse_head(merged), f_full, f_half

    def fine(self, f_full: torch.Tensor, f_half: torch.Tensor, centres: torch.Tensor, side: float,
             size: tuple[int, int]) -> torch.Tensor:
        """Fine heatmaps (N,K,f,f) over the windows of side ``side`` input pixels at ``centres`` (N,K,2)."""
        n, k = centres.shape[:2]
        f = self.fine_size
        a = crop_windows(f_full, centres, side, f, size).flatten(0, 1)
        b = crop_windows(f_half, centres, side, f, size).flatten(0, 1)
        out = self.fine_head(self.fine_full(a) + self.fine_half(b)).reshape(n, k, k, f, f)
        return torch.diagonal(out, dim1=1, dim2=2).permute(0, 3, 1, 2)  # crop of joint k reads channel k

    # ---------------------------------------------------------------------------------------- helpers
    @staticmethod
    def _argmax(maps: torch.Tensor) -> torch.Tensor:
        """maps (N,K,h,w) -> integer arg-max cell (x, y) (N,K,2) as float."""
        w = maps.shape[-1]
        idx = maps.flatten(2).argmax(-1)
        return torch.stack([idx % w, idx // w], -1).to(maps.dtype)

    @staticmethod
    def _quarter(maps: torch.Tensor, xy: torch.Tensor) -> torch.Tensor:
        """Quarter-cell step from arg-max cells xy (N,K,2) towards the higher neighbour (interior cells)."""
        h, w = maps.shape[-2:]
        x, y = xy[..., 0].long(), xy[..., 1].long()
        flat = maps.flatten(2)

        def at(xx: torch.Tensor, yy: torch.Tensor) -> torch.Tensor:
            idx = yy.clamp(0, h - 1) * w + xx.clamp(0, w - 1)
            return flat.gather(2, idx[..., None])[..., 0]

        dx = torch.sign(at(x + 1, y) - at(x - 1, y)) * ((x > 0) & (x < w - 1))
        dy = torch.sign(at(x, y + 1) - at(x, y - 1)) * ((y > 0) & (y < h - 1))
        return xy + 0.25 * torch.stack([dx, dy], -1).to(xy.dtype)

    def _scores(self, maps: torch.Tensor, xy: torch.Tensor) -> torch.Tensor:
        """(N,K) confidence in [0, 1]: the coarse maps through the loss's ``heatmap_activation`` (identity for
        l2 / l1, sigmoid for bce, 3x3 softmax mass for ce), read at the peak cells ``xy`` (N,K,2)."""
        act = heatmap_activation(self.loss_name)(maps)
        idx = (xy[..., 1] * maps.shape[-1] + xy[..., 0]).long()
        return act.flatten(2).gather(2, idx[..., None])[..., 0].clamp(0, 1)

    def fine_targets(self, keypoints: torch.Tensor, centres: torch.Tensor, side: float,
                     weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Gaussian targets (N,K,f,f) at the true joints (keypoints (N,K,3) input pixels) in the windows and
        weights (N,K): ``weights`` x (joint labelled and inside its window)."""
        f = self.fine_size
        t = (torch.nan_to_num(keypoints[..., :2]) - centres) / side * f + f / 2 - 0.5  # fine-cell coords
        grid = torch.arange(f, device=t.device, dtype=t.dtype)
        gx = torch.exp(-((grid - t[..., 0:1]) ** 2) / (2 * self.fine_sigma**2))  # (N, K, f)
        gy = torch.exp(-((grid - t[..., 1:2]) ** 2) / (2 * self.fine_sigma**2))
        inside = ((t >= -0.5) & (t < f - 0.5)).all(-1) & (keypoints[..., 2] > 0)
        w = weights * inside.to(weights.dtype)
        return gy[..., :, None] * gx[..., None, :] * w[..., None, None], w

    def locate(self, fine: torch.Tensor, centres: torch.Tensor, side: float, size: tuple[int, int]) -> torch.Tensor:
        """Final locations (N,K,2), normalised ``((x + 0.5) / W, (y + 0.5) / H)``: window centres (N,K,2)
        input pixels + the offset of each fine heatmap's (N,K,f,f) quarter-refined arg-max."""
        fxy = self._quarter(fine, self._argmax(fine))
        offset = ((fxy + 0.5) / self.fine_size - 0.5) * side  # input pixels from the window centre
        return (centres + offset + 0.5) / centres.new_tensor(size)

    # ---------------------------------------------------------------------------------------- forward
    def forward(self, image: torch.Tensor, targets: dict | None = None) -> dict:
        n, _, h, w = image.shape
        size = (w, h)
        coarse, f_full, f_half = self.coarse(image)
        if not self.refine and not self.training:
            return {"heatmaps": heatmap_activation(self.loss_name)(coarse)}
        cells = self._argmax(coarse.detach())
        stride = coarse.new_tensor([w / coarse.shape[-1], h / coarse.shape[-2]])
        centres = (cells + 0.5) * stride - 0.5  # input pixels of the arg-max cell centres
        side = float(self.window * w / coarse.shape[-1])
        fine = self.fine(f_full, f_half, centres, side, size)
        if self.training and targets is not None:
            loss_fn = heatmap_loss(self.loss_name)
            weights = targets["weights"].to(coarse.dtype).reshape(n, self.num_joints)
            losses = loss_fn(coarse, targets["heatmaps"].to(coarse.dtype), weights, name="coarse")
            fine_target, fine_w = self.fine_targets(targets["keypoints"].to(coarse.dtype), centres, side, weights)
            fine_loss = loss_fn(fine, fine_target, fine_w, name="fine")
            losses.update({key: self.fine_weight * v for key, v in fine_loss.items()})
            return losses
        return {"coords": self.locate(fine.detach(), centres, side, size),
                "scores": self._scores(coarse.detach(), cells), "coarse_heatmaps": coarse}


@register_model("tompson")
def tompson(num_joints: int = 14, **kwargs) -> Tompson:
    return Tompson(num_joints=num_joints, **kwargs)
