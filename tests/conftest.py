"""Shared test fixtures.

``data_root``: the real datasets folder -- ``$POSEKIT_DATA`` if set, else ``<repo>/../shared/datasets``
(resolved from this file's location, so it does not depend on the working directory). Tests that need
it are skipped, with the reason, only when the folder is absent.
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
def data_root() -> Path:
    root = find_data_root()
    if not root.is_dir():
        pytest.skip(f"datasets folder {root} not found (set POSEKIT_DATA to the shared datasets folder)")
    return root
