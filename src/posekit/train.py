"""The one training loop: every method in posekit trains here.

A model in training mode takes ``(images, targets)`` and returns a dict of named losses; the loop
sums them. Runs unchanged on CPU, on a CUDA GPU (AMP there only) and on several processes or machines
under ``torchrun`` (PyTorch DDP, NCCL on CUDA, gloo on CPU).

Determinism and exact resume: the stream of training items is a pure function of (seed, step): the
item order of each epoch is a seeded permutation and each item's augmentation draws from its own
generator seeded by (seed, epoch, position). A resumed run therefore sees exactly the batches the
uninterrupted run would have seen, whatever the number of data workers.
"""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Sampler
from tqdm import tqdm

import posekit.metrics as metrics
from posekit.checkpoint import load_weights, safe_load
from posekit.coco_eval import box_ap, oks_ap_people
from posekit.codecs.heatmap import HeatmapCodec
from posekit.config import (
    Config,
    ConfigError,
    SourceConfig,
    build_codec,
    build_model,
    resolve_cache_dir,
    resolve_data_root,
    to_dict,
)
from posekit.data import convert_samples, load
from posekit.data.bottomup import BottomUpDataset
from posekit.data.compose import SceneComposer, read_backgrounds
from posekit.data.dataset import PoseDataset
from posekit.data.detection import DetectionDataset
from posekit.data.transforms import TopDownAugment, apply_affine, invert_affine
from posekit.predict.flip import predict_crops
from posekit.skeletons import get_skeleton
from posekit.types import Sample
from posekit.zoo import pinned


# ----------------------------------------------------------------------------------------------- data
def data_path(cfg: Config, path: str) -> Path:
    """A data path of the config: taken as it is when it starts with ``~`` or ``/``, else relative to
    ``data.root``."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else resolve_data_root(cfg.data.root) / path


def load_each_source(cfg: Config, sources: tuple[SourceConfig, ...] | None = None
                     ) -> list[tuple[SourceConfig, list[Sample]]]:
    """Each source of ``sources`` (default ``cfg.data.train``) with its samples (``data.limit`` applied),
    in the model's skeleton (other skeletons mapped by joint name); paths resolved by :func:`data_path`."""
    skeleton = get_skeleton(cfg.model.skeleton)
    out = []
    for src in cfg.data.train if sources is None else sources:
        loaded = convert_samples(load(src.format, data_path(cfg, src.path), split=src.split), skeleton)
        out.append((src, loaded[: cfg.data.limit] if cfg.data.limit else loaded))
    return out


def load_sources(cfg: Config) -> list[Sample]:
    """All training samples of ``cfg.data.train``, in config order."""
    return [s for _, samples in load_each_source(cfg) for s in samples]


def oversample(samples: list[Sample], each: list[tuple[SourceConfig, list[Sample]]]) -> list[Sample]:
    """``samples`` (training samples, after the validation split) with each one repeated its source's
    ``repeat`` times, so a small source is seen more often without any held-out image being trained on."""
    times = {id(s): src.repeat for src, ss in each for s in ss}
    return [s for s in samples for _ in range(times.get(id(s), 1))]


def split_sources(cfg: Config, each: list[tuple[SourceConfig, list[Sample]]]) -> tuple[list[Sample], list[Sample]]:
    """(training samples, each repeated its source's ``repeat`` times; held-out samples) of the sources
    ``each`` (:func:`load_each_source`), split by :func:`split_train_val` over all sources together."""
    train, val = split_train_val([s for _, ss in each for s in ss], cfg.data.val_fraction, cfg.data.val_seed)
    return oversample(train, each), val


def split_train_val(samples: list[Sample], fraction: float, seed: int) -> tuple[list[Sample], list[Sample]]:
    """Hold out ``fraction`` of the *images* for validation, drawn with ``seed`` (``data.val_seed``, not
    the training seed, so runs repeated with another training seed are validated on the same images).
    LSP test images are never in ``samples``, so they are never used here."""
    if fraction <= 0:
        return samples, []
    order = np.random.default_rng(seed + 7919).permutation(len(samples))
    n_val = max(1, int(round(fraction * len(samples))))
    val_idx = set(order[:n_val].tolist())
    train = [s for i, s in enumerate(samples) if i not in val_idx]
    val = [s for i, s in enumerate(samples) if i in val_idx]
    return train, val


