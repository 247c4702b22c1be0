"""The job table: bounded, finished jobs expire with their folders, cancel removes a job and its files."""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import Future
from pathlib import Path

import pytest

from posekit.serve.jobs import CANCELLED, DONE, JobTable, TableFull


def _folder() -> Path:
    return Path(tempfile.mkdtemp(prefix="posekit_jobtest_"))


def test_the_table_is_bounded_and_finished_jobs_expire():
    table = JobTable(max_jobs=2, ttl=0.2)
    a, b = table.create(_folder(), "a.mp4", "default"), table.create(_folder(), "b.mp4", "default")
    spare = _folder()
    with pytest.raises(TableFull, match="2 video jobs"):
        table.create(spare, "c.mp4", "default")
    spare.rmdir()
    table.finish(a, DONE)
    assert table.get(a.id) is a and a.folder.exists()  # kept for the client to fetch
    time.sleep(0.3)
    c = table.create(_folder(), "c.mp4", "default")  # a expired: its slot and its folder are gone
    assert table.get(a.id) is None and not a.folder.exists()
    assert table.get(b.id) is b and table.get(c.id) is c
    table.close()
    assert not b.folder.exists() and not c.folder.exists()


def test_cancel_a_queued_job_removes_it_and_its_folder():
    table = JobTable()
    job = table.create(_folder(), "a.mp4", "default")
    job.future = Future()
    assert table.cancel(job.id) is job
    assert job.state == CANCELLED and job.progress.cancel.is_set() and job.future.cancelled()
    assert table.get(job.id) is None and not job.folder.exists()
    assert table.cancel(job.id) is None


def test_a_job_shows_its_progress():
    table = JobTable()
    job = table.create(_folder(), "a.mp4", "default")
    job.progress.total, job.progress.done = 200, 50
    view = job.view()
    assert view["progress"] == 0.25 and view["state"] == "queued" and "result" not in view
    table.finish(job, DONE)
    assert job.view()["result"] == f"/v1/jobs/{job.id}/result"
    table.close()
