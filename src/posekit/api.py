"""``posekit.load_model``: a :class:`~posekit.predict.base.Predictor` from a model name, a checkpoint, a classic or
DeepCut weights file, or an exported ONNX folder -- the one entry point above the prediction package.
"""

from __future__ import annotations

import logging
from pathlib import Path

from posekit.checkpoint import checked, locate, safe_load, stored_config
from posekit.classic.io import is_classic
from posekit.export import cached_export
from posekit.grouping.deepcut import is_weights as is_deepcut
from posekit.predict.base import Predictor
from posekit.predict.bottomup import BottomUpPredictor
from posekit.predict.build import detector_path, onnx_predictor, torch_predictor
from posekit.predict.classic import classic_predictor
from posekit.predict.deepcut import deepcut_from_parts, deepcut_settings
from posekit.runtime.device import resolve_backend
from posekit.runtime.onnx import ExportError, is_export

log = logging.getLogger(__name__)


def load_model(name_or_path: str | Path = "default", *, backend: str = "auto", device: str | None = None,
               threads: int | None = None, overrides: list[str] | None = None, **predict_options) -> Predictor:
    """A :class:`~posekit.predict.base.Predictor`: ``predict(image, boxes=None) -> list[Prediction]``.

    name_or_path: a name of the model zoo (``posekit models`` lists them: ``"default"``, ``"paf"``,
        ``"deepcut"``, ``"ps"`` ...), a checkpoint written by ``posekit train`` / ``posekit export``, a classic
        or DeepCut weights file, or a folder exported by ``posekit export --format onnx``.
    backend: "torch", "onnxruntime" (the networks run by ONNX Runtime on the CPU: a checkpoint is exported
        once into posekit's bounded cache, :mod:`posekit.runtime.cache`), or "auto" (ONNX Runtime where the
        ``onnx`` extra is installed and the device is the CPU, else PyTorch). An export that fails falls back to
        PyTorch with one warning. Everything around the networks is the same code on both.
    device: "cpu", "cuda", "cuda:1" ... (None = CUDA where available).
    threads: ONNX Runtime's threads (None = ``torch.get_num_threads()``); PyTorch's are the caller's
        ``torch.set_num_threads``.
    overrides: dotted ``key=value`` changes to the checkpoint's stored config applied before the model is built,
        e.g. ``["model.kwargs.stages_used=1"]`` to run DeepPose's first stage alone, ``["predict.detector="]``
        to run without the person detector, or ``["deepcut.time_limit=30"]`` for a DeepCut setting.
    predict_options: override the stored ``predict`` settings (``flip_test=False``, ``person_threshold=0.3``;
        ``detector`` may be any object with ``detect(image)``, see :mod:`posekit.predict.detectors`).
    """
    overrides = list(overrides or [])
    path = locate(name_or_path)
    if is_export(path):
        if backend == "torch":
            raise ValueError(f"{path} is an ONNX export: it runs with backend 'onnxruntime' (or 'auto')")
        return onnx_predictor(path, overrides, threads, predict_options)
    state = safe_load(path)
    if is_deepcut(state):  # DeepCut: a part network's checkpoint + the pairwise model, grouped by an ILP
        return _load_deepcut(path, state, backend, device, threads, overrides, predict_options)
    if is_classic(state):  # pictorial structures & co. (posekit.classic): no network config to build
        return _load_classic(path, state, device, overrides, predict_options)
    state = checked(state, path)
    _, cfg = stored_config(state, overrides)
    if cfg.data.kind == "detection":
        raise ValueError(f"{path} is a person detector, not a pose model; pose models name it in predict.detector")
    if resolve_backend(backend, device) == "onnxruntime":
        try:
            return _load_onnx_cached(path, cfg, overrides, threads, predict_options)
        except ExportError as e:
            if backend == "onnxruntime":  # asked for by name: no silent change of backend
                raise
            log.warning("%s: the ONNX export failed, running with PyTorch instead (%s)", path.name, e)
    return torch_predictor(path, state, overrides, device, predict_options)


def _load_onnx_cached(path: Path, cfg, overrides: list[str], threads: int | None, predict_options: dict) -> Predictor:
    """A checkpoint's predictor with ONNX Runtime networks, exported once into the cache."""
    # the overrides that shape the exported networks (the model's, and which detector) go into the export;
    # the other predict.* settings apply at load, so changing them needs no new export
    shaping = [o for o in overrides if not o.startswith("predict.") or o.startswith("predict.detector=")]
    settings = [o for o in overrides if o not in shaping]
    # (cfg's detector is the shaping one: the other predict.* overrides never name a detector)
    detector_file = detector_path(cfg.predict.detector, path) if cfg.predict.detector else None
    return onnx_predictor(cached_export(path, shaping, detector_file), settings, threads, predict_options)


def _load_deepcut(path: Path, state: dict, backend: str, device: str | None, threads: int | None,
                  overrides: list[str], predict_options: dict) -> Predictor:
    """The DeepCut predictor a DeepCut weights file (:func:`posekit.grouping.deepcut.save_weights`) describes: its
    part network loaded by :func:`load_model` (any backend), its pairwise model and settings. ``deepcut.KEY=VALUE``
    overrides change a stored DeepCut setting, any other goes to the part network's config."""
    settings = deepcut_settings(path, state, overrides, predict_options)
    part = Path(state["part_detector"])
    if not part.exists():  # moved together: the named path relative to this file, or a file of that name beside it
        part = next((p for p in (path.parent / part, path.parent / part.name) if p.exists()), part)
    parts = load_model(part, backend=backend, device=device, threads=threads,
                       overrides=[o for o in overrides if not o.startswith("deepcut.")])
    if not isinstance(parts, BottomUpPredictor):
        raise ValueError(f"{path}: its part detector {part} is not a bottom-up network (data.kind: bottomup)")
    return deepcut_from_parts(parts, state, settings, device)


def _load_classic(path: Path, state: dict, device: str | None, overrides: list[str], predict_options: dict
                  ) -> Predictor:
    """A classic method's predictor; ``ps_cnn`` loads its base network with PyTorch."""
    if overrides or predict_options:
        raise ValueError(f"{path}: a classic model ({state['classic']}) takes no overrides or predictor settings")
    base = None
    if state["classic"] == "ps_cnn":
        base = load_model(state["model"]["base"], backend="torch", device=device)
    return classic_predictor(state, base)
