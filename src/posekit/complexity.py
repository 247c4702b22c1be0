"""Model size and cost: parameter count and multiply-accumulates of one forward pass.

MACs are counted analytically with forward hooks on convolutions, transposed convolutions and linear
layers (the layers that dominate; BatchNorm / activations / pooling are ignored). FLOPs = 2 x MACs
(one multiply + one add), the convention of most papers' "GFLOPs" columns is ambiguous, so both are given.
"""

from __future__ import annotations

import torch
import torch.nn as nn


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def count_macs(model: nn.Module, input_size: tuple[int, int], channels: int = 3) -> int:
    """Multiply-accumulates of ``model`` on one (1, channels, H, W) input, ``input_size`` = (W, H)."""
    total = 0

    def conv_hook(module: nn.Module, inputs, output) -> None:
        nonlocal total
        k = module.kernel_size[0] * module.kernel_size[1]
        if isinstance(module, nn.ConvTranspose2d):
            total += inputs[0].numel() * (module.out_channels // module.groups) * k
        else:
            total += output.numel() * (module.in_channels // module.groups) * k

    def linear_hook(module: nn.Module, inputs, output) -> None:
        nonlocal total
        total += output.numel() * module.in_features

    hooks = []
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    try:
        device = next(model.parameters()).device
        model(torch.zeros(1, channels, input_size[1], input_size[0], device=device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return total
