"""The training loop on real LSP images: loss falls, resume is exact, two DDP processes agree."""

import json
import os
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from posekit.config import load_config
from posekit.train import train

TINY = [
    "model.kwargs={widths: [8, 8, 16, 16, 32], blocks: [1, 1, 1, 1], head_width: 8}",
    "codec.input_size=[64,64]", "codec.heatmap_size=[16,16]", "codec.sigma=1.5",
    "data.train=[{format: lsp, path: lsp, split: train}]", "data.limit=24", "data.val_fraction=0.25",
    "data.num_workers=0", "train.batch_size=4", "train.checkpoint_every=2", "train.log_every=1",
    "train.deterministic=true", "train.threads=1", "train.warmup_steps=2",
]


def tiny_config(data_root, tmp_path, *extra):
    return load_config(None, TINY + [f"data.root={data_root}", f"data.cache_dir={tmp_path / 'cache'}", *extra])


def test_resume_is_exact(data_root, tmp_path):
    straight = train(tiny_config(data_root, tmp_path, "train.max_steps=4", f"train.out_dir={tmp_path / 'a'}"),
                     progress=False)
    first = train(tiny_config(data_root, tmp_path, "train.max_steps=4", "train.stop_after=2",
                              f"train.out_dir={tmp_path / 'b'}"), progress=False)
    assert first.step == 2 and not first.finished
    resumed = train(tiny_config(data_root, tmp_path, "train.max_steps=4", f"train.out_dir={tmp_path / 'b'}"),
                    resume=True, progress=False)
    assert resumed.step == 4 and resumed.finished
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    ckpt = torch.load(tmp_path / "b" / "last.pt", weights_only=False)
    assert {"model", "optimizer", "scheduler", "rng", "step", "config", "git_revision"} <= set(ckpt)
    assert ckpt["step"] == 4
    assert (tmp_path / "b" / "metrics.jsonl").exists() and (tmp_path / "b" / "learning_curve.png").exists()


def test_resume_with_a_changed_config_is_refused_naming_the_keys(data_root, tmp_path):
    from posekit.config import ConfigError

    out = f"train.out_dir={tmp_path / 'r'}"
    train(tiny_config(data_root, tmp_path, "train.max_steps=4", "train.stop_after=2", out), progress=False)
    with pytest.raises(ConfigError, match=r"train\.batch_size \(4 -> 6\).*train\.max_steps \(4 -> 9\)"):
        train(tiny_config(data_root, tmp_path, "train.max_steps=9", "train.batch_size=6", out), resume=True,
              progress=False)
    # keys that only decide when and where work happens may change
    done = train(tiny_config(data_root, tmp_path, "train.max_steps=4", "train.log_every=3", out), resume=True,
                 progress=False)
    assert done.finished


def test_invalid_training_values_are_refused():
    from posekit.config import ConfigError

    for bad in ("train.max_steps=-5", "train.batch_size=0", "train.lr=0"):
        with pytest.raises(ConfigError, match=bad.split("=")[0].split(".")[1]):
            load_config(None, [bad])


def test_loss_falls_on_real_data(data_root, tmp_path):
    import json

    train(tiny_config(data_root, tmp_path, "train.max_steps=40", "train.lr=0.01", "data.rotation_deg=0",
                      "data.scale_range=[1.0,1.0]", f"train.out_dir={tmp_path / 'run'}"), progress=False)
    records = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in records if "loss" in r]
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5


def _ddp_worker(rank, world, port, data_root, tmp_path):
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    cfg = tiny_config(data_root, tmp_path, "train.max_steps=3", "train.batch_size=2", "data.val_fraction=0",
                      f"train.out_dir={tmp_path / 'ddp'}", "train.deterministic=false")
    result = train(cfg, progress=False)
    torch.save(result.model.state_dict(), tmp_path / f"rank{rank}.pt")


