"""Named models (interim: the weights shipped in the package, by file name)."""

from __future__ import annotations

import hashlib
from pathlib import Path

WEIGHTS_DIR = Path(__file__).parent / "weights"


def resolve(name: str) -> Path:
    shipped = WEIGHTS_DIR / f"{name}.pt"
    if shipped.exists():
        return shipped
    known = sorted(p.stem for p in WEIGHTS_DIR.glob("*.pt"))
    raise FileNotFoundError(f"no model {name!r}: not a file, and not a shipped model (shipped: {known})")


def sha256_file(path: str | Path) -> str:
    """The sha256 of a file's bytes, as hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
