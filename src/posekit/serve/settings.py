"""The server's settings (what ``posekit serve``'s flags set), with the safe defaults, and the bind check."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class ServeSettings:
    """model: the model the page and the API use when a request names none (a zoo name).
    host, port: where to listen; anything but loopback needs ``token``.
    token: when set, every /v1 call needs ``Authorization: Bearer <token>``.
    workers: prediction threads, each with its own predictors. threads: ONNX Runtime / PyTorch threads per worker
        (None = CPU cores // workers, so the workers together use the machine once, not ``workers`` times).
    queue_size: requests allowed to wait for a worker (None = 4 x workers); more get 503 + Retry-After.
    max_models: models each worker keeps loaded (least recently used dropped).
    max_upload_mb / max_video_mb: the size limit of a photo / a video upload. max_pixels: of a photo or a frame.
    max_frames: of a video. timeout: seconds a ``/v1/predict`` request may take (504 after); job_timeout: a job's.
    max_jobs, job_ttl: video jobs held at once, and seconds a finished job's files are kept.
    backend: what runs the networks (as ``load_model``'s). preload: every worker loads ``model`` at start (else on
        its first request, which then pays for the loading).
    upload_dir: where each request's temporary folder is made (None = the system's temporary folder).
    """

    model: str = "default"
    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    workers: int = 1
    threads: int | None = None
    queue_size: int | None = None
    max_models: int = 2
    max_upload_mb: float = 50.0
    max_video_mb: float = 200.0
    max_pixels: int = 50_000_000
    max_frames: int = 5000
    timeout: float = 60.0
    job_timeout: float = 1800.0
    max_jobs: int = 8
    job_ttl: float = 600.0
    backend: str = "auto"
    preload: bool = True
    upload_dir: str | None = None

    @property
    def threads_per_worker(self) -> int:
        return self.threads or max(1, (os.cpu_count() or 1) // self.workers)

    @property
    def queue_limit(self) -> int:
        return self.queue_size or 4 * self.workers

    def upload_limits(self) -> dict[str, int]:
        """Bytes allowed per file field (``file`` may hold either kind: the video limit, and the photo limit is
        checked once its bytes say it is a photo)."""
        photo, video = int(self.max_upload_mb * 1e6), int(self.max_video_mb * 1e6)
        return {"image": photo, "video": video, "file": max(photo, video)}

    def check(self) -> None:
        """ValueError for settings the server must not start with (a public address without a token ...)."""
        if not is_loopback(self.host) and not self.token:
            raise ValueError(f"--host {self.host} is reachable from other machines: posekit serve binds to it only "
                             "with --token SECRET (then every API call needs 'Authorization: Bearer SECRET'); "
                             "or keep the default --host 127.0.0.1")
        if self.token is not None and len(self.token) < 8:
            raise ValueError("--token must be at least 8 characters (e.g. python -c 'import secrets; "
                             "print(secrets.token_urlsafe())')")
        for name in ("workers", "max_models", "max_frames", "max_jobs", "max_pixels"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        for name in ("max_upload_mb", "max_video_mb", "timeout", "job_timeout", "job_ttl"):
            if not getattr(self, name) > 0:
                raise ValueError(f"--{name.replace('_', '-')} must be > 0, got {getattr(self, name)}")


def is_loopback(host: str) -> bool:
    """Whether ``host`` is only reachable from this machine (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False
