"""The person detector: forward/backward, output shapes, and a few steps that fit one batch."""

import numpy as np
import torch

from posekit.codecs.boxes import CenterBoxCodec
from posekit.models import get_model


def _batch(codec, n=2):
    rng = np.random.default_rng(0)
    targets = [codec.encode(np.array([[20, 10, 30, 90], [70, 30, 40, 80]]) + rng.uniform(-3, 3, 4)) for _ in range(n)]
    batch = {k: torch.from_numpy(np.stack([t[k] for t in targets])) for k in targets[0]}
    batch["image"] = torch.randn(n, 3, 128, 128)
    return batch


def test_forward_backward_and_shapes():
    torch.manual_seed(0)
    model = get_model("centernet", widths=(8, 8, 16, 16, 32), blocks=(1, 1, 1, 1), head_width=8, head_conv=8)
    codec = CenterBoxCodec((128, 128), (32, 32))
    batch = _batch(codec)
    model.train()
    losses = model(batch["image"], batch)
    assert set(losses) == {"loss_center", "loss_size", "loss_offset"}
    sum(losses.values()).backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    model.eval()
    out = model(batch["image"])
    assert out["centers"].shape == (2, 1, 32, 32) and out["sizes"].shape == (2, 2, 32, 32)
    assert 0 <= out["centers"].min() and out["centers"].max() <= 1


def test_a_few_steps_fit_one_batch():
    torch.manual_seed(0)
    model = get_model("centernet", widths=(8, 8, 16, 16, 32), blocks=(1, 1, 1, 1), head_width=8, head_conv=8)
    codec = CenterBoxCodec((128, 128), (32, 32))
    batch = _batch(codec)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    first = None
    for _ in range(40):
        loss = sum(model(batch["image"], batch).values())
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first
