"""The device a network runs on when the caller names none, decided in one place."""

from __future__ import annotations

import torch

BACKENDS = ("auto", "torch", "onnxruntime")


def default_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` as a :class:`torch.device`; None = the first CUDA GPU where there is one, else the CPU."""
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


def resolve_backend(backend: str, device: str | None = None) -> str:
    """``"torch"`` or ``"onnxruntime"`` for a requested backend. ``"auto"``: ONNX Runtime where it is
    installed with its exporter (the ``onnx`` extra) and the networks run on the CPU, else PyTorch."""
    from posekit.runtime.onnx import onnx_export_available

    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    if backend != "auto":
        return backend
    return "onnxruntime" if default_device(device).type == "cpu" and onnx_export_available() else "torch"
