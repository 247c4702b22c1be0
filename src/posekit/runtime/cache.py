"""The one folder posekit writes to on its own: ``$POSEKIT_CACHE``, else ``~/.cache/posekit``.

What lives there:

- ``onnx/<key>/``: ONNX exports made when a checkpoint is loaded with the ONNX Runtime backend (``auto`` or
  ``onnxruntime``), one folder per (weights, detector, overrides, torch version). Bounded: after each new
  export the least recently used exports are removed until the folder is under ``$POSEKIT_CACHE_MAX_MB``
  (default :data:`DEFAULT_MAX_MB`); the export just made is always kept.
- ``*.npy`` / ``*_meta.npz``: decoded person crops written by ``posekit train`` (``data.cache_dir``,
  bounded by ``data.cache_max_gb``).

``posekit cache info`` lists both with their sizes; ``posekit cache clear [onnx|crops]`` removes them.
Nothing else is ever written outside the paths a user names.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

DEFAULT_MAX_MB = 1024
KINDS = ("onnx", "crops")


def root() -> Path:
    """The cache folder: ``$POSEKIT_CACHE`` or ``~/.cache/posekit``."""
    return Path(os.environ.get("POSEKIT_CACHE", "~/.cache/posekit")).expanduser()


def onnx_dir() -> Path:
    """Where exports made on the fly live."""
    return root() / "onnx"


def max_bytes() -> int:
    """The bound on the ONNX exports: ``$POSEKIT_CACHE_MAX_MB`` megabytes (default :data:`DEFAULT_MAX_MB`)."""
    return int(float(os.environ.get("POSEKIT_CACHE_MAX_MB", DEFAULT_MAX_MB)) * 1e6)


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def entries(kind: str) -> list[Path]:
    """The cache's entries of one kind (:data:`KINDS`): export folders, or crop files."""
    if kind not in KINDS:
        raise ValueError(f"unknown cache kind {kind!r}: choose one of {', '.join(KINDS)}")
    if kind == "onnx":
        folder = onnx_dir()
        return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    base = root()
    return sorted(p for p in base.glob("*") if p.is_file() and (p.suffix == ".npy" or p.name.endswith("_meta.npz")))


def info() -> dict:
    """{"root", and per kind: {"entries", "bytes"}}, plus the ONNX bound."""
    out = {"root": str(root()), "onnx_max_bytes": max_bytes()}
    for kind in KINDS:
        found = entries(kind)
        out[kind] = {"entries": len(found), "bytes": sum(_size(p) for p in found)}
    return out


def clear(kind: str | None = None) -> int:
    """Remove every entry of ``kind`` (None = both kinds); returns the bytes freed."""
    freed = 0
    for k in KINDS if kind is None else (kind,):
        for path in entries(k):
            freed += _size(path)
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    return freed


def touch(path: Path) -> None:
    """Mark an entry as just used (the eviction order is by last use)."""
    os.utime(path)


def evict(keep: Path, limit: int | None = None) -> list[Path]:
    """Remove the least recently used ONNX exports until they take at most ``limit`` bytes (None =
    :func:`max_bytes`), never ``keep``; returns what was removed."""
    limit = max_bytes() if limit is None else limit
    found = [(p.stat().st_mtime, p, _size(p)) for p in entries("onnx")]
    total = sum(size for _, _, size in found)
    removed = []
    for _, path, size in sorted(found, key=lambda t: t[0]):
        if total <= limit:
            break
        if path.resolve() == Path(keep).resolve() or ".tmp" in path.name:
            continue
        shutil.rmtree(path, ignore_errors=True)
        total -= size
        removed.append(path)
    return removed
