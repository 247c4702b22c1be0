"""Images/s of ``posekit predict --out`` with one process vs ``--workers 2 --threads 1`` vs ``predict()`` in a
loop, on the first N LSP test images (whole runs, wall clock: process start and model load included).

Run: PYTHONPATH=src python benchmarks/batch_workers.py [--images 200] -> benchmarks/batch_workers.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_utils import provenance

HERE = Path(__file__).resolve().parent


def _cli(listing: Path, out: Path, extra: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": str(HERE.parent / "src")}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "posekit", "predict", f"@{listing}", "--out", str(out), *extra],
                   env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def _loop(images: list[Path], threads: int) -> float:
    import torch

    from posekit.api import load_model

    torch.set_num_threads(threads)
    start = time.perf_counter()
    predictor = load_model("default", threads=threads)
    for p in images:
        predictor.predict(p)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=200)
    args = parser.parse_args()
    data = Path(os.environ.get("POSEKIT_DATA", HERE.parent.parent / "shared" / "datasets"))
    images = sorted((data / "lsp" / "images").glob("im*.jpg"))[1000:1000 + args.images]  # LSP's test half
    work = Path(tempfile.mkdtemp())
    listing = work / "list.txt"
    listing.write_text("".join(f"{p}\n" for p in images))
    _cli(listing, work / "warm", ["--threads", "1"])  # the ONNX export, once, outside the timings
    first = work / "first.txt"  # one image: the fixed cost (interpreter, imports, model load, worker spawn)
    first.write_text(f"{images[0]}\n")
    cores = os.cpu_count()
    configs = {"out_1_process": ["--threads", str(cores)],
               "out_workers_2_threads_1": ["--workers", "2", "--threads", "1"]}
    runs = {"predict_loop": _loop(images, cores)}
    startup = {}
    for name, extra in configs.items():
        startup[name] = _cli(first, work / f"{name}-1", extra)
        runs[name] = _cli(listing, work / name, extra)
    shutil.rmtree(work)
    result = {"images": len(images), "cores": cores, "model": "default",
              "seconds": {k: round(v, 2) for k, v in runs.items()},
              "images_per_s": {k: round(len(images) / v, 2) for k, v in runs.items()},
              "one_image_seconds": {k: round(v, 2) for k, v in startup.items()},
              "images_per_s_after_startup": {k: round((len(images) - 1) / (runs[k] - startup[k]), 2)
                                             for k in startup},
              "note": "provisional: a 2-core machine shared with other jobs; seconds/images_per_s: wall clock "
                      "incl. process start and model load (predict_loop: model load, not the imports); "
                      "after_startup: (images - 1) / (run - one-image run)", **provenance()}
    (HERE / "batch_workers.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
