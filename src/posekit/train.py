"""The one training loop: every method in posekit trains here.

A model in training mode takes ``(images, targets)`` and returns a dict of named losses; the loop
sums them. Runs unchanged on CPU, on a CUDA GPU (AMP there only) and on several processes or machines
under ``torchrun`` (PyTorch DDP, NCCL on CUDA, gloo on CPU).

Determinism and exact resume: the stream of training items is a pure function of (seed, step): the
item order of each epoch is a seeded permutation and each item's augmentation draws from its own
generator seeded by (seed, epoch, position). A resumed run therefore sees exactly the batches the
uninterrupted run would have seen, whatever the number of data workers.

The data (:mod:`posekit.train_data`), the validation of each kind of model (:mod:`posekit.validation`)
and what a checkpoint holds for an exact resume (:mod:`posekit.train_state`) live in modules of their own.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader
from tqdm import tqdm

from posekit.checkpoint import load_weights, safe_load
from posekit.codecs.heatmap import HeatmapCodec
from posekit.config import Config, ConfigError, build_codec, build_model, to_dict
from posekit.data.dataset import PoseDataset
from posekit.data.detection import DetectionDataset
from posekit.skeletons import get_skeleton
from posekit.train_data import SeededItems, StepSampler, build_datasets
from posekit.train_state import RESUME_SAFE_KEYS, changed_keys, git_revision, rng_state, save_checkpoint, set_rng_state
from posekit.validation import VALIDATIONS
from posekit.zoo import pinned


# -------------------------------------------------------------------------------------------- helpers
def _lr_lambda(warmup: int, total: int):
    """Linear warm-up then cosine decay to 1 % of the base rate."""

    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        t = (step - warmup) / max(1, total - warmup)
        return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

    return f


def _setup_distributed(cfg: Config) -> tuple[torch.device, int, int, int]:
    """(device, rank, world_size, local_rank); initialises the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if cfg.train.device:
        device = torch.device(cfg.train.device)
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return device, rank, world, local_rank


def _move(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}



# ----------------------------------------------------------------------------------------------- loop
@dataclass
class TrainResult:
    """model: the trained (unwrapped) module; checkpoint: best.pt if validation ran, else last.pt;
    step: the global step reached; finished: whether max_steps was reached."""

    model: torch.nn.Module
    checkpoint: Path
    step: int
    finished: bool


@dataclass
class _Run:
    """Everything one invocation of :func:`train` holds, built in the order :func:`train` reads."""

    cfg: Config
    device: torch.device
    rank: int
    world: int
    codec: HeatmapCodec
    train_set: PoseDataset | DetectionDataset  # by data.kind: person crops, or whole images
    val_set: PoseDataset | DetectionDataset
    model: torch.nn.Module  # unwrapped: what is validated and checkpointed
    net: torch.nn.Module  # what the loop calls: the model, under DDP wrapped
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    use_amp: bool
    start_step: int
    best: float
    revision: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def out(self) -> Path:
        return Path(self.cfg.train.out_dir)


def train(cfg: Config, resume: bool = False, progress: bool = True) -> TrainResult:
    """Train ``cfg``.

    Writes to ``cfg.train.out_dir``: ``last.pt`` (every ``checkpoint_every`` steps and at the end),
    ``best.pt`` (best validation score), ``metrics.jsonl`` and ``learning_curve.png``.
    ``resume=True`` continues from ``last.pt`` exactly where it stopped. ``train.stop_after`` /
    ``train.time_limit_min`` end an invocation early (checkpointed), for runs split across sessions.

    In order: :func:`_setup` (devices, processes, seeds), :func:`build_datasets`, :func:`_build_run`
    (model, optimiser, resumed state), :func:`_loop` (steps, with :func:`_validate_and_keep_best` and
    :func:`_save_last`), :func:`_finish`.
    """
    device, rank, world = _setup(cfg)
    codec = build_codec(cfg)
    train_set, val_set = build_datasets(cfg, codec, progress=progress and rank == 0)
    run = _build_run(cfg, device, rank, world, codec, train_set, val_set, resume)
    step = _loop(run, resume, progress)
    _finish(run)
    best_path, last_path = run.out / "best.pt", run.out / "last.pt"
    return TrainResult(model=run.model, checkpoint=best_path if best_path.exists() else last_path, step=step,
                       finished=step >= cfg.train.max_steps)


# ---------------------------------------------------------------------------------------------- setup
def _setup(cfg: Config) -> tuple[torch.device, int, int]:
    """(device, rank, world size): the process group (under torchrun), threads, determinism and seeds."""
    t = cfg.train
    device, rank, world, _ = _setup_distributed(cfg)
    if t.threads:
        torch.set_num_threads(t.threads)
    if t.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # required by deterministic cuBLAS
        torch.use_deterministic_algorithms(True)
    random.seed(t.seed)
    np.random.seed(t.seed)
    torch.manual_seed(t.seed)
    return device, rank, world


