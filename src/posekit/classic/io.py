"""Weights files of the classic methods (their predictors: :mod:`posekit.predict.classic`).

A file is a ``torch.save``d dict ``{"classic": "ps" | "pcps" | "ps_cnn", "model": {...}, "training":
{...}}`` of tensors, numbers, strings and plain containers only (NumPy arrays are stored as tensors), so
it loads with ``weights_only=True`` like every posekit checkpoint and runs no code.
"""

from __future__ import annotations

from pathlib import Path

import torch

from posekit.checkpoint import to_storable

METHODS = ("ps", "pcps", "ps_cnn")


def save_classic(path: str | Path, method: str, model: dict, training: dict | None = None) -> Path:
    """Write a classic weights file (module docstring)."""
    if method not in METHODS:
        raise ValueError(f"unknown classic method {method!r}; known: {METHODS}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"classic": method, "model": to_storable(model), "training": to_storable(training or {})}, path)
    return path


def is_classic(state) -> bool:
    return isinstance(state, dict) and state.get("classic") in METHODS
