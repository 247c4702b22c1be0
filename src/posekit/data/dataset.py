"""PoseDataset: the one torch Dataset of posekit (top-down: one item per annotated person).

An item is a person crop warped to ``output_size`` = (W, H) around the person's box (grown to the
output aspect and by ``padding``), randomly perturbed by a :class:`~posekit.data.transforms.TopDownAugment`
in training, plus the person's keypoints in output pixels and the targets of the codec's ``encode``.

Speed: decoding JPEGs dominates a naive loader. With ``cache=True`` every person's neighbourhood
(base region x ``cache_margin``) is decoded once and stored as a uint8 crop of ``cache_res`` pixels on
its longer side in one (N, Hc, Wc, 3) array, saved under ``cache_dir`` (keyed by a hash of the image
files' paths, sizes and modification times, the crop boxes and parameters) and memory-mapped on later
runs (:mod:`posekit.data.crop_cache`). Items are then warped from the cached crop with the composed
matrix (image -> cache -> output), which equals warping from the original image up to interpolation,
except that pixels beyond the cached neighbourhood come out black (choose ``cache_margin`` >=
``augment.max_extent()`` to lose none).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from posekit.data import crop_cache
from posekit.data.silhouette import body_mask
from posekit.data.transforms import (
    AffineParams,
    TopDownAugment,
    affine_matrix,
    box_to_center_scale,
    compose_affine,
    invert_affine,
    transform_keypoints,
    warp,
)
from posekit.image_io import decode_image
from posekit.preprocess import normalize_image
from posekit.skeletons import Skeleton
from posekit.types import Person, Sample, box_from_keypoints

__all__ = [
    "PoseDataset",
    "benchmark_dataset",
    "person_box",
    "read_image",
    "worker_init_fn",
]

log = logging.getLogger(__name__)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file to uint8 (H, W, 3) BGR, upright (EXIF orientation applied) -- the one decoder,
    :func:`posekit.image_io.decode_image`. Raises FileNotFoundError / IsADirectoryError for a bad path and
    :class:`~posekit.image_io.ImageError` (a ValueError) naming the file for data it will not decode."""
    return decode_image(path)


def worker_init_fn(worker_id: int) -> None:
    """DataLoader ``worker_init_fn`` for PoseDataset: limits torch to one thread per worker.

    It deliberately leaves OpenCV alone: ``cv2.setNumThreads`` in a forked worker deadlocks once the
    parent has used OpenCV's thread pool. To keep workers from oversubscribing a few cores, call
    ``cv2.setNumThreads(1)`` in the main process before creating the DataLoader. Augmentation seeding
    needs nothing here: PoseDataset reseeds itself from torch's per-worker seed."""
    torch.set_num_threads(1)


def person_box(person: Person, source: str = "keypoints") -> np.ndarray | None:
    """The box (x, y, w, h) a person is cropped by: ``source`` "keypoints" (tight box around the labelled
    joints; LSP's boxes are made that way) or "annotation" (``Person.box``), falling back to the other
    when degenerate (non-finite or under 2 px); None when both are."""

    def ok(b: np.ndarray) -> bool:
        return bool(np.isfinite(b).all() and max(b[2], b[3]) >= 2.0)

    kp_box = box_from_keypoints(person.keypoints)
    ann = np.asarray(person.box, dtype=np.float64).reshape(4) if person.box is not None else np.zeros(4)
    first, second = (kp_box, ann) if source == "keypoints" else (ann, kp_box)
    if ok(first):
        return first
    if ok(second):
        return second
    return None


