"""``posekit predict SOURCES --out results/ --workers N``: N predictor processes feeding one writer.

Roles: the parent streams the source list (:func:`posekit.batch.iter_sources`), skips finished inputs, and is
the only writer of shards and index (:class:`posekit.batch._Writer`, so the commit order and the resume rule
are exactly those of one process). Workers (``spawn`` processes: no forked ONNX Runtime / torch thread pools)
each load the model once, decode and pose the inputs they are sent, and send back the records of an input
(one per image or video frame, as :func:`posekit.batch._predict_input` builds them); decoding in the workers
overlaps with the other workers' inference.

Memory stays flat: each worker has its own task queue and the parent keeps at most ``_DEPTH`` inputs in
flight per worker, so at most ``N * _DEPTH`` inputs' records are queued at any time (the result queue is not
given a maxsize: a worker killed mid-put would leak a slot of a bounded one; the in-flight cap bounds it).

Failures: an unreadable input (OSError / ValueError in the worker) is an ``error`` index line as with one
process. A worker that dies (segfault, OOM kill) is replaced; the input it was on is retried once, then
written to the errors file; the inputs queued behind it are resent. Any other exception in a worker (a
broken model) stops the run with the worker's traceback, after the finished inputs are committed. The parent
dying (Ctrl-C, SIGKILL) leaves the folder as one process would: workers ignore SIGINT and exit when their
parent is gone.
"""

from __future__ import annotations

import collections
import multiprocessing as mp
import os
import queue
import signal
import traceback
from pathlib import Path

from posekit.batch import (
    _digest,
    _predict_input,
    _stat,
    _Writer,
    iter_sources,
    open_run,
    write_errors,
)

_DEPTH = 2  # inputs in flight per worker: one being posed, one decoded-ready behind it
_MAX_IDLE_DEATHS = 3  # workers dying with no input (e.g. at model load) before the run gives up


class _Collect(list):
    """Stands in for the writer inside a worker: the records of one input, in frame order."""

    write = list.append


