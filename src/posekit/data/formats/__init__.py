"""Dataset readers: one module per file format, each turning files on disk into ``list[Sample]``.

Modules: :mod:`.lsp` (LSP, LSP Extended), :mod:`.mpii` (official .mat, h5 and JSON conversions),
:mod:`.jhmdb` (per-clip ``joint_positions.mat`` and the COCO-style JSON), :mod:`.coco` (COCO keypoints
JSON and the datasets that reuse it), :mod:`.poselets` (PASCAL person XML with keypoints).
The dispatch table lives in :mod:`posekit.data` (``FORMATS``).

This package module holds only the small helpers the readers share (it imports none of them, so the
readers can import it without a cycle). Readers parse; they never decode images (they only check that
the image files exist, through one directory listing per folder rather than one ``stat`` per file).

Coordinates are kept exactly as the files store them (see each reader for what is known about its
file's origin); only the v = 0 rows are normalised to x = y = 0, as :mod:`posekit.types` requires.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from posekit.data.errors import DataError
from posekit.types import Person, box_from_keypoints


class ImageIndex:
    """Answers "does this image exist?" from cached directory listings: one ``os.listdir`` per folder,
    so checking 10,000 images in one folder costs one system call, not 10,000."""

    def __init__(self) -> None:
        self._listings: dict[Path, frozenset[str]] = {}

    def names(self, folder: Path) -> frozenset[str]:
        folder = Path(folder)
        if folder not in self._listings:
            try:
                self._listings[folder] = frozenset(os.listdir(folder))
            except OSError:
                self._listings[folder] = frozenset()
        return self._listings[folder]

    def exists(self, path: Path) -> bool:
        path = Path(path)
        return path.name in self.names(path.parent)

    def require(self, path: Path, annotation_file: Path, record: str) -> None:
        """Raise :class:`DataError` naming the annotation file and record when ``path`` is missing."""
        if not self.exists(path):
            raise DataError(annotation_file, record, f"image file {path} does not exist")


def read_mat(path: Path, **kwargs: Any) -> dict[str, Any]:
    """``scipy.io.loadmat`` with every failure turned into a :class:`DataError` naming the file."""
    import scipy.io

    try:
        return scipy.io.loadmat(str(path), **kwargs)
    except FileNotFoundError:
        raise
    except Exception as e:  # scipy raises ValueError, TypeError, MatReadError, OSError... on bad bytes
        raise DataError(path, "whole file", f"cannot read MATLAB file ({type(e).__name__}: {e})") from e


def read_json(path: Path) -> Any:
    """``json.load`` with a malformed file turned into a :class:`DataError` naming file and position."""
    try:
        with open(path, "rb") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise DataError(path, f"line {e.lineno} column {e.colno}", f"malformed JSON ({e.msg})") from e
    except UnicodeDecodeError as e:
        raise DataError(path, f"byte {e.start}", f"not UTF-8 text ({e.reason})") from e


def get_array(mat: dict[str, Any], key: str, path: Path) -> np.ndarray:
    """The float64 array stored under ``key`` of a loaded .mat file, or a DataError naming the file."""
    if key not in mat:
        known = sorted(k for k in mat if not k.startswith("__"))
        raise DataError(path, f"variable {key!r}", f"missing (the file has {known})")
    try:
        return np.asarray(mat[key], dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise DataError(path, f"variable {key!r}", f"not a numeric array ({e})") from e


def first_index(mask: np.ndarray) -> tuple[int, ...] | None:
    """Index of the first True element of ``mask`` (C order), or None."""
    flat = np.flatnonzero(mask)
    return None if flat.size == 0 else tuple(int(i) for i in np.unravel_index(flat[0], mask.shape))


def finish_keypoints(keypoints: np.ndarray) -> np.ndarray:
    """float64 (K, 3) copy with x = y = 0 wherever v = 0 (the convention of :mod:`posekit.types`)."""
    kp = np.array(keypoints, dtype=np.float64, copy=True)
    kp[kp[:, 2] == 0, :2] = 0.0
    return kp


def make_person(keypoints: np.ndarray, box: Any = None, **kwargs: Any) -> Person:
    """A Person whose box is the dataset's box when given, else the tight box of the labelled
    keypoints (:func:`posekit.types.box_from_keypoints`)."""
    kp = finish_keypoints(keypoints)
    b = box_from_keypoints(kp) if box is None else np.asarray(box, dtype=np.float64).reshape(4)
    return Person(keypoints=kp, box=b, **kwargs)


def check_split(fmt: str, split: str | None, allowed: tuple[str | None, ...]) -> None:
    """ValueError for a split name this format does not define."""
    if split not in allowed:
        raise ValueError(f"{fmt}: unknown split {split!r}; this format has {list(allowed)}")


def snake_case(name: str) -> str:
    """``"Right Shoulder"`` / ``"Right-ankle"`` / ``"leftShoulder"`` -> ``"right_shoulder"`` ..."""
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name.strip())
    s = re.sub(r"[^0-9A-Za-z]+", "_", s).strip("_")
    return s.lower()
