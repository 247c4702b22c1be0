"""Load on ``posekit serve`` over loopback (issue 21, "Load"): 16 concurrent clients send 400 COCO-mini photo
requests; none may be lost and none may get a 5xx. Reports p50/p95 latency, the server's throughput against
calling ``predict()`` directly in a loop at the same thread count (target >= 0.8x), and the RSS growth of the server
process over 1,000 requests (target < 50 MB).

    python benchmarks/serve_load.py --workers 2 --threads 1        # -> benchmarks/serve_load.json, serve.md

The server runs as its own process (``python -m posekit serve``), started and stopped here; RSS is read from
/proc/<pid>/status after a 32-request warm-up and again after 1,000 more requests (the 400 measured ones first).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
from bench_utils import provenance

from posekit.serve.loadtest import run_load

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def start_server(args, port: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "posekit", "serve", "--port", str(port), "--workers", str(args.workers),
               "--threads", str(args.threads), "--queue-size", str(args.queue_size), "--backend", args.backend]
    server = subprocess.Popen(command, env=os.environ.copy())
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                if json.loads(r.read())["ready"]:
                    return server
        except OSError:
            pass
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with status {server.returncode}")
        time.sleep(0.5)
    server.kill()
    raise RuntimeError("the server did not get ready in 300 s")


def direct_loop(photos: list[tuple[str, bytes]], requests: int, threads: int, backend: str) -> dict:
    """The same photos through ``predict()`` in a plain loop (decoding included, as the server does)."""
    import torch

    from posekit.api import load_model

    torch.set_num_threads(threads)
    predictor = load_model("default", backend=backend, threads=threads)
    for _, data in photos[:8]:  # warm-up, as the server's
        predictor.predict(cv2.imdecode(_array(data), cv2.IMREAD_COLOR))
    start = time.perf_counter()
    people = 0
    for i in range(requests):
        people += len(predictor.predict(cv2.imdecode(_array(photos[i % len(photos)][1]), cv2.IMREAD_COLOR)))
    seconds = time.perf_counter() - start
    return {"requests": requests, "threads": threads, "seconds": round(seconds, 2),
            "throughput_per_s": round(requests / seconds, 3), "people": people}


def _array(data: bytes) -> np.ndarray:
    return np.frombuffer(data, np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.environ.get("POSEKIT_DATA", "../shared/datasets"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="network threads per worker")
    parser.add_argument("--queue-size", type=int, default=16)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rss-requests", type=int, default=1000)
    parser.add_argument("--backend", default="onnxruntime")
    parser.add_argument("--out", default=str(HERE / "serve_load.json"))
    args = parser.parse_args()

    photos = [(p.name, p.read_bytes()) for p in sorted((Path(args.data) / "coco_mini" / "val2017").glob("*.jpg"))]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(args, port)
    try:
        run_load(url, photos, args.clients, 32)  # warm-up: every worker has posed a few photos
        rss_start = rss_mb(server.pid)
        measured = run_load(url, photos, args.clients, args.requests)
        rest = run_load(url, photos, args.clients, max(0, args.rss_requests - args.requests))
        rss_end = rss_mb(server.pid)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
    direct = direct_loop(photos, args.requests, args.workers * args.threads, args.backend)
    served = measured.summary()
    row = {"command": "python benchmarks/serve_load.py " + " ".join(sys.argv[1:]), **provenance(),
           "settings": {k: getattr(args, k) for k in ("workers", "threads", "queue_size", "clients", "requests",
                                                      "rss_requests", "backend")},
           "photos": f"COCO-mini val2017, {len(photos)} photos cycled", "served": served,
           "rss_phase": rest.summary(), "direct": direct,
           "throughput_ratio": round(served["throughput_per_s"] / direct["throughput_per_s"], 3),
           "rss_mb": {"after_warmup": round(rss_start, 1), "after_requests": round(rss_end, 1),
                      "growth": round(rss_end - rss_start, 1), "requests": args.rss_requests},
           "provisional": "taken while other work used the same 2 CPU cores; to be re-run on an idle machine"}
    row["targets"] = {"none_lost_no_5xx": served["lost"] == 0 and served["status_5xx"] == 0
                      and row["rss_phase"]["lost"] == 0 and row["rss_phase"]["status_5xx"] == 0,
                      "throughput_ratio_ge_0.8": row["throughput_ratio"] >= 0.8,
                      "rss_growth_lt_50mb": row["rss_mb"]["growth"] < 50}
    Path(args.out).write_text(json.dumps(row, indent=2))
    print(json.dumps(row, indent=2))


if __name__ == "__main__":
    main()
