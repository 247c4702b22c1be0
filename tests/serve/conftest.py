"""A real ``posekit serve`` on 127.0.0.1 and a free port, shared by the serve tests (the default model loads once
per worker per session).

``live``: the base URL of a server started with small limits (3 MB photos, 12 MB videos, 20 megapixels) so the
limit tests need no large files. ``serving(settings)``: a context manager that runs another app the same way.
``clip``: a short video of people walking.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from contextlib import contextmanager

import cv2
import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install 'posekit[serve]')")
import httpx  # noqa: E402
import uvicorn  # noqa: E402

from posekit.serve.app import create_app  # noqa: E402
from posekit.serve.settings import ServeSettings  # noqa: E402

LIMITS = dict(max_upload_mb=3.0, max_video_mb=12.0, max_pixels=20_000_000, max_frames=400, timeout=60.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(settings: ServeSettings, ready_timeout: float = 120.0):
    """Run the app of ``settings`` with uvicorn in a thread until the block ends; yields its base URL once every
    worker has loaded the default model."""
    settings = ServeSettings(**{**settings.__dict__, "host": "127.0.0.1", "port": free_port()})
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host=settings.host, port=settings.port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{settings.port}"
    headers = {"Authorization": f"Bearer {settings.token}"} if settings.token else {}
    deadline = time.time() + ready_timeout
    try:
        while True:
            try:
                health = httpx.get(f"{url}/healthz", headers=headers, timeout=5).json()
                if health.get("ready") or not settings.preload:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline:
                raise RuntimeError(f"posekit serve did not get ready within {ready_timeout:.0f} s")
            time.sleep(0.2)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="session")
def upload_dir(tmp_path_factory):
    """Where the live server makes its uploads' temporary folders (its own: other servers may run here)."""
    return tmp_path_factory.mktemp("uploads")


@pytest.fixture(scope="session")
def live(_session_cache, data_root, upload_dir):
    """Base URL of a session-wide server: default model, 2 workers x 1 thread, the small :data:`LIMITS`."""
    old = os.environ.get("POSEKIT_CACHE")
    os.environ["POSEKIT_CACHE"] = str(_session_cache)  # the workers load (and export) the model in their threads
    try:
        with serving(ServeSettings(workers=2, threads=1, queue_size=8, upload_dir=str(upload_dir), **LIMITS)) as url:
            yield url
    finally:
        if old is None:
            os.environ.pop("POSEKIT_CACHE", None)
        else:
            os.environ["POSEKIT_CACHE"] = old


@pytest.fixture(scope="session")
def serve_app():
    """:func:`serving`, for tests that start a server of their own settings."""
    return serving


@pytest.fixture
def client(live):
    with httpx.Client(base_url=live, timeout=120) as c:
        yield c


@pytest.fixture(scope="session")
def clip(data_root, tmp_path_factory):
    """The first 6 frames of vtest.avi at half size (384 x 288, 3-4 walkers), as an MJPG AVI."""
    path = tmp_path_factory.mktemp("clip") / "walkers.avi"
    cap = cv2.VideoCapture(str(data_root / "unlabeled" / "vtest.avi"))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (384, 288))
    for _ in range(6):
        ok, frame = cap.read()
        assert ok
        writer.write(cv2.resize(frame, (384, 288)))
    writer.release()
    cap.release()
    return path
