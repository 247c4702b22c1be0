"""A pose model and its person detector exported to ONNX for the ONNX Runtime backend, checked against PyTorch;
optional static int8; the exports made on the fly when a checkpoint is loaded with that backend.

The folder layout is described in :mod:`posekit.runtime.onnx`; one network's export and check is
:func:`posekit.runtime.onnx.export_network`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import torch

from posekit.assets import DEMO_IMAGE
from posekit.checkpoint import locate, read_checkpoint, stored_config
from posekit.data import load, parse_spec
from posekit.data.dataset import read_image
from posekit.predict.build import detector_path, onnx_predictor, torch_predictor
from posekit.predict.detectors import YoloxDetector
from posekit.runtime import cache
from posekit.runtime.onnx import (
    DETECTOR_FILE,
    FORMAT_VERSION,
    MANIFEST,
    POSE_FILE,
    ExportError,
    export_network,
    quiet_exporter,
    require,
)
from posekit.zoo import sha256_file


def _export_detector(detector, det_path: Path, out_dir: Path) -> dict:
    """Export the pose model's person detector (its checkpoint ``det_path``) to ``out_dir``; returns its
    manifest entry (file, outputs, stored config, sha256, score calibration, input). A YOLOX detector is an ONNX
    file already: it is copied."""
    if isinstance(detector, YoloxDetector):
        shutil.copyfile(det_path, out_dir / DETECTOR_FILE)
        return {"kind": "yolox", "file": DETECTOR_FILE, "source_sha256": sha256_file(det_path),
                "input": f"images (1, 3, {detector.size}, {detector.size}) BGR 0-255, letterboxed top-left on 114"}
    det_config, _ = stored_config(read_checkpoint(det_path))
    size = _letterbox_example(detector.size)
    det_outputs = export_network(detector.model, size, out_dir / DETECTOR_FILE, dynamic_size=True, name="detector")
    return {
        "file": DETECTOR_FILE, "outputs": det_outputs, "config": det_config, "source_sha256": sha256_file(det_path),
        "calibration": [float(v) for v in detector.codec.calibration],
        "input": "image (N, 3, H, W) normalised RGB, N, H and W dynamic (H, W multiples of 32)"}


def calibration_images(spec: str, split: str, count: int) -> list[np.ndarray]:
    """``count`` images (uint8 BGR) of the data set ``spec`` (FORMAT:PATH) and ``split``, drawn with seed 0, to
    calibrate an int8 export on. Refuses LSP's test images: a model is never tuned on its test set."""
    fmt, path = parse_spec(spec)
    if fmt == "lsp" and split != "train":
        raise ValueError("LSP images 1001-2000 are the test set: calibrate with --calibration-split train")
    samples = load(fmt, path, split=split)
    pick = np.random.default_rng(0).choice(len(samples), min(count, len(samples)), replace=False)
    return [read_image(samples[i].image_path) for i in sorted(pick)]


