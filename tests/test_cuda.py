"""The CUDA path of the models, the training loop and the predictor: mixed precision (AMP), channels_last,
pinned memory, CUDA RNG state in checkpoints. CI has no GPU, so these skip there; on a GPU machine run
``pytest tests/test_cuda.py`` (benchmarks/cuda_check.md records where and when they last ran)."""

import numpy as np
import pytest
import torch
from test_train import tiny_config

import posekit
from posekit.data import load
from posekit.evaluate import predict_dataset
from posekit.models import get_model, list_models
from posekit.train import train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.parametrize("name", list_models())
def test_every_model_trains_under_autocast_in_channels_last(name):
    """What the loop does on CUDA: float16 autocast forward, scaled backward; no tensor left on the CPU
    inside a model (crops, grids, constants) and no gradient lost or non-finite."""
    torch.manual_seed(0)
    cuda = torch.device("cuda")
    model = get_model(name, num_joints=14).to(cuda).to(memory_format=torch.channels_last).train()
    x = torch.randn(2, 3, 128, 128, device=cuda).contiguous(memory_format=torch.channels_last)
    keypoints = torch.rand(2, 14, 3, device=cuda) * 127
    keypoints[..., 2] = 1
    targets = {"heatmaps": torch.rand(2, 14, 32, 32, device=cuda), "weights": torch.ones(2, 14, device=cuda),
               "keypoints": keypoints}
    scaler = torch.amp.GradScaler("cuda")
    with torch.autocast("cuda", dtype=torch.float16):
        losses = model(x, targets)
    total = sum(losses.values())
    assert torch.isfinite(total)
    scaler.scale(total).backward()
    grads = [(n, p.grad) for n, p in model.named_parameters() if p.requires_grad]
    assert all(g is not None for _, g in grads), [n for n, g in grads if g is None]
    assert all(torch.isfinite(g).all() for _, g in grads)
    model.eval()
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.float16):
        out = model(x)
    assert all(v.is_cuda and torch.isfinite(v).all() for v in out.values())


def test_training_on_cuda_uses_amp_and_resumes_exactly(data_root, tmp_path):
    """Deterministic mode on CUDA (cuBLAS workspace set by the loop): 4 steps straight == 2 + resume + 2,
    and the checkpoint carries the AMP scaler and the CUDA RNG state."""
    common = ["train.device=cuda", "train.max_steps=4", "data.num_workers=2"]
    straight = train(tiny_config(data_root, tmp_path, *common, f"train.out_dir={tmp_path / 'a'}"), progress=False)
    train(tiny_config(data_root, tmp_path, *common, "train.stop_after=2", f"train.out_dir={tmp_path / 'b'}"),
          progress=False)
    resumed = train(tiny_config(data_root, tmp_path, *common, f"train.out_dir={tmp_path / 'b'}"), resume=True,
                    progress=False)
    assert resumed.step == 4 and next(resumed.model.parameters()).is_cuda
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    ckpt = torch.load(tmp_path / "b" / "last.pt", weights_only=False)
    assert ckpt["scaler"] and ckpt["rng"]["cuda"] is not None


def test_predictor_on_cuda_matches_the_cpu(data_root):
    """The default model on LSP test people (their ground-truth boxes, so that only the network and the
    decoding differ): keypoints within half a pixel, scores within 0.01."""
    cpu, gpu = posekit.load_model("default", device="cpu"), posekit.load_model("default", device="cuda")
    samples = load("lsp", data_root / "lsp", split="test")[:20]
    on_cpu, gt, _ = predict_dataset(cpu, samples, gt_boxes=True, progress=False)
    on_gpu, _, _ = predict_dataset(gpu, samples, gt_boxes=True, progress=False)
    assert len(on_cpu) == len(samples)
    assert np.abs(on_cpu[..., :2] - on_gpu[..., :2]).max() < 0.5
    assert np.abs(on_cpu[..., 2] - on_gpu[..., 2]).max() < 1e-2
