"""ONNX Runtime as the backend that runs posekit's networks on a CPU, and the export of one network.

Only the networks change hands: :class:`OnnxNetwork` has the eval-mode interface of a posekit network
(``(N, 3, H, W)`` normalised float tensor in, a dict of named output tensors out), so the same predictor and
detector code (:mod:`posekit.predict`) -- crops, flip test, re-cropping, decoding, OKS-NMS -- runs on either
backend and the two can only differ by the networks' floating-point results.

An exported pipeline is a folder::

    posekit.json     what the networks need around them: the pose model's stored config (codec, skeleton,
                     predict settings), the detector's config and score calibration, where they came from
    pose.onnx        the pose network: input "image" (N, 3, H, W) with N dynamic, H x W the codec's input
                     (a bottom-up network: H and W dynamic too, multiples of 32)
    detector.onnx    the person detector, if the model has one: input "image" (N, 3, H, W), N, H and W
                     dynamic (H, W multiples of 32: the backbone's deepest stride)

written by :func:`posekit.export.export_pipeline` (``posekit export WEIGHTS --format onnx --out DIR``); each network's
export is checked by running it in ONNX Runtime against PyTorch on two input sizes, and the whole pipeline
by predicting a photo with both backends. ``load_model(DIR)`` loads such a folder; ``load_model(weights,
backend="onnxruntime")`` exports once into posekit's cache (:mod:`posekit.runtime.cache`) and loads that.

Optional int8 (``quantize="int8"``): ONNX Runtime's static quantisation (QDQ, per-channel weights) with a
calibration set of training crops / training photos; its accuracy is measured in ``benchmarks/onnx.md``.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from pathlib import Path

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


def require(*modules: str) -> None:
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
        require("onnxruntime")
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
def quiet_exporter():
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
    require("onnx", "onnxruntime", "onnxscript")
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
        with quiet_exporter():
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
    """True when ``path`` is a folder written by :func:`posekit.export.export_pipeline`."""
    return Path(path).is_dir() and (Path(path) / MANIFEST).exists()
