"""A small load generator for a ``posekit serve`` server: C concurrent clients send N photo requests, a 503 is
retried after its ``Retry-After``, and every request's latency and final status are recorded.

Standard library only (threads + ``http.client``, one keep-alive connection per client), so it measures the
server, not a client library. Used by the CI load test (tests/serve/test_load.py) and benchmarks/serve_load.py;
also a way to size ``--workers`` for a machine::

    from posekit.serve.loadtest import run_load
    report = run_load("http://127.0.0.1:8000", [("a.jpg", open("a.jpg", "rb").read())], clients=16, requests=400)
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np


@dataclass
class LoadReport:
    """latencies: seconds per request, from its first send to its final answer (retries included).
    statuses: the final status of each request; retried_503: 503 answers that were retried; no_retry_after: 503
    answers without a Retry-After header; people: people found per answered request; seconds: wall time."""

    latencies: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    retried_503: int = 0
    no_retry_after: int = 0
    people: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict:
        lat = np.asarray(self.latencies) if self.latencies else np.zeros(1)
        return {"requests": len(self.statuses), "ok": self.statuses.count(200),
                "status_5xx": sum(s >= 500 for s in self.statuses), "lost": len(self.errors),
                "retried_503": self.retried_503, "seconds": round(self.seconds, 2),
                "throughput_per_s": round(len(self.latencies) / self.seconds, 3) if self.seconds else 0.0,
                "latency_p50_ms": round(float(np.percentile(lat, 50)) * 1000, 1),
                "latency_p95_ms": round(float(np.percentile(lat, 95)) * 1000, 1),
                "people": int(sum(self.people))}


def multipart_body(file_name: str, data: bytes, fields: dict[str, str] | None = None) -> tuple[bytes, str]:
    """A multipart/form-data body with ``data`` as the field ``image``: (body, content-type)."""
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in (fields or {}).items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{file_name}"\r\n'
                 "Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _client(url: str, jobs: list, lock: threading.Lock, report: LoadReport, headers: dict, timeout: float) -> None:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    while True:
        with lock:
            if not jobs:
                break
            body, content_type = jobs.pop()
        start = time.perf_counter()
        for _attempt in range(200):
            try:
                conn.request("POST", "/v1/predict", body, {"Content-Type": content_type, **headers})
                response = conn.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException) as e:  # a dropped connection: reconnect, count as lost
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
                with lock:
                    report.errors.append(f"{type(e).__name__}: {e}")
                break
            if response.status == 503:
                retry_after = response.getheader("Retry-After")
                with lock:
                    report.retried_503 += 1
                    report.no_retry_after += retry_after is None
                time.sleep(float(retry_after or 1))
                continue
            with lock:
                report.latencies.append(time.perf_counter() - start)
                report.statuses.append(response.status)
                if response.status == 200:
                    report.people.append(len(json.loads(payload)["results"]))
            break
    conn.close()


def run_load(url: str, photos: list[tuple[str, bytes]], clients: int, requests: int, token: str | None = None,
             timeout: float = 300.0) -> LoadReport:
    """Send ``requests`` photo requests (cycling through ``photos``) from ``clients`` concurrent clients."""
    bodies = [multipart_body(name, data) for name, data in photos]
    jobs = [bodies[i % len(bodies)] for i in range(requests)][::-1]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    report, lock = LoadReport(), threading.Lock()
    threads = [threading.Thread(target=_client, args=(url, jobs, lock, report, headers, timeout))
               for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report.seconds = time.perf_counter() - start
    return report
