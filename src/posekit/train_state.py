"""What a training checkpoint holds besides the weights, and the checks of an exact resume: the random-number
states saved and restored, the config keys a resumed run may change, atomic checkpoint writes and the git
revision recorded for provenance.
"""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path

import numpy as np
import torch

#: config keys a resumed run may change: they decide when and where work happens, not what is computed
RESUME_SAFE_KEYS = frozenset({
    "train.time_limit_min", "train.stop_after", "train.log_every", "train.checkpoint_every", "train.eval_every",
    "train.threads", "train.device", "data.num_workers", "data.cache", "data.cache_dir", "data.cache_max_gb",
    "data.root", "predict",
})


def changed_keys(stored: dict, current: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two config dicts, leaving out :data:`RESUME_SAFE_KEYS`."""
    out = []
    for key in sorted(set(stored) | set(current)):
        name = f"{prefix}{key}"
        if name in RESUME_SAFE_KEYS:
            continue
        a, b = stored.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += changed_keys(a, b, name + ".")
        elif a != b and not (a is None and key not in stored):
            out.append(f"{name} ({a!r} -> {b!r})")
    return out


def git_revision() -> str:
    try:
        return subprocess.check_output(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                                       stderr=subprocess.DEVNULL, text=True).strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def save_checkpoint(path: Path, state: dict) -> None:
    """Write atomically: a crash mid-write leaves the previous checkpoint intact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)



def rng_state() -> dict:
    """The Python, NumPy, torch CPU and (when present) CUDA random-number states."""
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` returned."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