@pytest.mark.heavy
def test_ddp_two_cpu_processes_hold_identical_weights(data_root, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_ddp_worker, args=(2, port, str(data_root), tmp_path), nprocs=2, join=True)
    w0 = torch.load(tmp_path / "rank0.pt")
    w1 = torch.load(tmp_path / "rank1.pt")
    assert all(torch.equal(w0[k], w1[k]) for k in w0)
    init = train.__globals__["build_model"](tiny_config(data_root, tmp_path)).state_dict()
    assert any(not torch.equal(w0[k], init[k]) for k in w0 if w0[k].is_floating_point())


if __name__ == "__main__":
    pytest.main([__file__])


def test_the_person_detector_trains_through_the_one_loop(data_root, tmp_path):
    """data.kind=detection: whole images + composed scenes on backgrounds, the CenterNet losses fall on a
    repeated batch, validation reports box AP, and the result loads as a PersonDetector."""
    from posekit.predict.build import load_detector

    cfg = load_config(None, [
        "model.name=centernet", "model.kwargs={widths: [8, 8, 16, 16, 32], blocks: [1, 1, 1, 1], head_width: 8, "
        "head_conv: 8}", "codec.input_size=[96,96]", "codec.heatmap_size=[24,24]", "data.kind=detection",
        "data.train=[{format: lsp, path: lsp, split: train}]", "data.limit=16", "data.val_fraction=0.25",
        "data.backgrounds=backgrounds", "data.num_scenes=8", "data.num_workers=0", f"data.root={data_root}",
        "train.batch_size=4", "train.max_steps=6", "train.eval_every=6", "train.log_every=1", "train.threads=1",
        "train.warmup_steps=1", f"train.out_dir={tmp_path / 'det'}"])
    result = train(cfg, progress=False)
    assert result.finished
    records = [json.loads(x) for x in (tmp_path / "det" / "metrics.jsonl").read_text().splitlines()]
    assert {"loss_center", "loss_size", "loss_offset"} <= set(records[0])
    val = [r for r in records if "val_box_ap50" in r]
    assert val and 0 <= val[-1]["val_box_ap50"] <= 100
    detector = load_detector(result.checkpoint, device="cpu", threshold=0.0)
    boxes, scores = detector.detect(np.zeros((120, 200, 3), np.uint8))
    assert boxes.shape[1] == 4 and len(boxes) == len(scores)


def test_the_bottom_up_network_trains_through_the_one_loop(data_root, tmp_path):
    """data.kind=bottomup: whole images + composed scenes with PAF targets, a loss per stage logged,
    validation reports OKS-AP on held-out scenes, and the result loads as a BottomUpPredictor."""
    from posekit.api import load_model
    from posekit.predict.bottomup import BottomUpPredictor

    cfg = load_config(None, [
        "model.name=paf", "model.kwargs={widths: [8, 8, 16, 16, 32], blocks: [1, 1, 1, 1], head_width: 8, "
        "stage_width: 8, num_stages: 2}", "codec.input_size=[64,64]", "codec.heatmap_size=[16,16]",
        "codec.sigma=1.0", "codec.limb_width=3.0", "data.kind=bottomup",
        "data.train=[{format: lsp, path: lsp, split: train}]", "data.limit=20", "data.val_fraction=0.5",
        "data.backgrounds=backgrounds", "data.num_scenes=8", "data.num_workers=0", f"data.root={data_root}",
        "train.batch_size=4", "train.max_steps=4", "train.eval_every=4", "train.log_every=1", "train.threads=1",
        "train.warmup_steps=1", f"train.out_dir={tmp_path / 'paf'}"])
    result = train(cfg, progress=False)
    assert result.finished
    records = [json.loads(x) for x in (tmp_path / "paf" / "metrics.jsonl").read_text().splitlines()]
    assert {"loss_heatmap_s1", "loss_paf_s1", "loss_heatmap_s2", "loss_paf_s2"} <= set(records[0])
    val = [r for r in records if "val_oks_ap" in r]
    assert val and 0 <= val[-1]["val_oks_ap"] <= 100
    predictor = load_model(result.checkpoint, device="cpu", backend="torch")
    assert isinstance(predictor, BottomUpPredictor)
    assert isinstance(predictor.predict(np.zeros((120, 200, 3), np.uint8)), list)