def export_pipeline(weights: str | Path, out_dir: str | Path, overrides: list[str] | None = None,
                    quantize: str | None = None, calibration: list[np.ndarray] | None = None,
                    check_image: np.ndarray | None = None, int8_options: dict | None = None) -> dict:
    """Export a pose model (and its person detector) for the ONNX Runtime backend into ``out_dir``.

    weights: a zoo name ("default") or a checkpoint path; ``overrides`` as in
        :func:`~posekit.api.load_model` (they shape the stored config, e.g. ``predict.refine_steps=0``).
    quantize: None (float32) or "int8" (static QDQ quantisation; ``calibration`` = uint8 BGR training
        images: whole photos for the detector, person crops are cut from them by the torch pipeline).
    int8_options: keyword arguments of :func:`quantize_pipeline` (``float_heads``).
    check_image: a uint8 BGR photo predicted by both backends to check the whole pipeline (None = the
        bundled demo photo); the largest keypoint difference is stored in the manifest.

    Returns the manifest (also written to ``out_dir/posekit.json``).
    """
    require("onnx", "onnxruntime", "onnxscript")
    if quantize not in (None, "int8"):
        raise ValueError(f"quantize must be None or 'int8', got {quantize!r}")
    if quantize and not calibration:
        raise ValueError("int8 quantisation needs calibration images (training photos, never test images)")
    path = locate(weights)
    state = read_checkpoint(path)
    config, cfg = stored_config(state, overrides)
    if cfg.data.kind == "detection":
        raise ValueError(f"{path} is a person detector; export the pose model that names it in predict.detector")
    reference = torch_predictor(path, state, overrides, "cpu", {})
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in (POSE_FILE, DETECTOR_FILE, MANIFEST):
        (out_dir / stale).unlink(missing_ok=True)
    input_size = tuple(reference.codec.input_size)
    model_name = cfg.model.name
    # a bottom-up network takes whole images at any input side (predict.input_size): H and W stay dynamic
    bottomup = cfg.data.kind == "bottomup"
    pose_outputs = export_network(reference.model, input_size, out_dir / POSE_FILE, dynamic_size=bottomup,
                                  name=model_name)
    manifest = {
        "format": "posekit-onnx", "version": FORMAT_VERSION, "source": str(weights), "source_sha256": sha256_file(path),
        "overrides": list(overrides or []), "torch_version": torch.__version__, "quantize": quantize,
        "pose": {"file": POSE_FILE, "outputs": pose_outputs, "config": config,
                 "input": ("image (N, 3, H, W) normalised RGB, N, H and W dynamic (H, W multiples of 32)" if bottomup
                           else f"image (N, 3, {input_size[1]}, {input_size[0]}) normalised RGB, N dynamic")},
        "detector": None,
    }
    if reference.detector is not None:
        manifest["detector"] = _export_detector(reference.detector, detector_path(cfg.predict.detector, path),
                                                out_dir)
    if quantize == "int8":
        manifest["calibration"] = quantize_pipeline(out_dir, reference, calibration, **(int8_options or {}))
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=1))
    manifest["check"] = check_export(out_dir, reference, check_image)
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest


class _Recorder:
    """Stands in for a predictor's network and keeps a copy of every input batch it is given."""

    def __init__(self, network) -> None:
        self.network = network
        self.inputs: list[np.ndarray] = []

    def __call__(self, images: torch.Tensor) -> dict:
        self.inputs.append(images.detach().cpu().float().numpy().copy())
        return self.network(images)

    def to(self, *args, **kwargs) -> _Recorder:
        return self

    def eval(self) -> _Recorder:
        return self


