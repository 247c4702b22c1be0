"""The worker pool: bounded queue (Busy when full), each worker's own models (loaded once, least recently used
dropped), tasks cancelled while queued never run."""

from __future__ import annotations

import threading

import pytest

from posekit.serve.pool import Busy, Models, WorkerPool


def test_a_full_queue_refuses_instead_of_growing():
    release = threading.Event()
    pool = WorkerPool(1, load=lambda name: name, queue_size=2)
    try:
        running = pool.submit(lambda models: release.wait(10))
        while pool.stats()["busy"] == 0:  # the worker has taken the first task: the queue is empty again
            threading.Event().wait(0.01)
        queued = [pool.submit(lambda models, i=i: i) for i in range(2)]
        with pytest.raises(Busy, match="1 workers are busy and 2 requests are waiting"):
            pool.submit(lambda models: None)
        assert queued[1].cancel()  # its client gave up: it never runs
        release.set()
        assert running.result(10) is True and queued[0].result(10) == 0
    finally:
        release.set()
        pool.close()


def test_each_worker_loads_its_own_models_once_and_keeps_a_few():
    loads = []
    models = Models(lambda name: loads.append(name) or object(), max_models=2)
    a = models.get("a")
    assert models.get("a") is a and loads == ["a"]
    models.get("b")
    models.get("c")  # "a" is the least recently used: dropped
    assert models.names() == ["b", "c"]
    models.get("a")
    assert loads == ["a", "b", "c", "a"]


def test_workers_do_not_share_predictors():
    seen, barrier = [], threading.Barrier(2)
    pool = WorkerPool(2, load=lambda name: object(), queue_size=4)

    def task(models):
        barrier.wait(10)  # both workers busy at once
        seen.append(id(models.get("default")))

    try:
        futures = [pool.submit(task) for _ in range(2)]
        for f in futures:
            f.result(10)
        assert len(set(seen)) == 2
    finally:
        pool.close()


def test_errors_reach_the_caller():
    pool = WorkerPool(1, load=lambda name: name)
    try:
        with pytest.raises(ValueError, match="bad photo"):
            pool.submit(lambda models: (_ for _ in ()).throw(ValueError("bad photo"))).result(10)
        assert pool.submit(lambda models: models.get("x")).result(10) == "x"  # the worker survived
    finally:
        pool.close()
