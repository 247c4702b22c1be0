"""Shared test fixtures.

``data_root``: the real datasets folder -- ``$POSEKIT_DATA`` if set, else ``<repo>/../shared/datasets``
(resolved from this file's location, so it does not depend on the working directory). Tests that need
it are skipped, with the reason, only when the folder is absent.
``untrained_checkpoint``: writes a randomly initialised model of a config as a checkpoint; ``tiny_topdown``: one
such checkpoint of a tiny top-down network (plumbing tests: coordinate frames and outputs, not accuracy).
``_private_cache`` (autouse): ``$POSEKIT_CACHE`` points at one temporary folder per test session, so the
ONNX exports and crop caches tests make never land in the real ``~/.cache/posekit``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def find_data_root() -> Path:
    env = os.environ.get("POSEKIT_DATA")
    if env:
        return Path(env).expanduser().resolve()
    return (REPO.parent / "shared" / "datasets").resolve()


@pytest.fixture(scope="session")
def _session_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("posekit_cache")


@pytest.fixture(autouse=True)
def _private_cache(_session_cache, monkeypatch) -> Path:
    """Every test sees ``$POSEKIT_CACHE`` = the session's temporary cache folder (a test may set its own)."""
    monkeypatch.setenv("POSEKIT_CACHE", str(_session_cache))
    return _session_cache


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = find_data_root()
    if not root.is_dir():
        pytest.skip(f"datasets folder {root} not found (set POSEKIT_DATA to the shared datasets folder)")
    return root


@pytest.fixture(scope="session")
def untrained_checkpoint():
    """``save(path, overrides) -> path``: the model of the default config with dotted ``overrides``,
    randomly initialised with seed 0, written as a checkpoint ``load_model`` reads (weights + config)."""
    import torch

    from posekit.config import load_config, to_dict
    from posekit.train import build_model

    def save(path: Path, overrides: list[str]) -> Path:
        torch.manual_seed(0)
        cfg = load_config(None, overrides)
        torch.save({"model": build_model(cfg).state_dict(), "config": to_dict(cfg)}, path)
        return path

    return save


#: a top-down network small enough to run in milliseconds (random weights: for plumbing tests)
TINY_TOPDOWN = ["model.kwargs={widths: [8, 8, 16, 16, 32], blocks: [1, 1, 1, 1], head_width: 8}",
                "codec.input_size=[64,64]", "codec.heatmap_size=[16,16]"]


@pytest.fixture(scope="session")
def tiny_topdown(tmp_path_factory, untrained_checkpoint) -> Path:
    return untrained_checkpoint(tmp_path_factory.mktemp("tiny_topdown") / "tiny.pt", TINY_TOPDOWN)
