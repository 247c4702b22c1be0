"""Checkpoint files: read without running code, weights copied into a model, configs restored, and slim
exports for prediction.

A posekit checkpoint is a ``torch.save``d dict with at least ``model`` (a state dict) and ``config`` (the
resolved config as plain containers); training checkpoints add the optimiser, the step, RNG states and the
git revision. Every file is read with ``weights_only=True``: tensors, plain containers, numbers, strings and
NumPy arrays only.
"""

from __future__ import annotations

import copy
import logging
import pickle
from pathlib import Path

import numpy as np
import torch

from posekit.config import Config, apply_overrides, from_dict
from posekit.skeletons import Skeleton, common_joints, get_skeleton
from posekit.zoo import resolve


def _numpy_array_globals() -> list:
    """What a pickled NumPy array needs (training checkpoints hold NumPy's RNG state): array
    reconstruction and dtypes only, nothing that can call arbitrary code."""
    core = getattr(np, "_core", None) or np.core
    return [core.multiarray._reconstruct, np.ndarray, np.dtype, type(np.dtype("uint32")), type(np.dtype("float64"))]


def safe_load(path: str | Path) -> dict:
    """``torch.load`` that never executes code from the file (``weights_only=True``: tensors, plain
    containers, numbers, strings and NumPy arrays only). A file that needs anything else -- such as a
    pickled object whose loading would run code -- is refused with a ValueError naming the file, and
    nothing in it runs."""
    try:
        with torch.serialization.safe_globals(_numpy_array_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).split("WeightsUnpickler error:")[-1].strip().splitlines()[0]
        raise ValueError(f"{path}: refused: the file holds more than weights and settings ({first}); posekit "
                         "never runs code from a checkpoint. Re-export it from a trusted copy with "
                         "'posekit export' or load it yourself if you trust its source") from None
    except (OSError, RuntimeError, EOFError) as e:
        raise ValueError(f"{path}: cannot read as a checkpoint: {e}") from None


def checked(state, path: str | Path) -> dict:
    """``state`` when it is a posekit checkpoint (a dict with 'model' and 'config'), else a ValueError."""
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise ValueError(f"{path}: not a posekit checkpoint (needs 'model' and 'config')")
    return state


def read_checkpoint(path: str | Path) -> dict:
    """A posekit checkpoint as a dict (on the CPU), loaded without executing code (:func:`safe_load`);
    anything else is a ValueError naming the file."""
    return checked(safe_load(path), path)


def load_state(model: torch.nn.Module, state: dict, path: str | Path, partial: bool = False,
               skeleton: Skeleton | None = None) -> None:
    """Copy checkpoint weights (float16 storage allowed) into ``model``; a mismatch names the file.
    ``partial``: copy only the tensors whose name and shape the model shares (fine-tuning a different
    head on the same backbone), logging what was left out; at least one tensor must fit. With ``skeleton`` (the
    model's) and a checkpoint trained on another skeleton, the per-joint output channels of the joints both
    skeletons have are copied by name too (:func:`remap_joint_channels`)."""
    weights = {k: v.float() if v.is_floating_point() else v for k, v in state["model"].items()}
    if partial:
        own = model.state_dict()
        trained_on = ((state.get("config") or {}).get("model") or {}).get("skeleton")
        if skeleton is not None and trained_on and trained_on != skeleton.name:
            weights = remap_joint_channels(weights, own, get_skeleton(trained_on), skeleton)
        fitting = {k: v for k, v in weights.items() if k in own and own[k].shape == v.shape}
        if not fitting:
            raise ValueError(f"{path}: no weight fits the model (not even partially)")
        left = sorted(set(own) - set(fitting))
        if left:
            logging.getLogger(__name__).warning("%s: %d of %d model tensors start fresh (e.g. %s)", path,
                                                len(left), len(own), ", ".join(left[:4]))
        own.update(fitting)
        weights = own
    try:
        model.load_state_dict(weights)
    except RuntimeError as e:
        raise ValueError(f"{path}: weights do not fit the model: {str(e).splitlines()[0]}") from None


def remap_joint_channels(weights: dict, own: dict, src: Skeleton, dst: Skeleton) -> dict:
    """``weights`` of a network trained on skeleton ``src`` with its per-joint output tensors re-expressed for
    ``dst``: a tensor whose first dimension is m x K_src where the model's (``own``) is m x K_dst (m = 1: a
    heatmap channel per joint; m = 2: an offset pair per joint, joint-major) starts from the model's own values,
    and the rows of every joint both skeletons have are copied from the checkpoint by name."""
    pairs = common_joints(src, dst)
    out = dict(weights)
    for name, tensor in weights.items():
        mine = own.get(name)
        if mine is None or mine.shape == tensor.shape or mine.shape[1:] != tensor.shape[1:]:
            continue
        for m in (1, 2):
            if tensor.shape[0] == m * src.num_joints and mine.shape[0] == m * dst.num_joints:
                new = mine.clone()
                for i, j in pairs:
                    new[j * m:(j + 1) * m] = tensor[i * m:(i + 1) * m]
                out[name] = new
                break
    return out


def stored_config(state: dict, overrides: list[str] | None = None) -> tuple[dict, Config]:
    """A checkpoint's stored config with dotted ``overrides`` applied, as a plain dict (what a checkpoint
    stores) and validated as a :class:`Config` (a bad key or value fails here)."""
    config = apply_overrides(copy.deepcopy(state["config"]), overrides or [])
    return config, from_dict(Config, config)


def export_checkpoint(checkpoint: str | Path, out: str | Path, half: bool = True,
                      overrides: list[str] | None = None) -> Path:
    """Keep only what prediction needs from a training checkpoint: the weights (float16 storage by
    default: half the size, no measurable accuracy change; loaded back as float32), the resolved
    config (with dotted ``overrides`` applied, e.g. ``predict.refine_steps=4``), the step and the git
    revision it was trained at, and a detector's score calibration."""
    state = read_checkpoint(checkpoint)
    config, _ = stored_config(state, overrides)  # a bad override fails here, not when the export is loaded
    weights = {k: v.half() if half and v.is_floating_point() else v for k, v in state["model"].items()}
    slim = {"model": weights, "config": config, "step": state.get("step"),
            "git_revision": state.get("git_revision"), "best_val": state.get("best_val")}
    if state.get("calibration") is not None:  # a detector's score calibration (benchmarks/tune_pipeline.py)
        slim["calibration"] = [float(v) for v in state["calibration"]]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(slim, out)
    return out


def to_storable(obj):
    """NumPy arrays (and NumPy scalars) -> tensors / Python numbers, recursively through dicts and lists: what
    a weights file of the classic methods or DeepCut holds, so it loads with ``weights_only=True``."""
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


def locate(name_or_path: str | Path) -> Path:
    """The file a model argument means: an existing path, else a name of the model zoo (:mod:`posekit.zoo`);
    a FileNotFoundError listing the zoo's names otherwise."""
    path = Path(name_or_path)
    return path if path.exists() else resolve(str(name_or_path))


def load_weights(model: torch.nn.Module, name_or_path: str | Path, partial: bool = False,
                 skeleton: Skeleton | None = None) -> None:
    """Initialise ``model`` from a checkpoint's (or a zoo model's) weights; ``partial`` copies only the
    tensors that fit, and with the model's ``skeleton`` the output channels of shared joints (:func:`load_state`)."""
    path = locate(name_or_path)
    load_state(model, read_checkpoint(path), path, partial, skeleton)
