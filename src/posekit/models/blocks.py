"""Building blocks shared by the model files (import them; never copy them)."""

from __future__ import annotations

import torch.nn as nn


def conv_bn_relu(cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    """Conv (no bias: BN follows) -> BatchNorm -> ReLU; 'same' padding for odd kernels."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


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
        self.shortcut = (
            nn.Identity()
            if stride == 1 and cin == cout
            else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        )

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
        self.shortcut = (
            nn.Identity()
            if stride == 1 and cin == cout
            else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        )

    def forward(self, x):
        return self.relu(self.body(x) + self.shortcut(x))
