"""Load on ``posekit serve`` over loopback (issue 21, "Load"): 16 concurrent clients send 400 COCO-mini photo
requests; none may be lost and none may get a 5xx. Reports p50/p95 latency, the server's throughput against
calling ``predict()`` directly in a loop at the same thread count (target >= 0.8x), and the RSS growth of the server
process over 1,000 requests (target < 50 MB).

    python benchmarks/serve_load.py --workers 2 --threads 1        # -> benchmarks/serve_load.json, serve.md

The server runs as its own process (``python -m posekit serve``), started and stopped here; RSS is read from
/proc/<pid>/status after a warm-up (every photo 5 times) and every 200 requests after it, up to 1,000 (the 400
measured ones first). The direct baseline runs the same photos through ``predict()`` at the same total thread
count both ways (one predictor with all the threads; one loop per worker), in chunks taking turns with the served
ones (the machine's other load drifts), and the ratio is taken against the faster.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
from bench_utils import provenance

from posekit.serve.loadtest import LoadReport, run_load

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


class Direct:
    """The same photos through ``predict()`` in plain loops (decoding included, as the server does): ``loops``
    Python threads, each with its own predictor of ``threads`` network threads, share the requests."""

    def __init__(self, photos: list[tuple[str, bytes]], loops: int, threads: int, backend: str) -> None:
        from posekit.api import load_model

        self.photos, self.loops, self.threads = photos, loops, threads
        self.predictors = [load_model("default", backend=backend, threads=threads) for _ in range(loops)]
        for predictor in self.predictors:
            for _, data in photos:  # warm-up over every photo size, as the server's
                predictor.predict(cv2.imdecode(_array(data), cv2.IMREAD_COLOR))
        self.seconds, self.requests, self.people = 0.0, 0, 0

    def run(self, requests: int) -> None:
        """``requests`` photos (cycled from the first, as :func:`run_load` sends them), timed."""
        people = [0] * self.loops

        def loop(k: int) -> None:
            for i in range(k, requests, self.loops):
                image = cv2.imdecode(_array(self.photos[i % len(self.photos)][1]), cv2.IMREAD_COLOR)
                people[k] += len(self.predictors[k].predict(image))

        workers = [threading.Thread(target=loop, args=(k,)) for k in range(self.loops)]
        start = time.perf_counter()
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        self.seconds += time.perf_counter() - start
        self.requests += requests
        self.people += sum(people)

    def summary(self) -> dict:
        return {"requests": self.requests, "loops": self.loops, "threads_per_loop": self.threads,
                "seconds": round(self.seconds, 2), "throughput_per_s": round(self.requests / self.seconds, 3),
                "people": self.people}


def merged(reports: list[LoadReport]) -> LoadReport:
    out = LoadReport()
    for r in reports:
        out.latencies += r.latencies
        out.statuses += r.statuses
        out.people += r.people
        out.errors += r.errors
        out.retried_503 += r.retried_503
        out.no_retry_after += r.no_retry_after
        out.seconds += r.seconds
    return out


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
    parser.add_argument("--rounds", type=int, default=4, help="served and direct chunks taking turns")
    parser.add_argument("--warmup-passes", type=int, default=5, help="passes over the photos before RSS is read")
    parser.add_argument("--backend", default="onnxruntime")
    parser.add_argument("--out", default=str(HERE / "serve_load.json"))
    args = parser.parse_args()
    load_before = os.getloadavg()  # other work on the machine skews every figure: say how idle it was

    photos = [(p.name, p.read_bytes()) for p in sorted((Path(args.data) / "coco_mini" / "val2017").glob("*.jpg"))]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(args, port)
    try:
        # warm-up: every photo --warmup-passes times, so each worker has met every input size at full concurrency
        # (ONNX Runtime's arena and the allocator's per-thread arenas grow to a plateau first; in earlier runs 2
        # passes ended anywhere between 796 and 952 MB while the plateau was 930-990 MB; growth after the plateau
        # is what would grow without bound)
        run_load(url, photos, args.clients, args.warmup_passes * len(photos))
        rss = [(0, round(rss_mb(server.pid), 1))]
        # the same thread count two ways: one predictor with every thread, and one loop per worker as the server
        # runs; served and direct chunks take turns, so a change in the machine's other load hits both alike
        direct = [Direct(photos, 1, args.workers * args.threads, args.backend),
                  Direct(photos, args.workers, args.threads, args.backend)]
        chunks = []
        for _ in range(args.rounds):
            chunks.append(run_load(url, photos, args.clients, args.requests // args.rounds))
            for d in direct:
                d.run(args.requests // args.rounds)
        measured = merged(chunks)
        rss.append((len(measured.statuses), round(rss_mb(server.pid), 1)))
        rest = []
        while rss[-1][0] < args.rss_requests:
            n = min(200, args.rss_requests - rss[-1][0])
            rest.append(run_load(url, photos, args.clients, n).summary())
            rss.append((rss[-1][0] + n, round(rss_mb(server.pid), 1)))
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
    served = measured.summary()
    direct = [d.summary() for d in direct]
    best = max(d["throughput_per_s"] for d in direct)
    row = {"command": "python benchmarks/serve_load.py " + " ".join(sys.argv[1:]), **provenance(),
           "settings": {k: getattr(args, k) for k in ("workers", "threads", "queue_size", "clients", "requests",
                                                      "rss_requests", "rounds", "warmup_passes", "backend")},
           "photos": f"COCO-mini val2017, {len(photos)} photos cycled", "served": served,
           "rss_phase": rest, "direct": direct,
           "throughput_ratio": round(served["throughput_per_s"] / best, 3),
           "rss_mb": {"after_warmup": rss[0][1], "after_requests": rss[-1][1],
                      "growth": round(rss[-1][1] - rss[0][1], 1),
                      "max_growth": round(max(r for _, r in rss) - rss[0][1], 1), "requests": args.rss_requests,
                      "curve": rss},
           "load_average_before": [round(v, 2) for v in load_before]}
    row["targets"] = {"none_lost_no_5xx": all(r["lost"] == 0 and r["status_5xx"] == 0 for r in [served, *rest]),
                      "throughput_ratio_ge_0.8": row["throughput_ratio"] >= 0.8,
                      "rss_growth_lt_50mb": row["rss_mb"]["growth"] < 50}
    Path(args.out).write_text(json.dumps(row, indent=2))
    print(json.dumps(row, indent=2))


if __name__ == "__main__":
    main()
