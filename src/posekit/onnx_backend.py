"""ONNX export, and ONNX Runtime as the backend that runs posekit's networks on a CPU.

Only the networks change hands: :class:`OnnxNetwork` has the eval-mode interface of a posekit network
(``(N, 3, H, W)`` normalised float tensor in, a dict of named output tensors out), so the same
:class:`~posekit.infer.Predictor` and :class:`~posekit.infer.PersonDetector` code -- crops, flip test,
re-cropping, decoding, OKS-NMS -- runs on either backend and the two can only differ by the networks'
floating-point results.

An exported pipeline is a folder::

    posekit.json     what the networks need around them: the pose model's stored config (codec, skeleton,
                     predict settings), the detector's config and score calibration, where they came from
    pose.onnx        the pose network: input "image" (N, 3, H, W) with N dynamic, H x W the codec's input
                     (a bottom-up network: H and W dynamic too, multiples of 32)
    detector.onnx    the person detector, if the model has one: input "image" (N, 3, H, W), N, H and W
                     dynamic (H, W multiples of 32: the backbone's deepest stride)

written by :func:`export_pipeline` (``posekit export WEIGHTS --format onnx --out DIR``); each network's
export is checked by running it in ONNX Runtime against PyTorch on two input sizes, and the whole pipeline
by predicting a photo with both backends. ``load_model(DIR)`` loads such a folder; ``load_model(weights,
backend="onnxruntime")`` exports once into the cache (``~/.cache/posekit/onnx/<hash>``) and loads that.

Optional int8 (``quantize="int8"``): ONNX Runtime's static quantisation (QDQ, per-channel weights) with a
calibration set of training crops / training photos; its accuracy is measured in ``benchmarks/onnx.md``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import torch

MANIFEST = "posekit.json"
FORMAT_VERSION = 1
POSE_FILE = "pose.onnx"
DETECTOR_FILE = "detector.onnx"
# largest difference between an exported network's outputs and PyTorch's before the export is refused:
# heatmaps are in [0, 1] and offsets / box sizes are O(1), so 1e-3 is far below anything decoding sees
EXPORT_TOLERANCE = 1e-3


class ExportError(ValueError):
    """A network that cannot be exported to ONNX, or whose export does not reproduce PyTorch's outputs."""


def onnxruntime_available() -> bool:
    """True when ONNX Runtime can be imported (the ``onnx`` extra: ``pip install posekit[onnx]``)."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def onnx_export_available() -> bool:
    """True when everything exporting needs is installed too (onnx, onnxscript: torch.onnx's exporter)."""
    import importlib.util

    return onnxruntime_available() and all(importlib.util.find_spec(m) for m in ("onnx", "onnxscript"))


def _require(*modules: str) -> None:
    missing = []
    for name in modules:
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ImportError(f"the ONNX backend needs {', '.join(missing)}: pip install 'posekit[onnx]'")


class OnnxNetwork:
    """A posekit network run by ONNX Runtime, with the eval-mode interface of the PyTorch one.

    path: an ``.onnx`` file with one input (N, 3, H, W) float32 and named outputs.
    threads: ONNX Runtime's intra-op threads (None = ``torch.get_num_threads()``, so ``torch.set_num_threads``
        and ``--threads`` govern both backends alike); inter-op parallelism is off (one graph, run in order).

    ``network(images)`` -> {output name: tensor}, as the PyTorch module's forward in eval mode. ``to`` and
    ``eval`` are accepted and do nothing (ONNX Runtime here runs on the CPU).
    """

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        _require("onnxruntime")
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads or torch.get_num_threads())
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # no spinning between runs: ONNX Runtime's idle threads would otherwise busy-wait on the cores that
        # the crops, flips and decoding between two network runs need (2x slower end to end on 2 cores)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # errors only: ONNX Runtime's warnings are about its own internals
        self.path = Path(path)
        self.threads = options.intra_op_num_threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]

    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = images.detach().to("cpu", torch.float32).contiguous().numpy()
        outputs = self.session.run(self.output_names, {self.input_name: x})
        return {name: torch.from_numpy(out) for name, out in zip(self.output_names, outputs)}

    def to(self, *args, **kwargs) -> OnnxNetwork:
        return self

    def eval(self) -> OnnxNetwork:
        return self

    def __repr__(self) -> str:
        return f"OnnxNetwork({self.path.name}, threads={self.threads})"