class StepSampler(Sampler):
    """Yields ``(item_index, (seed, epoch, position))`` for global steps ``start_step .. max_steps-1`` of one rank.

    Epoch e visits a permutation of the items drawn from (seed, e); global batch b of the epoch takes
    positions [b*B*W, (b+1)*B*W) and rank r the r-th slice of B. Incomplete trailing batches are dropped.
    """

    def __init__(self, num_items: int, batch_size: int, seed: int, start_step: int, max_steps: int,
                 rank: int = 0, world_size: int = 1) -> None:
        self.n, self.b, self.seed = num_items, batch_size, seed
        self.start, self.stop, self.rank, self.world = start_step, max_steps, rank, world_size
        self.steps_per_epoch = num_items // (batch_size * world_size)
        if self.steps_per_epoch == 0:
            raise ValueError(f"{num_items} training items cannot fill one batch of {batch_size} x {world_size}")

    def __len__(self) -> int:
        return max(0, self.stop - self.start) * self.b

    def __iter__(self) -> Iterator[tuple[int, tuple[int, int, int]]]:
        perm, perm_epoch = None, -1
        for step in range(self.start, self.stop):
            epoch, b = divmod(step, self.steps_per_epoch)
            if epoch != perm_epoch:
                perm, perm_epoch = np.random.default_rng([self.seed, epoch]).permutation(self.n), epoch
            first = (b * self.world + self.rank) * self.b
            for pos in range(first, first + self.b):
                yield int(perm[pos]), (self.seed, epoch, pos)


class _SeededItems(torch.utils.data.Dataset):
    """Adapter: item key ``(index, seed)`` -> the dataset's item augmented with ``default_rng(seed)``
    (``seed`` a sequence of ints: NumPy hashes it, so distinct keys never share a stream)."""

    def __init__(self, dataset: PoseDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, tuple[int, ...]]) -> dict:
        index, seed = key
        return self.dataset.get(index, np.random.default_rng(seed))


# --------------------------------------------------------------------------------------------- builders
def make_dataset(cfg: Config, samples: list[Sample], codec: HeatmapCodec, train: bool) -> PoseDataset:
    """The PoseDataset a config trains (``train=True``: augmented) or validates on; cache not built yet."""
    d = cfg.data
    size = tuple(cfg.codec.input_size)
    common = dict(output_size=size, encode=codec.encode, padding=d.padding, cache_dir=resolve_cache_dir(d.cache_dir),
                  cache=d.cache)
    if not train:
        return PoseDataset(samples, augment=None, **common)
    jitter = 0.2 if d.photometric else 0.0
    augment = TopDownAugment(output_size=size, scale_range=tuple(d.scale_range), rotation_deg=d.rotation_deg,
                             flip_prob=d.flip_prob, translate_frac=d.translate_frac, brightness=jitter,
                             contrast=jitter, saturation=jitter, half_body_prob=d.half_body_prob,
                             border_cut_prob=d.border_cut_prob)
    # The cached neighbourhood covers the farthest an augmented crop can reach (no black corners), at a
    # resolution where even the most zoomed-in crop is never upsampled from the cache.
    margin = max(1.0, augment.max_extent())
    cache_res = int(math.ceil(max(size) * margin / min(1.0, d.scale_range[0])))
    return PoseDataset(samples, augment=augment, cache_margin=margin, cache_res=cache_res,
                       occlude_prob=d.occlude_prob, **common)


