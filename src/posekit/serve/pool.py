"""A bounded pool of prediction workers: N threads, each owning its own predictors, fed by a bounded queue.

Why threads, each with its own models: a :class:`~posekit.predict.base.Predictor` is not assumed thread-safe (it
keeps per-call state, and a top-down one holds a detector), so no predictor is ever shared between threads; ONNX
Runtime and PyTorch release the GIL while they compute, so N threads use N x their intra-op threads of cores. A
worker loads a model by name the first time it is asked for it and keeps at most ``max_models`` (least recently
used dropped first), so memory stays bounded by ``workers x max_models`` networks.

The queue holds at most ``queue_size`` waiting tasks; :meth:`WorkerPool.submit` raises :class:`Busy` when it is
full (the server answers 503 with ``Retry-After``) instead of letting a burst grow memory without bound.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future

log = logging.getLogger(__name__)


class Busy(RuntimeError):
    """Every worker is busy and the queue is full."""


class Models:
    """One worker's predictors by model name, loaded on first use by ``load(name)``, at most ``max_models``."""

    def __init__(self, load: Callable[[str], object], max_models: int) -> None:
        self._load, self._max = load, max_models
        self._loaded: OrderedDict[str, object] = OrderedDict()

    def get(self, name: str):
        if name in self._loaded:
            self._loaded.move_to_end(name)
            return self._loaded[name]
        while len(self._loaded) >= self._max:
            self._loaded.popitem(last=False)
        predictor = self._loaded[name] = self._load(name)
        return predictor

    def names(self) -> list[str]:
        return list(self._loaded)


class WorkerPool:
    """``workers`` threads running ``task(models, *args)`` for each :meth:`submit`, in submission order.

    load: ``load(name) -> Predictor``, called inside the worker that will use it. max_models: models kept per
    worker. queue_size: tasks allowed to wait for a free worker.
    """

    def __init__(self, workers: int, load: Callable[[str], object], max_models: int = 2, queue_size: int = 8,
                 preload: tuple[str, ...] = ()) -> None:
        if workers < 1 or queue_size < 1 or max_models < 1:
            raise ValueError(f"workers, queue size and models per worker must be >= 1, got {workers}, "
                             f"{queue_size}, {max_models}")
        self.workers = workers
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._models = [Models(load, max_models) for _ in range(workers)]
        self._busy = 0
        self._preload = preload
        self._ready = [False] * workers
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i, m), name=f"posekit-worker-{i}", daemon=True)
                         for i, m in enumerate(self._models)]
        for t in self._threads:
            t.start()

    def submit(self, task: Callable, *args) -> Future:
        """Queue ``task(models, *args)``; a Future of its result. Raises :class:`Busy` when the queue is full.
        Cancelling the Future before a worker takes it means the task never runs."""
        future: Future = Future()
        try:
            self._queue.put_nowait((future, task, args))
        except queue.Full:
            raise Busy(f"all {self.workers} workers are busy and {self._queue.maxsize} requests are waiting") from None
        return future

    @property
    def ready(self) -> bool:
        """Whether every worker has loaded the models it was told to load first (or failed to)."""
        return all(self._ready)

    def stats(self) -> dict:
        """Workers, busy workers, waiting tasks, and the models each worker holds."""
        with self._lock:
            busy = self._busy
        return {"workers": self.workers, "busy": busy, "queued": self._queue.qsize(),
                "queue_size": self._queue.maxsize, "models_loaded": [m.names() for m in self._models]}

    def close(self) -> None:
        """Stop the workers after the tasks they are running (queued ones are cancelled)."""
        while True:
            try:
                future, _, _ = self._queue.get_nowait()
                future.cancel()
            except queue.Empty:
                break
        for _ in self._threads:
            self._queue.put((None, None, None))
        for t in self._threads:
            t.join(timeout=5)

    def _run(self, index: int, models: Models) -> None:
        for name in self._preload:
            try:
                models.get(name)
            except Exception:  # noqa: BLE001 -- the first request for it reports the same error to its client
                log.exception("could not load model %s", name)
        self._ready[index] = True
        while True:
            future, task, args = self._queue.get()
            if future is None:
                return
            if not future.set_running_or_notify_cancel():  # cancelled while waiting (its client gave up)
                continue
            with self._lock:
                self._busy += 1
            try:
                future.set_result(task(models, *args))
            except BaseException as e:  # noqa: BLE001 -- handed to the waiting request, which answers with it
                future.set_exception(e)
            finally:
                with self._lock:
                    self._busy -= 1