class _Outputs(torch.nn.Module):
    """The network's output dict as a tuple in a fixed order (ONNX outputs are positional)."""

    def __init__(self, model: torch.nn.Module, names: list[str]) -> None:
        super().__init__()
        self.model = model
        self.names = names

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(image)
        return tuple(out[n] for n in self.names)


@contextlib.contextmanager
def _quiet_exporter():
    """torch.onnx's exporter prints progress lines and warns about torchvision ops it cannot register
    (torchvision is not installed here and posekit uses none): keep the user's console for posekit."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):  # its failures are re-raised with the cause
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def export_network(model: torch.nn.Module, input_size: tuple[int, int], path: str | Path,
                   dynamic_size: bool = False, name: str = "network") -> list[str]:
    """Write ``model`` (eval mode) as ONNX with a dynamic batch (and, with ``dynamic_size``, dynamic H and W,
    multiples of 32) and check it: ONNX Runtime's outputs must equal PyTorch's within
    :data:`EXPORT_TOLERANCE` on two batch sizes (and two input sizes when dynamic). Returns the output
    names. A model that cannot be exported raises :class:`ExportError` naming ``name`` and the cause.

    input_size: (W, H) of the example input.
    """
    _require("onnx", "onnxruntime", "onnxscript")
    model = model.eval().float()
    w, h = input_size
    example = torch.randn(2, 3, h, w, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        reference = model(example)
    if not isinstance(reference, dict) or not all(isinstance(v, torch.Tensor) for v in reference.values()):
        raise ExportError(f"{name}: its eval forward must return a dict of tensors to be exported")
    names = list(reference)
    batch = torch.export.Dim("batch", min=1, max=4096)
    dims = {0: batch}
    if dynamic_size:  # the detector letterboxes each photo to its own aspect (sides multiples of 32)
        dims[2] = 32 * torch.export.Dim("h32", min=1, max=128)
        dims[3] = 32 * torch.export.Dim("w32", min=1, max=128)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with _quiet_exporter():
            program = torch.onnx.export(_Outputs(model, names), (example,), dynamo=True, input_names=["image"],
                                        output_names=names, dynamic_shapes=(dims,), verbose=False)
            program.save(str(path))
    except Exception as e:  # the exporter raises many types; the user needs the model and the root cause
        root = e
        while root.__cause__ is not None:
            root = root.__cause__
        first = (str(root).strip().splitlines() or [""])[0]
        raise ExportError(f"{name} cannot be exported to ONNX: {type(root).__name__}: {first}") from e
    checks = [example[:1]]
    if dynamic_size:
        checks.append(torch.randn(3, 3, h + 32, w + 64, generator=torch.Generator().manual_seed(1)))
    else:
        checks.append(torch.randn(3, 3, h, w, generator=torch.Generator().manual_seed(1)))
    network = OnnxNetwork(path, threads=1)
    for x in checks:
        with torch.no_grad():
            want = model(x)
        got = network(x)
        for key in names:
            diff = float((want[key].float() - got[key]).abs().max())
            if not diff <= EXPORT_TOLERANCE:
                raise ExportError(f"{name}: the ONNX export's {key!r} differs from PyTorch's by {diff:.2e} "
                                  f"(> {EXPORT_TOLERANCE}) on input {tuple(x.shape)}")
    return names


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def export_pipeline(weights: str | Path, out_dir: str | Path, overrides: list[str] | None = None,
                    quantize: str | None = None, calibration: list[np.ndarray] | None = None,
                    check_image: np.ndarray | None = None, int8_options: dict | None = None) -> dict:
    """Export a pose model (and its person detector) for the ONNX Runtime backend into ``out_dir``.

    weights: a shipped model name ("default") or a checkpoint path; ``overrides`` as in
        :func:`~posekit.infer.load_model` (they shape the stored config, e.g. ``predict.refine_steps=0``).
    quantize: None (float32) or "int8" (static QDQ quantisation; ``calibration`` = uint8 BGR training
        images: whole photos for the detector, person crops are cut from them by the torch pipeline).
    int8_options: keyword arguments of :func:`quantize_pipeline` (``float_heads``).
    check_image: a uint8 BGR photo predicted by both backends to check the whole pipeline (None = the
        bundled demo photo); the largest keypoint difference is stored in the manifest.

    Returns the manifest (also written to ``out_dir/posekit.json``).
    """
    from posekit.infer import _checkpoint_path, detector_path, load_model, read_checkpoint, stored_config

    _require("onnx", "onnxruntime", "onnxscript")
    if quantize not in (None, "int8"):
        raise ValueError(f"quantize must be None or 'int8', got {quantize!r}")
    if quantize and not calibration:
        raise ValueError("int8 quantisation needs calibration images (training photos, never test images)")
    path = _checkpoint_path(weights)
    state = read_checkpoint(path)
    config, cfg = stored_config(state, overrides)
    if cfg.data.kind == "detection":
        raise ValueError(f"{path} is a person detector; export the pose model that names it in predict.detector")
    torch_predictor = load_model(path, device="cpu", overrides=overrides, backend="torch")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in (POSE_FILE, DETECTOR_FILE, MANIFEST):
        (out_dir / stale).unlink(missing_ok=True)
    input_size = tuple(torch_predictor.codec.input_size)
    model_name = cfg.model.name
    # a bottom-up network takes whole images at any input side (predict.input_size): H and W stay dynamic
    bottomup = cfg.data.kind == "bottomup"
    pose_outputs = export_network(torch_predictor.model, input_size, out_dir / POSE_FILE, dynamic_size=bottomup,
                                  name=model_name)
    manifest = {
        "format": "posekit-onnx", "version": FORMAT_VERSION, "source": str(weights), "source_sha256": _sha256(path),
        "overrides": list(overrides or []), "torch_version": torch.__version__, "quantize": quantize,
        "pose": {"file": POSE_FILE, "outputs": pose_outputs, "config": config,
                 "input": ("image (N, 3, H, W) normalised RGB, N, H and W dynamic (H, W multiples of 32)" if bottomup
                           else f"image (N, 3, {input_size[1]}, {input_size[0]}) normalised RGB, N dynamic")},
        "detector": None,
    }
    detector = torch_predictor.detector
    if detector is not None:
        det_path = detector_path(cfg.predict.detector, path)
        det_config, _ = stored_config(read_checkpoint(det_path))
        size = _letterbox_example(detector.size)
        det_outputs = export_network(detector.model, size, out_dir / DETECTOR_FILE, dynamic_size=True,
                                     name="detector")
        manifest["detector"] = {
            "file": DETECTOR_FILE, "outputs": det_outputs, "config": det_config, "source_sha256": _sha256(det_path),
            "calibration": [float(v) for v in detector.codec.calibration],
            "input": "image (N, 3, H, W) normalised RGB, N, H and W dynamic (H, W multiples of 32)"}
    if quantize == "int8":
        manifest["calibration"] = quantize_pipeline(out_dir, torch_predictor, calibration, **(int8_options or {}))
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=1))
    manifest["check"] = check_export(out_dir, torch_predictor, check_image)
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


def quantize_pipeline(out_dir: Path, torch_predictor, images: list[np.ndarray], float_heads: bool = False) -> dict:
    """Replace the float32 ONNX networks in ``out_dir`` by int8 ones: ONNX Runtime's static quantisation
    (QDQ format, per-channel int8 weights, uint8 activations with MinMax ranges). The calibration inputs are
    exactly what the networks receive when ``torch_predictor`` predicts ``images`` (uint8 BGR training
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

    pose, detector = _Recorder(torch_predictor.model), None
    torch_predictor.model = pose
    if torch_predictor.detector is not None:
        detector = _Recorder(torch_predictor.detector.model)
        torch_predictor.detector.model = detector
    try:
        for image in images:
            torch_predictor.predict(image)
    finally:
        torch_predictor.model = pose.network
        if detector is not None:
            torch_predictor.detector.model = detector.network

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
        with _quiet_exporter():
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
    """A (W, H) detector example input like those :class:`~posekit.infer.PersonDetector` makes: the
    longer side ``size`` rounded up to a multiple of 32, a 4:3 landscape photo."""
    w = int(np.ceil(size / 32)) * 32
    return w, max(32, int(np.ceil(size * 0.75 / 32)) * 32)


def check_export(out_dir: str | Path, torch_predictor, image: np.ndarray | None = None) -> dict:
    """Predict ``image`` (None = the bundled demo photo) with the exported pipeline and with PyTorch: the
    number of people each finds and the largest keypoint difference in pixels over the people both find
    (matched in score order). Raises :class:`ExportError` when they disagree on the people found in a
    float32 export (an int8 export is only reported: its differences are measured in the benchmark)."""
    from posekit.infer import load_model

    if image is None:
        from posekit.cli import DEMO_IMAGE
        from posekit.data.dataset import read_image

        image = read_image(DEMO_IMAGE)
    onnx_predictor = load_model(out_dir, threads=1)
    want = torch_predictor.predict(image)
    got = onnx_predictor.predict(image)
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
    h.update(_sha256(weights_path).encode())
    if detector is not None:
        h.update(_sha256(detector).encode())
    h.update(json.dumps(list(overrides or [])).encode())
    h.update(torch.__version__.encode())
    return h.hexdigest()[:20]


def cache_dir() -> Path:
    """Where exports made on the fly live: ``$POSEKIT_CACHE/onnx`` or ``~/.cache/posekit/onnx``."""
    return Path(os.environ.get("POSEKIT_CACHE", "~/.cache/posekit")).expanduser() / "onnx"


def cached_export(path: Path, overrides: list[str] | None, detector: Path | None) -> Path:
    """The folder of an export of the checkpoint ``path`` (+ ``overrides``; ``detector`` = the detector
    checkpoint its config names with them, or None) in the cache, exporting it the first time."""
    folder = cache_dir() / cache_key(path, overrides, detector)
    if not (folder / MANIFEST).exists():
        logging.getLogger(__name__).warning("exporting %s to ONNX for ONNX Runtime, once (about 10 s; cached in "
                                            "%s; --backend torch skips it)", path.name, folder)
        tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
        export_pipeline(path, tmp, overrides)
        if not (folder / MANIFEST).exists():  # another process may have finished first: keep its copy
            shutil.rmtree(folder, ignore_errors=True)
            tmp.replace(folder)
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def read_manifest(folder: str | Path) -> dict:
    """An exported pipeline's ``posekit.json``; a ValueError naming the folder when it is not one."""
    file = Path(folder) / MANIFEST
    if not file.exists():
        raise ValueError(f"{folder}: not an exported posekit pipeline (no {MANIFEST}; write one with "
                         "'posekit export WEIGHTS --format onnx --out DIR')")
    manifest = json.loads(file.read_text())
    if manifest.get("format") != "posekit-onnx" or manifest.get("version") != FORMAT_VERSION:
        raise ValueError(f"{file}: not a posekit ONNX manifest of version {FORMAT_VERSION}")
    return manifest


def is_export(path: str | Path) -> bool:
    """True when ``path`` is a folder written by :func:`export_pipeline`."""
    return Path(path).is_dir() and (Path(path) / MANIFEST).exists()