def build_detection_datasets(cfg: Config, codec) -> tuple[DetectionDataset, DetectionDataset]:
    """Detector training set (the training sources' images -- COCO-format sources with their annotated
    boxes, the others with keypoint-extent boxes, MPII photos as partially annotated -- plus
    ``data.num_scenes`` composed scenes of their people on ``data.backgrounds``) and validation set (the
    held-out images, as many composed scenes of held-out people per 10 held-out images, and every
    ``data.val`` source).

    ``data.kind: bottomup`` builds :class:`BottomUpDataset` s over the same items (PAF targets and loss
    masks), except that its validation set keeps only the fully annotated ones -- the composed scenes of
    held-out people and the COCO-format sources -- since OKS-AP on a photo with unannotated people would
    count every one of them found as a false positive."""
    bottomup = cfg.data.kind == "bottomup"
    dataset = BottomUpDataset if bottomup else DetectionDataset
    d = cfg.data
    each = load_each_source(cfg)
    # COCO-format sets annotate every person's box; the others get keypoint-extent boxes
    annotated_ids = {id(s) for src, samples in each if src.format == "coco" for s in samples}
    # MPII annotates one or two people of many crowded photos: negatives only around them
    partial_ids = {id(s) for src, samples in each if src.format == "mpii" for s in samples}
    train_samples, val_samples = split_sources(cfg, each)
    composer = val_composer = None
    if d.backgrounds:
        backgrounds = read_backgrounds(data_path(cfg, d.backgrounds))
        # every 5th background is kept for validation scenes: no background is seen in both
        train_bg = [b for i, b in enumerate(backgrounds) if i % 5]
        val_bg = [b for i, b in enumerate(backgrounds) if i % 5 == 0]
        # (every sample is already in the model's skeleton: load_each_source maps them)
        composer = SceneComposer(train_samples, train_bg)
        if val_samples:
            val_composer = SceneComposer(val_samples, val_bg)

    def split(samples: list[Sample]) -> tuple[list[Sample], list[Sample], list[Sample]]:
        """(annotated, keypoint-only, partially annotated) samples."""
        return ([s for s in samples if id(s) in annotated_ids],
                [s for s in samples if id(s) not in annotated_ids and id(s) not in partial_ids],
                [s for s in samples if id(s) in partial_ids])

    ann, kp, part = split(train_samples)
    train_set = dataset(codec, ann, kp, composer=composer, num_scenes=d.num_scenes, partial=part)
    val_extra = [s for _, ss in load_each_source(cfg, d.val) for s in ss]  # validation-only sets: COCO format
    val_ann, val_kp, val_part = split(val_samples)
    if bottomup:
        val_kp, val_part = [], []
    val_set = dataset(codec, val_ann + val_extra, val_kp, composer=val_composer,
                      num_scenes=max(1, len(val_samples) // 10) if val_composer else 0, augment=False,
                      partial=val_part)
    return train_set, val_set


def _cache_allowed(ds: PoseDataset, cfg: Config, announce: bool) -> bool:
    """Say how big the crop cache will be and where before writing it; over ``data.cache_max_gb`` the
    dataset decodes each item from its image instead (slower, no disk or memory cost)."""
    hc, wc = ds.cache_shape
    gb = len(ds) * hc * wc * 3 / 1e9
    where = ds.cache_dir if ds.cache_dir is not None else "memory"
    if gb > cfg.data.cache_max_gb:
        print(f"posekit: not caching {len(ds)} person crops: {gb:.1f} GB would exceed data.cache_max_gb="
              f"{cfg.data.cache_max_gb:g}; decoding each item from its image instead", flush=True)
        ds.cache = False
        return False
    if announce:
        print(f"posekit: caching {len(ds)} person crops ({gb:.1f} GB, {hc}x{wc} px each) in {where} "
              "(data.cache_dir moves it, data.cache=false turns it off, data.cache_max_gb bounds it)", flush=True)
    return True


def build_datasets(cfg: Config, codec: HeatmapCodec, progress: bool = True) -> tuple[PoseDataset, PoseDataset]:
    """Training (augmented) and validation (plain) datasets from the config's sources, crop caches
    built (decoded once, saved under ``data.cache_dir``)."""
    if cfg.data.kind in ("detection", "bottomup"):
        return build_detection_datasets(cfg, codec)
    train_samples, val_samples = split_sources(cfg, load_each_source(cfg))
    train_set = make_dataset(cfg, train_samples, codec, train=True)
    val_set = make_dataset(cfg, val_samples, codec, train=False)
    # Under DDP rank 0 writes the cache files first; the other ranks then load them.
    distributed = dist.is_available() and dist.is_initialized()
    for ds in (train_set, val_set):
        if distributed and dist.get_rank() != 0:
            dist.barrier()
        if len(ds) and ds.cache and _cache_allowed(ds, cfg, progress):
            ds.build_cache(progress=progress)
        if distributed and dist.get_rank() == 0:
            dist.barrier()
    return train_set, val_set


# ------------------------------------------------------------------------------------------ evaluation
@torch.no_grad()
def validate(model: torch.nn.Module, dataset: PoseDataset, codec: HeatmapCodec, device: torch.device,
             batch_size: int = 64, channels_last: bool = False) -> dict:
    """PCK@0.2 (torso-normalised, PROTOCOLS.md LSP) of ``model`` on ``dataset``'s ground-truth crops,
    scored in original image pixels. Returns {"pck@0.2": percent, "num_people": n}."""
    if len(dataset) == 0:
        return {}
    was_training = model.training
    model.eval()
    preds, gts = [], []
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0)
    for batch in loader:
        images = batch["image"].to(device)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        kps = predict_crops(model, images, codec)  # (N, K, 3) in crop pixels
        for k, m, index in zip(kps, batch["matrix"].numpy(), batch["index"].tolist()):
            xy = apply_affine(k[:, :2], invert_affine(m))
            preds.append(np.concatenate([xy, k[:, 2:]], axis=1))
            gts.append(dataset.person(index)[1].keypoints)
    model.train(was_training)
    pred, gt = np.stack(preds), np.stack(gts)
    skeleton = dataset.skeleton
    result = metrics.pck(pred, gt, metrics.torso_size(gt, skeleton), alpha=0.2)
    return {"pck@0.2": 100.0 * float(result["mean"]), "num_people": len(gts)}