def _worker(wid: int, load: dict, threads: int, tasks, results, track: bool, max_frames: int) -> None:
    """A worker process: load the model, then pose each (position, path, entry) task until None arrives."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it commits, then ends the workers
    parent = os.getppid()
    try:
        import torch

        torch.set_num_threads(threads)
        from posekit.api import load_model

        predictor = load_model(load["model"], backend=load["backend"], device=load["device"], threads=threads,
                               overrides=load["overrides"])
    except Exception:  # noqa: BLE001 -- reported to the parent, which stops the run with it
        results.put(("fatal", wid, None, traceback.format_exc()))
        return
    while True:
        try:
            task = tasks.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent:  # the parent was killed: nobody will read our results
                results.cancel_join_thread()  # so exiting does not wait to flush into a pipe nobody reads
                return
            continue
        if task is None:
            return
        position, path, entry = task
        records = _Collect()
        try:
            _predict_input(predictor, Path(path), entry, records, track, max_frames)
            results.put(("ok", wid, position, list(records)))
        except (OSError, ValueError) as e:  # an unreadable input: the others go on
            results.put(("error", wid, position, str(e)))
        except Exception:  # noqa: BLE001
            results.put(("fatal", wid, position, traceback.format_exc()))
            return


class _Pool:
    """The workers, their task queues and what each has in flight (FIFO: a worker poses its tasks in order)."""

    def __init__(self, n: int, load: dict, threads: int, track: bool, max_frames: int):
        self.ctx = mp.get_context("spawn")
        self.results = self.ctx.Queue()
        self.args = (load, threads, self.results, track, max_frames)
        self.procs: list = [None] * n
        self.queues: list = [None] * n
        self.inflight = [collections.deque() for _ in range(n)]
        self.idle_deaths = 0
        for wid in range(n):
            self._start(wid)

    def _start(self, wid: int) -> None:
        self.queues[wid] = self.ctx.Queue(maxsize=_DEPTH)
        load, threads, results, track, max_frames = self.args
        self.procs[wid] = self.ctx.Process(target=_worker, args=(wid, load, threads, self.queues[wid], results,
                                                                 track, max_frames), daemon=True)
        self.procs[wid].start()

    def free(self) -> int | None:
        """A worker with room for one more input, or None."""
        return min((w for w in range(len(self.procs)) if len(self.inflight[w]) < _DEPTH),
                   key=lambda w: len(self.inflight[w]), default=None)

    def send(self, wid: int, task: dict) -> None:
        self.inflight[wid].append(task)
        self.queues[wid].put((task["position"], task["entry"]["path"], task["entry"]))

    def busy(self) -> bool:
        return any(self.inflight)

    def reap(self) -> list[tuple[dict, str | None]]:
        """Replace dead workers. Returns their inputs to redo: (task, None) to resend, (task, reason) for
        the input a worker died on twice (an error line)."""
        redo = []
        for wid, proc in enumerate(self.procs):
            if proc.is_alive():
                continue
            tasks = list(self.inflight[wid])
            self.inflight[wid].clear()
            if not tasks:
                self.idle_deaths += 1
                if self.idle_deaths > _MAX_IDLE_DEATHS:
                    raise RuntimeError(f"posekit workers keep dying before posing anything (exit code "
                                       f"{proc.exitcode}); try --workers 1 to see the error")
            else:
                head = tasks[0]
                head["tries"] += 1
                reason = f"the worker posing it died (exit code {proc.exitcode}) twice" if head["tries"] > 1 else None
                redo.append((head, reason))
                redo += [(t, None) for t in tasks[1:]]
            self._start(wid)
        return redo

    def done(self, wid: int, position: int) -> dict | None:
        """The task a result answers; None for a stale result (its input was already resent elsewhere)."""
        for task in self.inflight[wid]:
            if task["position"] == position:
                self.inflight[wid].remove(task)
                return task
        return None

    def close(self) -> None:
        for wid, proc in enumerate(self.procs):
            if proc.is_alive():
                try:
                    self.queues[wid].put_nowait(None)
                except queue.Full:
                    proc.terminate()
        for proc in self.procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join()


def run_workers(sources: list[str | Path], out: str | Path, *, model: str | Path, workers: int, threads: int = 0,
                backend: str = "auto", device: str | None = None, overrides: list[str] | None = None,
                shard_size: int = 1000, track: bool = False, max_frames: int = 0, commit_every: int = 32,
                progress: bool = True) -> dict:
    """:func:`posekit.batch.run` with ``workers`` predictor processes, each loading ``model`` (with
    ``backend``, ``device``, ``overrides``) once and ``threads`` threads (0 = cores // workers). Same folder
    layout, resume rule and returned counts; records land in the shards in completion order (the merge
    orders them by input position)."""
    from tqdm import tqdm

    out = Path(out)
    run_ = open_run(out, sources, model)
    model_name, model_sha, lock, finished, counts = (run_[k] for k in ("model", "sha256", "lock", "finished",
                                                                        "counts"))
    total, next_shard = counts["inputs"], run_["next_shard"]
    threads = threads or max(1, (os.cpu_count() or 1) // workers)
    load = {"model": str(model), "backend": backend, "device": device, "overrides": list(overrides or [])}
    bar = tqdm(total=total, desc=f"predicting ({workers} workers)", unit="file", disable=not progress,
               smoothing=0.1)
    tasks = _tasks(sources, finished, model_name, model_sha, counts, bar)
    writer = _Writer(out, next_shard, shard_size)
    pool = None
    try:
        pool = _Pool(workers, load, threads, track, max_frames)
        _drive(pool, tasks, writer, counts, bar, commit_every)
    finally:  # Ctrl-C included: what finished is committed, the workers are ended
        if pool is not None:
            pool.close()
        writer.close()
        bar.close()
    counts["errors"] = write_errors(out)
    lock.close()
    return counts


def _tasks(sources, finished: set[bytes], model_name: str, model_sha: str, counts: dict, bar):
    """The inputs still to do, streamed, as tasks (the finished ones are counted as skipped)."""
    for position, path in enumerate(iter_sources(sources)):
        size, mtime_ns = _stat(path)
        if _digest(str(path), size, mtime_ns, model_sha) in finished:
            counts["skipped"] += 1
            bar.update()
            continue
        yield {"position": position, "tries": 0, "entry": {"input": position, "path": str(path), "size": size,
               "mtime_ns": mtime_ns, "model": model_name, "model_sha256": model_sha}}


def _drive(pool: _Pool, tasks, writer: _Writer, counts: dict, bar, commit_every: int) -> None:
    """Keep every worker fed, write what comes back, replace dead workers, until all inputs are done."""
    resend: collections.deque = collections.deque()
    exhausted = False
    while True:
        while (wid := pool.free()) is not None:
            task = resend.popleft() if resend else None if exhausted else next(tasks, None)
            if task is None:
                exhausted = exhausted or not resend
                break
            if task["entry"]["size"] < 0:  # nothing to send: as with one process, an error line
                _finish(writer, counts, bar, task, None, f"input not found: {task['entry']['path']}")
                continue
            pool.send(wid, task)
        if exhausted and not resend and not pool.busy():
            return
        if not all(p.is_alive() for p in pool.procs):
            while _receive(pool, writer, counts, bar, timeout=0):  # what a dead worker sent before dying
                pass
            for task, reason in pool.reap():
                if reason:
                    _finish(writer, counts, bar, task, None, reason)
                else:
                    resend.append(task)
            continue
        _receive(pool, writer, counts, bar, timeout=0.5)
        if len(writer.pending) >= commit_every:
            writer.commit()


def _receive(pool: _Pool, writer: _Writer, counts: dict, bar, timeout: float) -> bool:
    """Write one result if one comes within ``timeout`` seconds; False if none came."""
    try:
        kind, wid, position, payload = pool.results.get(timeout=timeout) if timeout else pool.results.get_nowait()
    except queue.Empty:
        return False
    if kind == "fatal":
        raise RuntimeError(f"a posekit worker failed:\n{payload}")
    task = pool.done(wid, position)
    if task is not None:  # else a stale answer: the input was resent after its worker died
        _finish(writer, counts, bar, task, payload if kind == "ok" else None, payload if kind == "error" else None)
    return True


def _finish(writer: _Writer, counts: dict, bar, task: dict, records: list | None, error: str | None) -> None:
    """Append one input's records (or its error) and queue its index line for the next commit."""
    entry = task["entry"]
    writer.start_input()
    if error is None:
        start = writer.position()
        for record in records:
            writer.write(record)
        writer.finish({**entry, "status": "ok"}, start)
        counts["records"] += len(records)
    else:
        writer.finish({**entry, "status": "error", "error": error}, None)
    counts["done"] += 1
    bar.update()
