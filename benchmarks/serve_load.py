"""Load on ``posekit serve`` over loopback (issue 21, "Load"): 16 concurrent clients send 400 COCO-mini photo
requests; none may be lost and none may get a 5xx. Reports p50/p95 latency, the server's throughput against
calling ``predict()`` directly in a loop at the same thread count (target >= 0.8x), and the RSS growth of the server
process over 1,000 requests (target < 50 MB).

    python benchmarks/serve_load.py --workers 2 --threads 1        # -> benchmarks/serve_load.json, serve.md

The server runs as its own process (``python -m posekit serve``), started and stopped here; RSS is read from
/proc/<pid>/status after a warm-up (every photo twice) and every 200 requests after it, up to 1,000 (the 400
measured ones first). The direct baseline runs the same photos through ``predict()`` at the same total thread
count both ways (one predictor with all the threads; one loop per worker) and the ratio is taken against the faster.
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


def direct_loop(photos: list[tuple[str, bytes]], requests: int, loops: int, threads: int, backend: str) -> dict:
    """The same photos through ``predict()`` in plain loops (decoding included, as the server does): ``loops``
    Python threads, each with its own predictor of ``threads`` network threads, share the ``requests``."""
    import threading

    import torch

    from posekit.api import load_model

    torch.set_num_threads(loops * threads)
    predictors = [load_model("default", backend=backend, threads=threads) for _ in range(loops)]
    for predictor in predictors:
        for _, data in photos:  # warm-up over every photo size, as the server's
            predictor.predict(cv2.imdecode(_array(data), cv2.IMREAD_COLOR))
    people = [0] * loops

    def loop(k: int) -> None:
        for i in range(k, requests, loops):
            image = cv2.imdecode(_array(photos[i % len(photos)][1]), cv2.IMREAD_COLOR)
            people[k] += len(predictors[k].predict(image))

    threads_ = [threading.Thread(target=loop, args=(k,)) for k in range(loops)]
    start = time.perf_counter()
    for t in threads_:
        t.start()
    for t in threads_:
        t.join()
    seconds = time.perf_counter() - start
    return {"requests": requests, "loops": loops, "threads_per_loop": threads, "seconds": round(seconds, 2),
            "throughput_per_s": round(requests / seconds, 3), "people": sum(people)}


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
        # warm-up: every photo twice, so each worker has met every input size (ONNX Runtime's arena and the
        # allocator grow to the largest shapes once; growth after that is what would grow without bound)
        run_load(url, photos, args.clients, 2 * len(photos))
        rss = [(0, round(rss_mb(server.pid), 1))]
        measured = run_load(url, photos, args.clients, args.requests)
        rss.append((args.requests, round(rss_mb(server.pid), 1)))
        rest = []
        while rss[-1][0] < args.rss_requests:
            n = min(200, args.rss_requests - rss[-1][0])
            rest.append(run_load(url, photos, args.clients, n).summary())
            rss.append((rss[-1][0] + n, round(rss_mb(server.pid), 1)))
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
    # the same thread count two ways: one predictor with every thread, and one loop per worker as the server runs
    direct = [direct_loop(photos, args.requests, 1, args.workers * args.threads, args.backend),
              direct_loop(photos, args.requests, args.workers, args.threads, args.backend)]
    served = measured.summary()
    best = max(d["throughput_per_s"] for d in direct)
    row = {"command": "python benchmarks/serve_load.py " + " ".join(sys.argv[1:]), **provenance(),
           "settings": {k: getattr(args, k) for k in ("workers", "threads", "queue_size", "clients", "requests",
                                                      "rss_requests", "backend")},
           "photos": f"COCO-mini val2017, {len(photos)} photos cycled", "served": served,
           "rss_phase": rest, "direct": direct,
           "throughput_ratio": round(served["throughput_per_s"] / best, 3),
           "rss_mb": {"after_warmup": rss[0][1], "after_requests": rss[-1][1],
                      "growth": round(rss[-1][1] - rss[0][1], 1),
                      "max_growth": round(max(r for _, r in rss) - rss[0][1], 1), "requests": args.rss_requests,
                      "curve": rss},
           "provisional": "taken while other work used the same 2 CPU cores; to be re-run on an idle machine"}
    row["targets"] = {"none_lost_no_5xx": all(r["lost"] == 0 and r["status_5xx"] == 0 for r in [served, *rest]),
                      "throughput_ratio_ge_0.8": row["throughput_ratio"] >= 0.8,
                      "rss_growth_lt_50mb": row["rss_mb"]["growth"] < 50}
    Path(args.out).write_text(json.dumps(row, indent=2))
    print(json.dumps(row, indent=2))


if __name__ == "__main__":
    main()