def _apply_cut(crop: np.ndarray, kps: np.ndarray, M: np.ndarray, cut: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Blank (black, as beyond an image's edge at inference) the crop pixels whose image point p has
    cut[:2] . p > cut[2], and unlabel (v = 0) the joints there: a joint beyond a photo's edge is not
    annotated. ``crop`` (H, W, 3), ``kps`` (K, 3) in crop pixels, ``M`` the (2, 3) image -> crop matrix."""
    H, W = crop.shape[:2]
    A_inv = np.linalg.inv(M[:, :2])
    # the cut's half-plane in crop pixels: a . (A^-1 (q - t)) > c
    a = cut[:2] @ A_inv
    c = cut[2] + a @ M[:, 2]
    ys, xs = np.mgrid[0:H, 0:W]
    gone = a[0] * xs + a[1] * ys > c
    crop = crop.copy()
    crop[gone] = 0
    kps = kps.copy()
    kps[a[0] * kps[:, 0] + a[1] * kps[:, 1] > c, 2] = 0.0
    return crop, kps


class PoseDataset(Dataset):
    """Top-down person crops for training and evaluation.

    samples: records from :mod:`posekit.data.formats`; all must share one skeleton.
    output_size: (W, H) of the network input in pixels.
    encode: the codec's ``encode``: keypoints (K, 3) in output pixels -> dict of numpy arrays (e.g.
        ``HeatmapCodec(...).encode`` -> {"heatmaps": (K, h, w), "weights": (K,)}); None = no targets.
    augment: random perturbation for training; None = evaluation (deterministic, no randomness).
    padding: growth of the person box after matching the output aspect.
    min_joints: people with fewer labelled joints are skipped (crowd regions always are).
    box_source: "keypoints" (tight box around the labelled joints; LSP's boxes are made that way) or
        "annotation" (``Person.box``). A degenerate box falls back to the other source; people with
        neither are skipped (counted in ``num_skipped``).
    cache: use the decoded-crop cache (see module docstring). Built on first access in the main process,
        or explicitly with :meth:`build_cache` (do that before creating DataLoader workers).
    cache_dir: where the cache is saved / loaded; None keeps it in memory only.
    cache_margin: cached neighbourhood = base region size x this.
    cache_res: longer side of a cached crop in pixels (default 2 x max(output_size)).
    occlude_prob: in training, the chance that another person of the set is pasted over the crop
        (:meth:`_paste_occluder`); joints it hides stay labelled, as occluded (v = 1).

    Item (dict):
        "image": float32 tensor (3, H, W), RGB, ImageNet-normalised (:func:`~posekit.preprocess.normalize_image`).
        "keypoints": float32 tensor (K, 3), (x, y, v) in output pixels after augmentation; joints outside
            the crop or not labelled have v = 0 (and x = y = 0).
        every key of ``encode``'s result, as tensors.
        "matrix": float64 tensor (2, 3), image -> output pixels (invert with ``invert_affine`` to map
            predictions back to the original image).
        "flipped": bool, "index": item index, "sample_index", "person_index": where the person came from.
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        output_size: tuple[int, int],
        encode: Callable[[np.ndarray], dict[str, np.ndarray]] | None = None,
        augment: TopDownAugment | None = None,
        padding: float = 1.25,
        min_joints: int = 1,
        box_source: str = "keypoints",
        cache: bool = True,
        cache_dir: str | os.PathLike | None = None,
        cache_margin: float = 1.6,
        cache_res: int | None = None,
        occlude_prob: float = 0.0,
    ) -> None:
        if box_source not in ("keypoints", "annotation"):
            raise ValueError(f"box_source must be 'keypoints' or 'annotation', got {box_source!r}")
        if cache_margin < 1.0:
            raise ValueError(f"cache_margin must be >= 1, got {cache_margin}")
        self.samples = list(samples)
        self.output_size = (int(output_size[0]), int(output_size[1]))
        self.encode = encode
        self.augment = augment
        self.padding = float(padding)
        self.min_joints = int(min_joints)
        self.box_source = box_source
        self.cache = bool(cache)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.cache_margin = float(cache_margin)
        self.cache_res = int(cache_res) if cache_res else 2 * max(self.output_size)
        self.occlude_prob = float(occlude_prob)
        skeletons = {s.skeleton.name for s in self.samples}
        if len(skeletons) > 1:
            raise ValueError(f"samples mix skeletons {sorted(skeletons)}; map them to one first")
        self.skeleton: Skeleton | None = self.samples[0].skeleton if self.samples else None
        self._flip_index = self.skeleton.flip_index if self.skeleton is not None else None

        self.num_skipped = 0
        self.items, self.centers, self.sizes = self._select_people()

        # cache state
        self.cache_shape = crop_cache.cache_shape(self.output_size, self.cache_res)  # (Hc, Wc)
        self._crops: np.ndarray | None = None  # (N, Hc, Wc, 3) uint8
        self._cache_mats: np.ndarray | None = None  # (N, 2, 3) image -> cache
        self._lazy: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.cache_path: Path | None = None
        self._seeded_worker: int | None = None
        if self.cache and self.cache_dir is not None and len(self.items) > 0:
            self._try_load_cache()

    def _select_people(self) -> tuple[list[tuple[int, int]], np.ndarray, np.ndarray]:
        """(items as (sample, person) indices, crop centres (N, 2), crop sizes (N, 2)) of the people an item
        is made of: not crowd, at least ``min_joints`` labelled, with a usable box (the others counted in
        ``num_skipped``)."""
        W, H = self.output_size
        aspect = W / H
        items, centers, sizes = [], [], []
        for si, sample in enumerate(self.samples):
            for pi, person in enumerate(sample.people):
                if person.is_crowd or person.num_labelled < self.min_joints:
                    continue
                box = person_box(person, self.box_source)
                if box is None:
                    self.num_skipped += 1
                    continue
                c, s = box_to_center_scale(box, aspect, self.padding)
                items.append((si, pi))
                centers.append(c)
                sizes.append(s)
        return (items, np.array(centers, dtype=np.float64).reshape(-1, 2),
                np.array(sizes, dtype=np.float64).reshape(-1, 2))

    # ------------------------------------------------------------------ items
    def __len__(self) -> int:
        return len(self.items)

    def person(self, index: int):
        """(Sample, Person) of an item."""
        si, pi = self.items[index]
        return self.samples[si], self.samples[si].people[pi]

    def base_params(self, index: int) -> AffineParams:
        """The un-augmented crop region of an item (what evaluation uses)."""
        return AffineParams(self.centers[index].copy(), self.sizes[index].copy())

    # ------------------------------------------------------------------ cache
    def _cache_matrix(self, index: int) -> np.ndarray:
        Hc, Wc = self.cache_shape
        return affine_matrix(self.centers[index], self.sizes[index] * self.cache_margin, (Wc, Hc))

    def cache_key(self) -> str:
        """Hash of everything the cached crops depend on (:func:`~posekit.data.crop_cache.cache_key`): the
        crop geometry, and each image file's path, size and modification time, so an edited photo is never
        served stale."""
        geometry = (self.output_size, self.padding, self.cache_margin, self.cache_res, self.cache_shape)
        return crop_cache.cache_key(geometry, [s.image_path for s in self.samples], self.items, self.centers,
                                    self.sizes)

    def _cache_files(self) -> tuple[Path, Path]:
        assert self.cache_dir is not None
        return crop_cache.cache_files(self.cache_dir, self.cache_key())

    def _try_load_cache(self) -> bool:
        crops_path, meta_path = self._cache_files()
        loaded = crop_cache.load_cache(crops_path, meta_path, len(self.items), self.cache_shape)
        if loaded is None:
            return False
        (self._crops, self._cache_mats), self.cache_path = loaded, crops_path
        return True

    def __getstate__(self) -> dict:
        # Spawned DataLoader workers / DDP pickle the dataset: send the cache's file name, not its bytes.
        state = self.__dict__.copy()
        if self.cache_path is not None:
            state["_crops"] = None
            state["_cache_mats"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if self.cache_path is not None and self._crops is None and not self._try_load_cache():
            raise OSError(f"crop cache {self.cache_path} disappeared or changed; rebuild it")

    @property
    def cache_ready(self) -> bool:
        return self._crops is not None

    def _crop_one(self, image: np.ndarray, index: int) -> tuple[np.ndarray, np.ndarray]:
        Hc, Wc = self.cache_shape
        A = self._cache_matrix(index)
        return warp(image, A, (Wc, Hc), antialias=True), A

    def _crop_people(self, si: int, indices: list[int], out: np.ndarray, mats: np.ndarray) -> None:
        image = read_image(self.samples[si].image_path)  # decoded once for all its people
        for i in indices:
            out[i], mats[i] = self._crop_one(image, i)

    def build_cache(self, num_workers: int | None = None, progress: bool = True) -> None:
        """Decode every image once and store each person's neighbourhood (see class docstring).

        num_workers: decoding threads (OpenCV releases the GIL); default ``os.cpu_count()``.
        Saves to ``cache_dir`` when set (written to a temporary name, then renamed) and memory-maps it.
        Memory / disk: N x Hc x Wc x 3 bytes (e.g. 11,000 people at 256 x 256: 2.2 GB).
        """
        if self._crops is not None or len(self.items) == 0:
            return
        if self.cache_dir is not None and self._try_load_cache():
            return
        files = self._cache_files() if self.cache_dir is not None else None
        built = crop_cache.build_cache(self._crop_people, self.items, self.cache_shape, files, num_workers, progress)
        if built is not None:
            self._crops, self._cache_mats = built
        elif not self._try_load_cache():
            raise OSError(f"could not read back the crop cache just written to {files[0]}")

    def _cached(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(crop uint8 (Hc, Wc, 3), image -> cache matrix) of an item, building the cache if needed."""
        if self._crops is None:
            if torch.utils.data.get_worker_info() is None:
                self.build_cache()
            else:
                # Inside a worker the cache would be rebuilt per worker; fill it item by item instead.
                if index not in self._lazy:
                    if not self._lazy:
                        log.warning("PoseDataset: crop cache not built before starting DataLoader workers; "
                                    "call build_cache() first to decode each image once")
                    si, _ = self.items[index]
                    self._lazy[index] = self._crop_one(read_image(self.samples[si].image_path), index)
                return self._lazy[index]
        assert self._crops is not None and self._cache_mats is not None
        return self._crops[index], self._cache_mats[index]

    # ------------------------------------------------------------------ items
    def _maybe_reseed(self) -> None:
        info = torch.utils.data.get_worker_info()
        if info is not None and self._seeded_worker != info.seed and self.augment is not None:
            self.augment.reseed(info.seed % (2**63))
            self._seeded_worker = info.seed

    def load_crop(
        self, index: int, params: AffineParams, use_cache: bool | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Warp one item with ``params``: returns (uint8 (H, W, 3) BGR crop, image -> output matrix)."""
        M = params.matrix(self.output_size)
        if self.cache if use_cache is None else use_cache:
            crop, A = self._cached(index)
            to_out = compose_affine(M, invert_affine(A))  # cache -> image -> output
            # No antialiasing here: the cache holds >= 0.64 output pixels' worth per cache pixel at the
            # default cache_res and scale <= 1.25, where bilinear sampling barely aliases (and a per-item
            # INTER_AREA resize of the crop would cost more than everything else together).
            crop = warp(np.asarray(crop), to_out, self.output_size)
        else:
            si, _ = self.items[index]
            crop = warp(read_image(self.samples[si].image_path), M, self.output_size, antialias=True)
        return crop, M

    def _paste_occluder(self, crop: np.ndarray, index: int, rng: np.random.Generator
                        ) -> tuple[np.ndarray, np.ndarray]:
        """Paste another training person (cut out with :func:`posekit.data.silhouette.body_mask`) over the crop,
        beside or across the centre, at 0.65-1.25x the crop person's scale: the other people of users'
        photos. Returns (new crop, the occluder's mask (H, W) in [0, 1])."""
        j = int(rng.integers(len(self) - 1))
        j += j >= index
        W, H = self.output_size
        base = self.base_params(j)
        size = base.size * rng.uniform(0.8, 1.55)
        dx = rng.choice([-1.0, 1.0]) * rng.uniform(0.15, 0.5) * W
        dy = rng.uniform(-0.15, 0.25) * H
        center = base.center - np.array([dx * size[0] / W, dy * size[1] / H])
        other, Mj = self.load_crop(j, AffineParams(center, size, 0.0, bool(rng.random() < 0.5)))
        kp = transform_keypoints(self.person(j)[1].keypoints, Mj)
        mask = body_mask(kp, self.skeleton, (H, W))[..., None]
        out = crop.astype(np.float32) * (1 - mask) + other.astype(np.float32) * mask
        return np.clip(np.rint(out), 0, 255).astype(np.uint8), mask[..., 0]

    def __getitem__(self, index: int) -> dict:
        self._maybe_reseed()
        return self.get(index)

    def get(self, index: int, rng: np.random.Generator | None = None) -> dict:
        """Item ``index`` augmented with draws from ``rng`` (default: the augmenter's generator). The
        trainer passes a generator seeded per (seed, epoch, position), which makes the stream of
        training items reproducible and resumable whatever the number of workers."""
        if index < 0:
            index += len(self)
        params = self.base_params(index)
        cut = None
        if self.augment is not None:
            keypoints = self.person(index)[1].keypoints
            half = self.augment.half_body(keypoints, self.skeleton.joints, self.padding, rng)
            if half is not None:
                params = AffineParams(*half)
            else:
                border = self.augment.border_cut(keypoints, self.padding, rng)
                if border is not None:
                    params, cut = AffineParams(*border[:2]), border[2]
            params = self.augment.sample(params.center, params.size, rng)
        crop, M = self.load_crop(index, params)
        _, person = self.person(index)
        kps = transform_keypoints(person.keypoints, M, self._flip_index if params.flip else None,
                                  self.output_size)
        if cut is not None:
            crop, kps = _apply_cut(crop, kps, M, cut)
        if self.augment is not None:
            if self.occlude_prob > 0 and len(self) > 1:
                r = self.augment.rng if rng is None else rng
                if r.random() < self.occlude_prob:
                    crop, covered = self._paste_occluder(crop, index, r)
                    kps[(covered[np.clip(np.rint(kps[:, 1]).astype(int), 0, crop.shape[0] - 1),
                                 np.clip(np.rint(kps[:, 0]).astype(int), 0, crop.shape[1] - 1)] > 0.5)
                        & (kps[:, 2] > 0), 2] = 1.0  # hidden behind the occluder: occluded, label kept
            crop = self.augment.photometric(crop, rng)
        item = {
            "image": normalize_image(crop),
            "keypoints": torch.from_numpy(kps.astype(np.float32)),
            "matrix": torch.from_numpy(M),
            "flipped": params.flip,
            "index": index,
            "sample_index": self.items[index][0],
            "person_index": self.items[index][1],
        }
        if self.encode is not None:
            for k, v in self.encode(kps).items():
                if k in item:
                    raise KeyError(f"encode returned key {k!r}, which PoseDataset already uses")
                item[k] = torch.as_tensor(v)
        return item


def benchmark_dataset(dataset: Dataset, n: int = 200, warmup: int = 5) -> float:
    """Items per second of ``dataset[i]`` in this process (one core; cache built before timing)."""
    if len(dataset) == 0:
        raise ValueError("empty dataset")
    for i in range(min(warmup, len(dataset))):
        dataset[i]
    t0 = time.perf_counter()
    for i in range(n):
        dataset[i % len(dataset)]
    return n / (time.perf_counter() - t0)