# ---------------------------------------------------------------------------------- model and optimiser
def _build_run(cfg: Config, device: torch.device, rank: int, world: int, codec: HeatmapCodec,
               train_set: PoseDataset | DetectionDataset, val_set: PoseDataset | DetectionDataset,
               resume: bool) -> _Run:
    """The model (initial weights, or ``last.pt``'s under ``resume``), its AdamW optimiser, learning-rate
    schedule and AMP scaler, wrapped in DDP when there are several processes."""
    t = cfg.train
    model = build_model(cfg, pretrained=not resume)  # ImageNet weights (model.kwargs.pretrained) at the start only
    if cfg.model.init_weights and not resume:  # exactly the file the config names (init_sha256), or fail now
        load_weights(model, pinned(cfg.model.init_weights, cfg.model.init_sha256), partial=True,
                     skeleton=get_skeleton(cfg.model.skeleton))
    model = model.to(device)
    if t.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(t.warmup_steps, t.max_steps))
    use_amp = t.amp and device.type == "cuda"
    run = _Run(cfg, device, rank, world, codec, train_set, val_set, model, model, optimizer, scheduler,
               torch.amp.GradScaler("cuda", enabled=use_amp), use_amp, start_step=0, best=-1.0,
               revision=git_revision())
    if resume:
        _resume(run)
    if world > 1:
        run.net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index]
                                                            if device.type == "cuda" else None)
    return run


def _resume(run: _Run) -> None:
    """Load ``last.pt`` into the run: weights, optimiser, schedule, scaler, RNG states, step and best score.
    Refuses a checkpoint trained with a different config (except :data:`RESUME_SAFE_KEYS`)."""
    last_path = run.out / "last.pt"
    if not last_path.exists():
        raise FileNotFoundError(f"--resume: no checkpoint at {last_path}")
    # Load on the CPU: RNG states must stay CPU tensors; load_state_dict moves the rest.
    state = safe_load(last_path)
    changed = changed_keys(state.get("config", {}), to_dict(run.cfg))
    if changed:
        raise ConfigError(f"--resume: {last_path} was trained with a different config: {', '.join(changed)} "
                          f"changed; exact resume needs the same (only {', '.join(sorted(RESUME_SAFE_KEYS))} "
                          "may change). Start a new out_dir, or restore the stored values")
    try:
        run.model.load_state_dict(state["model"])
    except RuntimeError as e:
        raise ValueError(f"--resume: {last_path} does not fit this config's model: "
                         f"{str(e).splitlines()[0]}") from None
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    if state["scaler"]:  # empty when the run so far had AMP off (e.g. on the CPU)
        run.scaler.load_state_dict(state["scaler"])
    set_rng_state(state["rng"])
    run.start_step, run.best = state["step"], state.get("best_val", -1.0)


# ----------------------------------------------------------------------------------------------- loop
def _loop(run: _Run, resume: bool, progress: bool) -> int:
    """Optimiser steps from ``run.start_step`` until ``max_steps``, ``stop_after`` steps or the time
    limit: logs every ``log_every`` steps, validates every ``eval_every`` (default: once per epoch),
    checkpoints every ``checkpoint_every`` and on stopping. Returns the step reached."""
    t, device = run.cfg.train, run.device
    stop = min(t.max_steps, run.start_step + t.stop_after) if t.stop_after else t.max_steps
    deadline = time.time() + 60 * t.time_limit_min if t.time_limit_min else math.inf
    sampler = StepSampler(len(run.train_set), t.batch_size, t.seed, run.start_step, stop, run.rank, run.world)
    loader = DataLoader(SeededItems(run.train_set), batch_size=t.batch_size, sampler=sampler,
                        num_workers=run.cfg.data.num_workers, persistent_workers=False,
                        pin_memory=device.type == "cuda")
    eval_every = t.eval_every or sampler.steps_per_epoch
    log = _open_log(run, resume) if run.is_main else None
    bar = tqdm(total=t.max_steps, initial=run.start_step, disable=not (progress and run.is_main), unit="step",
               dynamic_ncols=True)
    run.net.train()
    step = run.start_step
    tic, seen = time.perf_counter(), 0
    try:
        for batch in loader:
            loss, losses, n = _step(run, batch)
            step += 1
            seen += n * run.world
            bar.update(1)
            if run.is_main and (step % t.log_every == 0 or step == t.max_steps):
                _log_losses(run, log, bar, step, loss, losses, seen / (time.perf_counter() - tic))
                tic, seen = time.perf_counter(), 0
            if (step % eval_every == 0 or step == t.max_steps) and run.is_main and len(run.val_set):
                _validate_and_keep_best(run, log, bar, step)
            out_of_time = _agree(run, time.time() > deadline)
            if run.is_main and (step % t.checkpoint_every == 0 or step == stop or out_of_time):
                save_checkpoint(run.out / "last.pt", _checkpoint_state(run, step))
            if out_of_time:
                bar.write(f"time limit of {t.time_limit_min} min reached at step {step}; resume with --resume")
                break
    finally:
        bar.close()
        if log is not None:
            log.close()
    return step


