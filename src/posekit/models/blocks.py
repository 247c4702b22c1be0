"""Building blocks shared by the model files (import them; never copy them)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def conv_bn_relu(cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1,
                 dilation: int = 1) -> nn.Sequential:
    """Conv (no bias: BN follows) -> BatchNorm -> ReLU; 'same' padding for odd kernels (and any dilation)."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, dilation * (kernel // 2), dilation=dilation, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def conv_bn(cin: int, cout: int, kernel: int = 1, stride: int = 1) -> nn.Sequential:
    """Conv (no bias) -> BatchNorm, no activation: for paths that are summed before the ReLU
    (residual shortcuts, HRNet's fusion)."""
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout))


def shortcut(cin: int, cout: int, stride: int = 1) -> nn.Module:
    """Residual shortcut: identity when the shape is kept, else a 1x1 projection (He et al. 2016, option B)."""
    return nn.Identity() if stride == 1 and cin == cout else conv_bn(cin, cout, 1, stride)


class BasicBlock(nn.Module):
    """ResNet basic block (He et al. 2016): two 3x3 convs with an identity or 1x1 projection shortcut.

    (N, cin, H, W) -> (N, cout, H/stride, W/stride).
    """

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = shortcut(cin, cout, stride)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    """ResNet bottleneck / Hourglass residual module: 1x1 -> 3x3 -> 1x1 with a shortcut.

    (N, cin, H, W) -> (N, cout, H/stride, W/stride); the inner width is cout // expansion.
    """

    def __init__(self, cin: int, cout: int, stride: int = 1, expansion: int = 2) -> None:
        super().__init__()
        mid = cout // expansion
        self.body = nn.Sequential(
            conv_bn_relu(cin, mid, 1),
            conv_bn_relu(mid, mid, 3, stride),
            nn.Conv2d(mid, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = shortcut(cin, cout, stride)

    def forward(self, x):
        return self.relu(self.body(x) + self.shortcut(x))


def crop_windows(
    maps: torch.Tensor,
    centres: torch.Tensor,
    sides: torch.Tensor | float,
    out_size: int,
    input_size: tuple[int, int],
) -> torch.Tensor:
    """Differentiable square crops (bilinear ``affine_grid`` + ``grid_sample``), one per (image, point).

    maps (N, C, h, w): the input image or feature maps of any stride covering the input frame of size
    ``input_size`` = (W, H) pixels (map cell i centred on input pixel ``(i + 0.5) W / w - 0.5``, the codecs'
    convention). centres (N, P, 2): window centres (x, y) in input pixels. sides (N, P) or a float: window
    sides in input pixels. Returns (N, P, C, out_size, out_size); crop cell (i, j) (column, row) samples
    input point ``centre + ((i + 0.5) / out_size - 0.5, (j + 0.5) / out_size - 0.5) * side``, zeros off the
    maps. Gradients reach ``maps`` (and ``centres`` / ``sides`` unless detached).
    """
    n, p = centres.shape[:2]
    w, h = input_size
    sides = torch.as_tensor(sides, dtype=centres.dtype, device=centres.device).expand(n, p)
    zero = torch.zeros_like(sides)
    # affine_grid / grid_sample with align_corners=False: normalised coordinate u = 2 (x + 0.5) / W - 1.
    cx = (2 * centres[..., 0] + 1) / w - 1
    cy = (2 * centres[..., 1] + 1) / h - 1
    theta = torch.stack([torch.stack([sides / w, zero, cx], -1), torch.stack([zero, sides / h, cy], -1)], -2)
    grid = F.affine_grid(theta.reshape(n * p, 2, 3), [n * p, 1, out_size, out_size], align_corners=False)
    # Stack the P windows of an image along the grid's height: one grid_sample per batch, no copies of maps.
    grid = grid.reshape(n, p * out_size, out_size, 2).to(maps.dtype)
    crops = F.grid_sample(maps, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return crops.reshape(n, maps.shape[1], p, out_size, out_size).transpose(1, 2)