def quantize_pipeline(out_dir: Path, reference, images: list[np.ndarray], float_heads: bool = False) -> dict:
    """Replace the float32 ONNX networks in ``out_dir`` by int8 ones: ONNX Runtime's static quantisation
    (QDQ format, per-channel int8 weights, uint8 activations with MinMax ranges). The calibration inputs are
    exactly what the networks receive when ``reference`` (a PyTorch predictor) predicts ``images`` (uint8 BGR training
    photos): person crops (with their mirror images) for the pose network, letterboxed photos for the
    detector. (Percentile ranges are not offered: ONNX Runtime's percentile calibrator needs every batch
    of one shape, and the detector's inputs take each photo's aspect.)

    float_heads: keep the convolutions that write the outputs in float32 (:func:`_output_heads`).
    Returns what was used, for the manifest."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pose, detector = _Recorder(reference.model), None
    reference.model = pose
    if reference.detector is not None and not isinstance(reference.detector, YoloxDetector):  # (YOLOX: kept float)
        detector = _Recorder(reference.detector.model)
        reference.detector.model = detector
    try:
        for image in images:
            reference.predict(image)
    finally:
        reference.model = pose.network
        if detector is not None:
            reference.detector.model = detector.network

    class Reader(CalibrationDataReader):
        def __init__(self, batches: list[np.ndarray]) -> None:
            self.batches = iter(batches)

        def get_next(self) -> dict | None:
            x = next(self.batches, None)
            return None if x is None else {"image": x}

    done = {}
    for file, recorder in ((POSE_FILE, pose), (DETECTOR_FILE, detector)):
        if recorder is None:
            continue
        path = out_dir / file
        prepared = path.with_suffix(".pre.onnx")
        with quiet_exporter():
            quant_pre_process(str(path), str(prepared))  # shape inference + folding, as ORT recommends
            quantize_static(str(prepared), str(path), Reader(recorder.inputs), quant_format=QuantFormat.QDQ,
                            per_channel=True, weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
                            calibrate_method=CalibrationMethod.MinMax,
                            nodes_to_exclude=_output_heads(prepared) if float_heads else [])
        prepared.unlink()
        done[file] = {"batches": len(recorder.inputs), "inputs": int(sum(len(x) for x in recorder.inputs))}
    return {"images": len(images), "networks": done, "float_heads": float_heads,
            "method": "static QDQ, per-channel int8 weights, uint8 activations, MinMax ranges"}


def _output_heads(path: Path) -> list[str]:
    """Names of the convolutions that write the network's outputs (through reshapes and activations only),
    the layers whose small differences decoding reads most (DARK's log-heatmap derivatives, offsets)."""
    import onnx

    graph = onnx.load(str(path)).graph
    producer = {out: node for node in graph.node for out in node.output}
    heads = []
    for output in graph.output:
        node = producer.get(output.name)
        while node is not None and node.op_type in ("Reshape", "Sigmoid", "Transpose", "Identity", "Flatten"):
            node = producer.get(node.input[0])
        if node is not None and node.op_type == "Conv":
            heads.append(node.name)
    return heads


def _letterbox_example(size: int) -> tuple[int, int]:
    """A (W, H) detector example input like those :class:`~posekit.predict.detectors.CenterNetDetector` makes: the
    longer side ``size`` rounded up to a multiple of 32, a 4:3 landscape photo."""
    w = int(np.ceil(size / 32)) * 32
    return w, max(32, int(np.ceil(size * 0.75 / 32)) * 32)


def check_export(out_dir: str | Path, reference, image: np.ndarray | None = None) -> dict:
    """Predict ``image`` (None = the bundled demo photo) with the exported pipeline and with the PyTorch
    predictor ``reference``: the
    number of people each finds and the largest keypoint difference in pixels over the people both find
    (matched in score order). Raises :class:`ExportError` when they disagree on the people found in a
    float32 export (an int8 export is only reported: its differences are measured in the benchmark)."""
    if image is None:
        image = read_image(DEMO_IMAGE)
    want = reference.predict(image)
    got = onnx_predictor(Path(out_dir), None, 1, {}).predict(image)
    n = min(len(want), len(got))
    diff = max((float(np.abs(a.keypoints[:, :2] - b.keypoints[:, :2]).max()) for a, b in zip(want, got)),
               default=0.0)
    result = {"people_torch": len(want), "people_onnx": len(got), "max_keypoint_diff_px": round(diff, 4),
              "compared_people": n}
    manifest = json.loads((Path(out_dir) / MANIFEST).read_text())
    if manifest.get("quantize") is None and (len(want) != len(got) or diff > 0.5):
        raise ExportError(f"{out_dir}: the exported pipeline disagrees with PyTorch on the check photo: {result}")
    return result


def cache_key(weights_path: Path, overrides: list[str] | None, detector: Path | None) -> str:
    """A folder name in the export cache for these weights (and the ``detector`` checkpoint they use, if
    any) and overrides: a hash of the files' bytes, the overrides and the torch version, so a changed file
    is exported again."""
    h = hashlib.sha256()
    h.update(sha256_file(weights_path).encode())
    if detector is not None:
        h.update(sha256_file(detector).encode())
    h.update(json.dumps(list(overrides or [])).encode())
    h.update(torch.__version__.encode())
    return h.hexdigest()[:20]


def cached_export(path: Path, overrides: list[str] | None, detector: Path | None) -> Path:
    """The folder of an export of the checkpoint ``path`` (+ ``overrides``; ``detector`` = the detector
    checkpoint its config names with them, or None) in posekit's cache (:mod:`posekit.runtime.cache`),
    exporting it the first time; least recently used exports beyond the cache's bound are removed."""
    folder = cache.onnx_dir() / cache_key(path, overrides, detector)
    if (folder / MANIFEST).exists():
        cache.touch(folder)
        return folder
    logging.getLogger(__name__).warning("exporting %s to ONNX for ONNX Runtime, once (about 10 s; cached in %s, "
                                        "'posekit cache clear' removes it; --backend torch skips it)", path.name,
                                        folder)
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    try:
        export_pipeline(path, tmp, overrides)
        if not (folder / MANIFEST).exists():  # another process may have finished first: keep its copy
            shutil.rmtree(folder, ignore_errors=True)
            tmp.replace(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    cache.evict(keep=folder)
    return folder