def _step(run: _Run, batch: dict) -> tuple[torch.Tensor, dict, int]:
    """One optimiser step on ``batch``: (summed loss, the named losses, the batch's number of images)."""
    batch = _move(batch, run.device)
    images = batch["image"]
    if run.cfg.train.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    with torch.autocast(device_type=run.device.type, enabled=run.use_amp):
        losses = run.net(images, batch)
    loss = sum(losses.values())
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(loss).backward()
    run.scaler.step(run.optimizer)
    run.scaler.update()
    run.scheduler.step()
    return loss, losses, images.shape[0]


def _agree(run: _Run, out_of_time: bool) -> bool:
    """Whether any rank is out of time: every rank must agree to stop, or the others would hang in all-reduce."""
    if run.world == 1:
        return out_of_time
    flag = torch.tensor([float(out_of_time)], device=run.device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())


# -------------------------------------------------------------------------------------------- logging
def _open_log(run: _Run, resume: bool):
    """``metrics.jsonl`` opened for appending (the caller closes it). Resuming drops what the interrupted
    run logged after its last checkpoint (those steps run again); a fresh run starts it (and best.pt) anew."""
    run.out.mkdir(parents=True, exist_ok=True)
    log_path = run.out / "metrics.jsonl"
    if resume and log_path.exists():
        kept = [x for x in log_path.read_text().splitlines() if x.strip() and json.loads(x)["step"] <= run.start_step]
        log_path.write_text("".join(x + "\n" for x in kept))
    elif not resume:
        log_path.unlink(missing_ok=True)  # a fresh run never mixes with an earlier one's records
        (run.out / "best.pt").unlink(missing_ok=True)
    return open(log_path, "a")


def _write(log, record: dict) -> None:
    log.write(json.dumps(record) + "\n")
    log.flush()


def _log_losses(run: _Run, log, bar: tqdm, step: int, loss: torch.Tensor, losses: dict, rate: float) -> None:
    """One training record: the losses, the learning rate and the images per second since the last one."""
    record = {"step": step, "loss": loss.item(), **{k: v.item() for k, v in losses.items()},
              "lr": run.scheduler.get_last_lr()[0], "images_per_s": round(rate, 2), "time": time.time()}
    _write(log, record)
    bar.set_postfix(loss=f"{record['loss']:.5f}", img_s=f"{rate:.1f}")



def _validate_and_keep_best(run: _Run, log, bar: tqdm, step: int) -> None:
    """Validate by the config's ``data.kind`` (:data:`VALIDATIONS`), log it, and save ``best.pt`` when the
    score beats the best so far."""
    score, fields, message = VALIDATIONS[run.cfg.data.kind](run.model, run.val_set, run.codec, run.device,
                                                            run.cfg.train.channels_last)
    _write(log, {"step": step, **fields, "time": time.time()})
    bar.write(f"step {step}: validation {message}")
    if score > run.best:
        run.best = score
        save_checkpoint(run.out / "best.pt", _checkpoint_state(run, step))


# -------------------------------------------------------------------------------------- checkpointing
def _checkpoint_state(run: _Run, step: int) -> dict:
    """What ``last.pt`` / ``best.pt`` hold: everything an exact resume needs, plus provenance."""
    return {"model": run.model.state_dict(), "optimizer": run.optimizer.state_dict(),
            "scheduler": run.scheduler.state_dict(), "scaler": run.scaler.state_dict(), "rng": rng_state(),
            "step": step, "best_val": run.best, "config": to_dict(run.cfg), "git_revision": run.revision,
            "skeleton": run.cfg.model.skeleton}


def _finish(run: _Run) -> None:
    """After the loop: share rank 0's buffers, plot the learning curve, end the process group."""
    if run.world > 1:
        # Parameters are identical on every rank (DDP averages gradients); BatchNorm running statistics
        # are per rank, as in any DDP run. Give every rank rank 0's (the ones checkpointed).
        for buffer in run.model.buffers():
            dist.broadcast(buffer, src=0)
    if run.is_main:
        _plot_learning_curve(run.out)
    if run.world > 1:
        dist.barrier()
        dist.destroy_process_group()


def _plot_learning_curve(out: Path) -> None:
    from posekit.viz import plot_learning_curve

    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    if records:  # the validation metric the run logged: PCK (pose networks), box AP@.5 (detector), OKS-AP (bottom-up)
        metric = next((m for m in ("val_box_ap50", "val_oks_ap") if any(m in r for r in records)), "val_pck")
        plot_learning_curve(records, out / "learning_curve.png", metric_key=metric)
