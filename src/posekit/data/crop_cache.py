"""The decoded-crop cache of :class:`~posekit.data.dataset.PoseDataset`: every person's neighbourhood
decoded once and stored as a uint8 crop in one (N, Hc, Wc, 3) array, with the (N, 2, 3) image -> cache
matrices beside it.

Files: ``posekit_crops_<key>.npy`` (the crops, memory-mapped when read) and ``posekit_crops_<key>_meta.npz``
(the matrices) under the dataset's ``cache_dir``. The key (:func:`cache_key`) hashes everything the crops
depend on: the crop geometry and each image file's path, size and modification time (:func:`file_stamp`),
so an edited photo is never served stale. A build writes to a temporary name and renames it, so a crash
leaves no half-written cache behind.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

CACHE_VERSION = 1

#: ``crop_people(sample_index, item_indices, crops, matrices)``: decode one image and fill the rows of its people
CropPeople = Callable[[int, list[int], np.ndarray, np.ndarray], None]


def cache_shape(output_size: tuple[int, int], cache_res: int) -> tuple[int, int]:
    """(Hc, Wc) of a cached crop: the output's aspect, ``cache_res`` pixels on the longer side."""
    W, H = output_size
    if W >= H:
        return (max(1, round(cache_res * H / W)), cache_res)
    return (cache_res, max(1, round(cache_res * W / H)))


def file_stamp(path: str | os.PathLike) -> bytes:
    """An image file's size and modification time (ns) as cache-key bytes: cheap (one ``stat``, the
    content is not read) and changed by any rewrite of the file. A missing file stamps as such (its
    error comes when it is decoded)."""
    try:
        st = os.stat(path)
    except OSError:
        return b"missing"
    return f"{st.st_size}:{st.st_mtime_ns}".encode()


def cache_key(geometry: tuple, image_paths: Sequence, items: Sequence[tuple[int, int]], centers: np.ndarray,
              sizes: np.ndarray) -> str:
    """Hash of everything the cached crops depend on: ``geometry`` (output size, padding, cache margin,
    cache resolution, cache shape), and for each item its image file's path and :func:`file_stamp` and its
    crop centre and size. ``image_paths[si]`` is sample ``si``'s image; ``items`` are (sample, person)."""
    h = hashlib.sha1()
    h.update(repr((CACHE_VERSION, *geometry)).encode())
    stamps: dict[int, bytes] = {}
    for (si, _), c, s in zip(items, centers, sizes, strict=True):
        if si not in stamps:
            stamps[si] = file_stamp(image_paths[si])
        h.update(str(image_paths[si]).encode())
        h.update(stamps[si])
        h.update(np.round(c, 4).tobytes())
        h.update(np.round(s, 4).tobytes())
    return h.hexdigest()[:20]


def cache_files(cache_dir: Path, key: str) -> tuple[Path, Path]:
    """(crops ``.npy``, matrices ``_meta.npz``) of the cache with ``key`` in ``cache_dir``."""
    stem = f"posekit_crops_{key}"
    return cache_dir / f"{stem}.npy", cache_dir / f"{stem}_meta.npz"


def load_cache(crops_path: Path, meta_path: Path, n: int, shape: tuple[int, int]
               ) -> tuple[np.ndarray, np.ndarray] | None:
    """(crops memory-mapped (n, Hc, Wc, 3), matrices (n, 2, 3)) of a cache on disk; None (with a warning
    when the files exist) if they are missing, unreadable or of another shape."""
    if not (crops_path.is_file() and meta_path.is_file()):
        return None
    try:
        crops = np.load(crops_path, mmap_mode="r")
        with np.load(meta_path) as meta:
            mats = meta["matrices"]
    except (OSError, ValueError) as e:
        log.warning("ignoring unreadable crop cache %s: %s", crops_path, e)
        return None
    if crops.shape != (n, *shape, 3) or mats.shape != (n, 2, 3):
        log.warning("ignoring crop cache %s with unexpected shape %s", crops_path, crops.shape)
        return None
    return crops, mats


def _decode_all(crop_people: CropPeople, items: Sequence[tuple[int, int]], crops: np.ndarray, mats: np.ndarray,
                num_workers: int | None, progress: bool) -> None:
    """Fill ``crops`` and ``mats`` image by image (each image decoded once for all its people), on
    ``num_workers`` threads (OpenCV releases the GIL; default ``os.cpu_count()``)."""
    from tqdm.auto import tqdm

    by_sample: dict[int, list[int]] = {}
    for i, (si, _) in enumerate(items):
        by_sample.setdefault(si, []).append(i)
    workers = num_workers if num_workers is not None else (os.cpu_count() or 1)
    with tqdm(total=len(items), desc="caching person crops", unit="person", disable=not progress) as bar:
        if workers <= 1:
            for si, idx in by_sample.items():
                crop_people(si, idx, crops, mats)
                bar.update(len(idx))
        else:
            with ThreadPoolExecutor(workers) as pool:
                futures = [(pool.submit(crop_people, si, idx, crops, mats), len(idx))
                           for si, idx in by_sample.items()]
                for f, k in futures:
                    f.result()
                    bar.update(k)


def build_cache(crop_people: CropPeople, items: Sequence[tuple[int, int]], shape: tuple[int, int],
                files: tuple[Path, Path] | None, num_workers: int | None = None, progress: bool = True
                ) -> tuple[np.ndarray, np.ndarray] | None:
    """Decode every item's crop. ``files`` None: returns (crops, matrices) in memory. Else writes them to
    ``files`` (:func:`cache_files`; the crops under a temporary name, then renamed) and returns None: read
    them back with :func:`load_cache`. Memory / disk: N x Hc x Wc x 3 bytes."""
    n = len(items)
    Hc, Wc = shape
    tmp_path = None
    if files is not None:
        crops_path, meta_path = files
        crops_path.parent.mkdir(parents=True, exist_ok=True)
        tmp_path = crops_path.with_name(f"{crops_path.stem}.tmp{os.getpid()}.npy")
        crops = np.lib.format.open_memmap(tmp_path, mode="w+", dtype=np.uint8, shape=(n, Hc, Wc, 3))
    else:
        crops = np.empty((n, Hc, Wc, 3), dtype=np.uint8)
    mats = np.zeros((n, 2, 3), dtype=np.float64)
    try:
        _decode_all(crop_people, items, crops, mats, num_workers, progress)
    except BaseException:
        if tmp_path is not None:
            del crops
            tmp_path.unlink(missing_ok=True)
        raise
    if tmp_path is None:
        return crops, mats
    crops.flush()
    del crops
    np.savez(meta_path, matrices=mats)
    os.replace(tmp_path, crops_path)
    return None
