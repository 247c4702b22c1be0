"""Helpers shared by the benchmark scripts: where a figure was measured (:func:`provenance`: git revision, date,
machine), latency medians and a training run's cost read back from its metrics.jsonl."""

from __future__ import annotations

import datetime
import json
import platform
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

#: one JSON file per row of the algorithm comparison (benchmarks/algorithms.py report gathers them)
ROWS_DIR = Path(__file__).parent / "algorithms"


def save_row(row: dict) -> dict:
    """Stamp a comparison row with :func:`provenance` (git revision, date, machine), write it to
    ``algorithms/<name>.json`` and return it."""
    row = {**row, **provenance()}
    ROWS_DIR.mkdir(parents=True, exist_ok=True)
    (ROWS_DIR / f"{row['name']}.json").write_text(json.dumps(row, indent=1))
    return row


class Thresholded:
    """A predictor's people (computed once per image, at its own lowest threshold) scoring at least ``threshold``:
    every person threshold of a sweep scored from one prediction pass (a threshold only drops people)."""

    def __init__(self, predictor) -> None:
        self.predictor, self.skeleton, self.padding = predictor, predictor.skeleton, predictor.padding
        self.threshold, self._seen = 0.0, {}

    def predict(self, image, boxes=None) -> list:
        if boxes is not None:
            raise ValueError("whole images only")
        if str(image) not in self._seen:
            self._seen[str(image)] = self.predictor.predict(image)
        return [p for p in self._seen[str(image)] if p.score >= self.threshold]


def git_revision() -> str:
    """The commit the measured code is at (``git rev-parse HEAD`` of this repository), with ``-dirty`` appended when
    ``src/`` or ``configs/`` hold uncommitted changes; ``"unknown"`` outside a git checkout."""
    repo = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "src", "configs"],
                               cwd=repo, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def provenance() -> dict:
    """{"git_revision", "date", "machine"}: what every benchmark JSON records about where its figures come from."""
    return {"git_revision": git_revision(), "date": datetime.date.today().isoformat(), "machine": machine()}


def machine() -> str:
    """CPU model, torch threads, OS and torch version, for the 'machine it ran on' line."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    system = f"{platform.system()} {platform.machine()}"
    return f"{cpu}, {torch.get_num_threads()} threads, {system}, torch {torch.__version__}"


def median_ms(fn, warmup: int = 10, repeats: int = 50) -> float:
    """Median wall time of ``fn()`` in milliseconds after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - t0))
    return statistics.median(times)


def training_summary(log: Path) -> dict:
    """Wall clock and throughput of a training run from its metrics.jsonl. Wall clock sums the gaps
    between consecutive records, leaving out pauses over 5 minutes (stopped and resumed runs)."""
    records = [json.loads(x) for x in Path(log).read_text().splitlines() if x.strip()]
    steps = [r for r in records if "images_per_s" in r]
    vals = [r for r in records if "val_pck" in r]
    gaps = np.diff([r["time"] for r in records])
    return {
        "steps": steps[-1]["step"],
        "wall_clock_min": round(float(gaps[(gaps > 0) & (gaps < 300)].sum()) / 60, 1),
        "images_per_s_median": round(statistics.median(r["images_per_s"] for r in steps), 1),
        "best_val_pck@0.2": max(r["val_pck"] for r in vals) if vals else None,
    }
