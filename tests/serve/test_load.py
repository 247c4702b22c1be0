"""The short load test CI runs: 4 clients, 24 photo requests from COCO-mini on the live server: none lost, no 5xx,
every 503 carried Retry-After and was retried. The long form (16 clients, 400 requests, latency, throughput against
predict() in a loop, RSS over 1,000 requests) is benchmarks/serve_load.py."""

from __future__ import annotations

from posekit.serve.loadtest import run_load


def test_a_short_burst_is_answered_in_full(live, client, data_root):
    photos = sorted((data_root / "coco_mini" / "val2017").glob("*.jpg"))[:6]
    report = run_load(live, [(p.name, p.read_bytes()) for p in photos], clients=4, requests=24)
    summary = report.summary()
    assert summary["requests"] == 24 and summary["ok"] == 24, summary
    assert summary["lost"] == 0 and summary["status_5xx"] == 0 and report.no_retry_after == 0, summary
    assert summary["people"] > 0
    health = client.get("/healthz").json()
    assert health["busy"] == 0 and health["queued"] == 0