def _eval_outputs(model: torch.nn.Module, dataset, device: torch.device, batch_size: int, channels_last: bool
                  ) -> Iterator[tuple[list[int], dict]]:
    """(dataset indices, the model's eval-mode outputs) batch by batch over a whole-image validation set
    (``dataset`` items carry "image" and "index"); the model's training mode is restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=0):
            x = batch["image"].to(device)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield batch["index"].tolist(), model(x)
    finally:
        model.train(was_training)


@torch.no_grad()
def validate_detection(model: torch.nn.Module, dataset: DetectionDataset, device: torch.device,
                       batch_size: int = 16, channels_last: bool = False) -> dict:
    """Box AP of the detector on ``dataset``'s letterboxed validation images (PROTOCOLS.md "Person
    detection", in input pixels). Returns {"box_ap": %, "box_ap50": %, "num_images": n}."""
    codec = dataset.codec
    images, annotations, detections = [], [], []
    for indices, out in _eval_outputs(model, dataset, device, batch_size, channels_last):
        out = {k: v.cpu().numpy() for k, v in out.items()}
        for j, index in enumerate(indices):
            boxes, scores = codec.decode(out["centers"][j, 0], out["sizes"][j], out["offsets"][j], threshold=0.01)
            images.append({"id": index})
            people, ignore = dataset.boxes(index)
            for crowd, group in ((0, people), (1, ignore)):
                for b in group:
                    annotations.append({"id": len(annotations) + 1, "image_id": index, "category_id": 1,
                                        "bbox": b.tolist(), "area": float(b[2] * b[3]), "iscrowd": crowd})
            detections += [{"image_id": index, "category_id": 1, "bbox": b.tolist(), "score": float(s)}
                           for b, s in zip(boxes, scores)]
    result = box_ap({"images": images, "annotations": annotations, "categories": [{"id": 1}]}, detections)
    return {"box_ap": 100 * result["AP"], "box_ap50": 100 * result["AP50"], "num_images": len(images)}


@torch.no_grad()
def validate_bottomup(model: torch.nn.Module, dataset: BottomUpDataset, device: torch.device,
                      batch_size: int = 16, channels_last: bool = False) -> dict:
    """OKS-AP (PROTOCOLS.md "Multi-person": the skeleton's own sigmas; area as
    :meth:`BottomUpDataset.ground_truth` gives it) of a bottom-up model on ``dataset``'s letterboxed
    validation images, in input pixels, decoded by the dataset's PAF codec (no flip test). Returns
    {"oks_ap": %, "oks_ap50": %, "num_images": n}."""
    codec = dataset.codec
    ground_truth, found = [], []
    for indices, out in _eval_outputs(model, dataset, device, batch_size, channels_last):
        n, _, h, w = out["heatmaps"].shape
        found += codec.decode_scored(out["heatmaps"].float().cpu().numpy(),
                                     out["pafs"].float().reshape(n, -1, 2, h, w).cpu().numpy())
        ground_truth += [dataset.ground_truth(index) for index in indices]
    result = oks_ap_people(ground_truth, found, sigmas=np.asarray(dataset.skeleton.oks_sigmas))
    return {"oks_ap": 100 * max(result["AP"], 0.0), "oks_ap50": 100 * max(result["AP50"], 0.0),
            "num_images": len(ground_truth)}


