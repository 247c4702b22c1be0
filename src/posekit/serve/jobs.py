"""Video jobs for the page: a bounded table of jobs, each with its temporary folder, progress and expiry.

A job holds no result in memory: its result JSON and drawn video are files in its own temporary folder, which is
removed when the job is cancelled, fails, or expires (``ttl`` seconds after it finished). At most ``max_jobs``
jobs exist at once; a new one first evicts expired ones, and is refused (503) when every slot is taken by a job
that is still running or not yet expired.
"""

from __future__ import annotations

import secrets
import shutil
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from posekit.serve.work import Progress

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"


@dataclass
class Job:
    """One video job. ``folder``: its temporary folder (upload, result.json, drawn video)."""

    id: str
    folder: Path
    file_name: str
    model: str
    progress: Progress = field(default_factory=Progress)
    state: str = QUEUED
    error: str = ""
    error_status: int = 0
    created: float = field(default_factory=time.time)
    finished: float | None = None
    future: Future | None = None
    result_path: Path | None = None
    video_path: Path | None = None

    def view(self) -> dict:
        """What ``GET /v1/jobs/{id}`` answers."""
        total, done = self.progress.total, self.progress.done
        out = {"id": self.id, "state": self.state, "file_name": self.file_name, "model": self.model,
               "frames_done": done, "frames_total": total,
               "progress": round(done / total, 4) if total else (1.0 if self.state == DONE else 0.0),
               "seconds": round((self.finished or time.time()) - self.created, 2)}
        if self.error:
            out["error"] = self.error
        if self.state == DONE:
            out["result"] = f"/v1/jobs/{self.id}/result"
            out["video"] = f"/v1/jobs/{self.id}/video"
        return out


class TableFull(RuntimeError):
    """Every job slot is taken by a running or unexpired job."""


class JobTable:
    """At most ``max_jobs`` jobs; finished ones are removed ``ttl`` seconds after they finished."""

    def __init__(self, max_jobs: int = 8, ttl: float = 600.0) -> None:
        self.max_jobs, self.ttl = max_jobs, ttl
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def create(self, folder: Path, file_name: str, model: str) -> Job:
        """A new queued job owning ``folder``; :class:`TableFull` when there is no free slot."""
        with self._lock:
            self._expire()
            if len(self._jobs) >= self.max_jobs:
                raise TableFull(f"the server holds {self.max_jobs} video jobs already; wait for one to finish, or "
                                "delete a finished one (DELETE /v1/jobs/ID)")
            job = Job(secrets.token_urlsafe(12), folder, file_name, model)
            self._jobs[job.id] = job
            return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            self._expire()
            return self._jobs.get(job_id)

    def finish(self, job: Job, state: str, error: str = "", status: int = 0) -> None:
        """Record how a job ended; a failed or cancelled job's folder goes at once."""
        with self._lock:
            job.state, job.error, job.error_status, job.finished = state, error, status, time.time()
            if state in (FAILED, CANCELLED):
                shutil.rmtree(job.folder, ignore_errors=True)

    def cancel(self, job_id: str) -> Job | None:
        """Stop a job (a queued one never runs, a running one stops at its next frame) and remove it with its
        folder; None when there is no such job."""
        with self._lock:
            job = self._jobs.pop(job_id, None)
        if job is None:
            return None
        job.progress.cancel.set()
        if job.future is not None and job.future.cancel():  # still queued: never runs
            job.state = CANCELLED
        if job.future is None or job.future.done():
            shutil.rmtree(job.folder, ignore_errors=True)
        # a running job removes its folder itself when it sees the cancel (the worker still writes into it)
        return job

    def __len__(self) -> int:
        return len(self._jobs)

    def close(self) -> None:
        for job_id in list(self._jobs):
            self.cancel(job_id)

    def _expire(self) -> None:
        now = time.time()
        for job_id, job in list(self._jobs.items()):
            if job.finished is not None and now - job.finished > self.ttl:
                del self._jobs[job_id]
                shutil.rmtree(job.folder, ignore_errors=True)
