"""The data a training run is fed: the config's sources loaded and split into training and held-out
images, the datasets built from them (person crops with their crop cache, or whole images for the detector
and bottom-up networks), and the deterministic stream of training items.

The stream is a pure function of (seed, step): :class:`StepSampler` draws each epoch's item order as a
seeded permutation and :class:`SeededItems` augments each item with its own generator seeded by (seed,
epoch, position), so a resumed run sees exactly the batches the uninterrupted run would have seen.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Sampler

from posekit.codecs.heatmap import HeatmapCodec
from posekit.config import Config, SourceConfig, resolve_cache_dir, resolve_data_root
from posekit.data import convert_samples, load
from posekit.data.bottomup import BottomUpDataset
from posekit.data.compose import SceneComposer, read_backgrounds
from posekit.data.dataset import PoseDataset
from posekit.data.detection import DetectionDataset
from posekit.data.transforms import TopDownAugment
from posekit.skeletons import get_skeleton
from posekit.types import Sample


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


class SeededItems(torch.utils.data.Dataset):
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
