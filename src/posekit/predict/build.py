"""A predictor from a checkpoint's stored config: the networks (PyTorch modules, or the ONNX Runtime networks
of an exported folder) wrapped in the pipeline their config names, with the settings stored beside them.

Everything here sits below the model-name and backend choice of :func:`posekit.api.load_model`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from posekit.checkpoint import load_state, locate, read_checkpoint, stored_config
from posekit.codecs.boxes import CenterBoxCodec
from posekit.config import Config, PredictConfig, build_codec, build_model
from posekit.predict.base import Predictor
from posekit.predict.bottomup import BottomUpPredictor
from posekit.predict.detectors import CenterNetDetector, PersonDetector, YoloxDetector
from posekit.predict.topdown import TopDownPredictor
from posekit.runtime.onnx import OnnxNetwork, read_manifest
from posekit.skeletons import get_skeleton


def detector_path(name: str, pose_path: str | Path) -> Path:
    """The checkpoint a pose model's ``predict.detector`` names: a path, a zoo name, or a file beside the
    pose checkpoint."""
    beside = Path(pose_path).parent / name
    return locate(beside if not Path(name).exists() and beside.exists() else name)


def detector_codec(cfg: Config, calibration) -> CenterBoxCodec:
    """A detector's box codec with the score calibration fitted on validation (identity when none)."""
    codec = build_codec(cfg)
    codec.calibration = tuple(calibration or (1.0, 0.0))
    return codec


def load_detector(name_or_path: str | Path, device: str | None = None, size: int = PredictConfig.detector_size,
                  threshold: float = PredictConfig.detector_threshold, threads: int | None = None) -> PersonDetector:
    """A person detector from a zoo name (``"detector"``, ``"yolox-nano"``) or a path: a posekit CenterNet
    checkpoint (:class:`~posekit.predict.detectors.CenterNetDetector`, its score calibration fitted on validation
    applied; ``size``: its input side) or a YOLOX ONNX file (:class:`~posekit.predict.detectors.YoloxDetector`,
    run by ONNX Runtime with ``threads``)."""
    path = locate(name_or_path)
    if path.suffix == ".onnx":
        return YoloxDetector(path, threshold=threshold, threads=threads)
    state = read_checkpoint(path)
    _, cfg = stored_config(state)
    if cfg.data.kind != "detection":
        raise ValueError(f"{path}: not a person detector (its config has data.kind {cfg.data.kind!r})")
    model = build_model(cfg)
    load_state(model, state, path)
    return CenterNetDetector(model, detector_codec(cfg, state.get("calibration")), device=device, size=size,
                             threshold=threshold)


def torch_predictor(path: Path, state: dict, overrides: list[str] | None, device: str | None,
                    predictor_kwargs: dict) -> Predictor:
    """The predictor of a pose checkpoint, its networks run by PyTorch."""
    config, cfg = stored_config(state, overrides)
    model = build_model(cfg)
    load_state(model, state, path)

    def detector() -> PersonDetector | None:
        name = cfg.predict.detector
        return load_detector(detector_path(name, path), device, cfg.predict.detector_size,
                             cfg.predict.detector_threshold) if name else None

    return assemble(cfg, config, model, detector, device, predictor_kwargs)


def onnx_predictor(folder: Path, overrides: list[str] | None, threads: int | None, predictor_kwargs: dict
                   ) -> Predictor:
    """The predictor of a folder written by :func:`posekit.export.export_pipeline`, its networks run by ONNX
    Runtime on the CPU; only ``predict.*`` overrides apply (the rest of the config is baked into the networks)."""
    bad = [o for o in overrides or [] if not o.startswith("predict.")]
    if bad:
        raise ValueError(f"{folder}: an ONNX export takes only predict.* overrides (the rest is in its networks): "
                         f"{', '.join(bad)}")
    manifest = read_manifest(folder)
    config, cfg = stored_config({"config": manifest["pose"]["config"]}, overrides)
    model = OnnxNetwork(folder / manifest["pose"]["file"], threads)

    def detector() -> PersonDetector | None:
        det = manifest.get("detector")
        if not det or not cfg.predict.detector:
            return None
        if det.get("kind") == "yolox":
            return YoloxDetector(folder / det["file"], threshold=cfg.predict.detector_threshold, threads=threads)
        _, det_cfg = stored_config({"config": det["config"]})
        return CenterNetDetector(OnnxNetwork(folder / det["file"], threads),
                                 detector_codec(det_cfg, det["calibration"]), device="cpu",
                                 size=cfg.predict.detector_size, threshold=cfg.predict.detector_threshold)

    return assemble(cfg, config, model, detector, "cpu", predictor_kwargs)


def assemble(cfg: Config, config: dict, model, detector: Callable[[], PersonDetector | None],
             device: str | None, predictor_kwargs: dict) -> Predictor:
    """The predictor for a pose network (PyTorch module or ONNX Runtime network) and its stored config: the
    settings stored with the weights unless ``predictor_kwargs`` says otherwise; ``detector`` builds the person
    detector (called only when ``predictor_kwargs`` names none; a name there is loaded by :func:`load_detector`).
    A bottom-up model (``data.kind: bottomup``) gets a :class:`~posekit.predict.bottomup.BottomUpPredictor`, any
    other a :class:`~posekit.predict.topdown.TopDownPredictor`."""
    codec = build_codec(cfg)
    skeleton = get_skeleton(cfg.model.skeleton)
    predictor_kwargs = dict(predictor_kwargs)
    predictor_kwargs.setdefault("padding", cfg.data.padding)
    if cfg.data.kind == "bottomup":  # no detector, no crops: the stored settings that apply to it
        for key in ("flip_test", "person_threshold", "max_people", "input_size"):
            predictor_kwargs.setdefault(key, getattr(cfg.predict, key))
        return BottomUpPredictor(model, codec, skeleton, device=device, **predictor_kwargs)
    if "use_detector" not in (config.get("predict") or {}):
        # saved before HOG candidates became opt-in (2026-11-29): they were on, and the benchmark rows of
        # those checkpoints were measured with them -- keep them reproducible (an override still wins)
        predictor_kwargs.setdefault("use_detector", True)
    settings = dataclasses.asdict(cfg.predict)
    for key in ("detector", "detector_size", "detector_threshold"):
        settings.pop(key)
    if settings.pop("input_size"):
        raise ValueError("predict.input_size applies to bottom-up models only; a top-down model's crops are "
                         f"codec.input_size ({list(cfg.codec.input_size)}), fixed by its training")
    for key, value in settings.items():  # settings stored with the weights
        predictor_kwargs.setdefault(key, value)
    if "detector" not in predictor_kwargs:
        predictor_kwargs["detector"] = detector()
    elif isinstance(predictor_kwargs["detector"], (str, Path)):  # a detector named in the options
        name = predictor_kwargs["detector"]
        predictor_kwargs["detector"] = load_detector(name, device, cfg.predict.detector_size,
                                                     cfg.predict.detector_threshold) if name else None
    return TopDownPredictor(model, codec, skeleton, device=device, **predictor_kwargs)