# -------------------------------------------------------------------------------------------- helpers
#: config keys a resumed run may change: they decide when and where work happens, not what is computed
RESUME_SAFE_KEYS = frozenset({
    "train.time_limit_min", "train.stop_after", "train.log_every", "train.checkpoint_every", "train.eval_every",
    "train.threads", "train.device", "data.num_workers", "data.cache", "data.cache_dir", "data.cache_max_gb",
    "data.root", "predict",
})


def changed_keys(stored: dict, current: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two config dicts, leaving out :data:`RESUME_SAFE_KEYS`."""
    out = []
    for key in sorted(set(stored) | set(current)):
        name = f"{prefix}{key}"
        if name in RESUME_SAFE_KEYS:
            continue
        a, b = stored.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += changed_keys(a, b, name + ".")
        elif a != b and not (a is None and key not in stored):
            out.append(f"{name} ({a!r} -> {b!r})")
    return out


def git_revision() -> str:
    try:
        return subprocess.check_output(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                                       stderr=subprocess.DEVNULL, text=True).strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def save_checkpoint(path: Path, state: dict) -> None:
    """Write atomically: a crash mid-write leaves the previous checkpoint intact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _lr_lambda(warmup: int, total: int):
    """Linear warm-up then cosine decay to 1 % of the base rate."""

    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        t = (step - warmup) / max(1, total - warmup)
        return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

    return f


def _rng_state() -> dict:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


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
        load_weights(model, pinned(cfg.model.init_weights, cfg.model.init_sha256), partial=True)
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
    _set_rng_state(state["rng"])
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
    loader = DataLoader(_SeededItems(run.train_set), batch_size=t.batch_size, sampler=sampler,
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


# ----------------------------------------------------------------------------------------- validation
def _score_topdown(run: _Run) -> tuple[float, dict, str]:
    val = validate(run.model, run.val_set, run.codec, run.device, channels_last=run.cfg.train.channels_last)
    score = val["pck@0.2"]
    return score, {"val_pck": score}, f"PCK@0.2 {score:.2f} ({val['num_people']} people)"


def _score_detection(run: _Run) -> tuple[float, dict, str]:
    val = validate_detection(run.model, run.val_set, run.device, channels_last=run.cfg.train.channels_last)
    score = val["box_ap50"]
    return (score, {"val_box_ap50": score, "val_box_ap": val["box_ap"]},
            f"box AP@.5 {score:.2f}, AP {val['box_ap']:.2f} ({val['num_images']} images)")


def _score_bottomup(run: _Run) -> tuple[float, dict, str]:
    val = validate_bottomup(run.model, run.val_set, run.device, channels_last=run.cfg.train.channels_last)
    score = val["oks_ap"]
    return (score, {"val_oks_ap": score, "val_oks_ap50": val["oks_ap50"]},
            f"OKS-AP {score:.2f}, AP@.5 {val['oks_ap50']:.2f} ({val['num_images']} images)")


#: ``data.kind`` -> the validation of that kind of model: (the score best.pt keeps the best of, the
#: metrics.jsonl fields, a line for the progress bar)
VALIDATIONS = {"topdown": _score_topdown, "detection": _score_detection, "bottomup": _score_bottomup}


def _validate_and_keep_best(run: _Run, log, bar: tqdm, step: int) -> None:
    """Validate by the config's ``data.kind`` (:data:`VALIDATIONS`), log it, and save ``best.pt`` when the
    score beats the best so far."""
    score, fields, message = VALIDATIONS[run.cfg.data.kind](run)
    _write(log, {"step": step, **fields, "time": time.time()})
    bar.write(f"step {step}: validation {message}")
    if score > run.best:
        run.best = score
        save_checkpoint(run.out / "best.pt", _checkpoint_state(run, step))


# -------------------------------------------------------------------------------------- checkpointing
def _checkpoint_state(run: _Run, step: int) -> dict:
    """What ``last.pt`` / ``best.pt`` hold: everything an exact resume needs, plus provenance."""
    return {"model": run.model.state_dict(), "optimizer": run.optimizer.state_dict(),
            "scheduler": run.scheduler.state_dict(), "scaler": run.scaler.state_dict(), "rng": _rng_state(),
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
