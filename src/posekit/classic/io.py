"""Weights files of the classic methods, and building their predictors (what ``load_model`` calls).

A file is a ``torch.save``d dict ``{"classic": "ps" | "pcps" | "ps_cnn", "model": {...}, "training":
{...}}`` of tensors, numbers, strings and plain containers only (NumPy arrays are stored as tensors), so
it loads with ``weights_only=True`` like every posekit checkpoint and runs no code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

METHODS = ("ps", "pcps", "ps_cnn")


def to_storable(obj):
    """NumPy arrays (and NumPy scalars) -> tensors / Python numbers, recursively through dicts and lists."""
    if isinstance(obj, dict):
        return {str(k): to_storable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_storable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def from_storable(obj):
    """Tensors -> NumPy arrays, recursively (the inverse of :func:`to_storable`)."""
    if isinstance(obj, dict):
        return {k: from_storable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [from_storable(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return obj.numpy()
    return obj


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


def build_predictor(state: dict, device: str | None = None):
    """The predictor a classic weights file describes (``state`` as loaded by ``posekit.infer.safe_load``)."""
    method = state["classic"]
    model = from_storable(state["model"])
    if method == "ps":
        from posekit.classic.pictorial import PictorialStructures

        return PictorialStructures.from_state(model)
    if method == "pcps":
        from posekit.classic.poselets import PoseletConditionedPS

        return PoseletConditionedPS.from_state(model)
    from posekit.classic.cnn_unaries import TreeDecodingPredictor

    return TreeDecodingPredictor.from_state(model, device)
