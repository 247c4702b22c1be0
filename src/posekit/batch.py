"""Streaming, resumable prediction over many images and videos: ``posekit predict SOURCES --out results/``.

Layout of a results folder:

- ``shard-NNNNN.jsonl``: one JSON record per image or video frame, written as the run goes (a new shard every
  ``shard_size`` records): ``input`` (the input's position in the source order), ``path``, ``frame`` (None for an
  image), ``size``, ``mtime_ns``, ``model``, ``model_sha256`` and ``results`` (COCO results as
  :meth:`posekit.types.Prediction.to_dict` writes them; ``image_id`` 0 there: :func:`merge` numbers the images).
- ``index.jsonl``: the commit log, one line per finished input (``ok`` with the byte range of its records in its
  shard, or ``error`` with the reason). Append-only rather than a rewritten ``index.json``: rewriting the whole
  index at every commit costs O(inputs) per commit, O(inputs^2) per run. Order of a commit: the shard is flushed
  and fsynced first, then the index lines are appended and fsynced, so an index line never names bytes that are
  not on disk. A torn last line (SIGKILL mid-write) is cut off when the log is read; shard bytes past the last
  committed offset, and shards no line names, are removed before a resumed run writes.
- ``errors.jsonl``: the inputs that could not be read, with the reason (rewritten from the index, atomically,
  at the end of every run).

Resume rule: an input is finished when the index's latest line for its path has the same size, mtime and model
sha256; anything else is (re)done. Image ids are not stored: :func:`merge` numbers images in source order
(input position, then frame) from 1, as ``posekit predict --json`` does, so they never depend on interruptions.
Memory: results are never held; the run keeps one 16-byte digest per finished input, the merge one small tuple
per input (not its results).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from posekit.predict.inputs import IMAGE_SUFFIXES, VIDEO_SUFFIXES

INDEX = "index.jsonl"
ERRORS = "errors.jsonl"
_GLOB_CHARS = set("*?[")


def iter_sources(sources: list[str | Path]) -> Iterator[Path]:
    """Input files in a stable order, streamed: a file as it is; a folder's images and videos (sorted, not
    recursive); ``@list.txt``: one path per line (blank lines and ``#`` comments skipped; relative paths as
    written, i.e. relative to the working folder); a glob (``photos/**/*.jpg``, sorted). A name that does not
    exist is yielded too: the run lists it in the errors file rather than stopping."""
    for source in map(str, sources):
        if source.startswith("@"):
            with open(source[1:], encoding="utf-8") as f:
                for line in f:
                    line = line.strip()
                    if line and not line.startswith("#"):
                        yield Path(line)
        elif Path(source).is_dir():
            yield from sorted(q for q in Path(source).iterdir() if q.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES)
        elif not Path(source).exists() and _GLOB_CHARS & set(source):
            yield from (Path(p) for p in sorted(glob.glob(source, recursive=True)) if Path(p).is_file())
        else:
            yield Path(source)


def model_identity(name_or_path: str | Path) -> tuple[str, str]:
    """(name, sha256) of a model: a zoo name's weights file, else the file at the path (a folder: the digest
    of its files' names and digests, sorted)."""
    from posekit.zoo import get, names, sha256_file

    name = str(name_or_path)
    path = get(name).path if name in names() else Path(name)
    if path.is_dir():
        digest = hashlib.sha256()
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(f"{f.relative_to(path)}\0{sha256_file(f)}\n".encode())
        return name, digest.hexdigest()
    return name, sha256_file(path)


def _stat(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError:
        return -1, 0
    return st.st_size, st.st_mtime_ns


def _digest(path: str, size: int, mtime_ns: int, sha: str) -> bytes:
    return hashlib.blake2b(f"{path}\0{size}\0{mtime_ns}\0{sha}".encode(), digest_size=16).digest()


def read_index(out: str | Path) -> Iterator[dict]:
    """The committed lines of ``out/index.jsonl`` in order; a torn last line (no newline, or not JSON) ends it."""
    path = Path(out) / INDEX
    if not path.exists():
        return
    with open(path, "rb") as f:
        for line in f:
            if not line.endswith(b"\n"):
                return
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                return


def _repair(out: Path) -> dict[str, int]:
    """Cut the index's torn tail and every shard back to its committed length; delete shards no index line
    names. Returns {shard name: committed bytes}."""
    committed: dict[str, int] = {}
    for entry in read_index(out):
        if entry.get("shard"):
            committed[entry["shard"]] = max(committed.get(entry["shard"], 0), entry["end"])
    index = out / INDEX
    if index.exists() and index.stat().st_size != _committed_bytes(index):
        _truncate(index, _committed_bytes(index))
    for shard in out.glob("shard-*.jsonl"):
        if shard.name not in committed:
            shard.unlink()
        elif shard.stat().st_size != committed[shard.name]:
            _truncate(shard, committed[shard.name])
    return committed


def _committed_bytes(index: Path) -> int:
    """Bytes of ``index`` up to the end of its last complete, parseable line."""
    good = 0
    with open(index, "rb") as f:
        for line in f:
            if not line.endswith(b"\n"):
                break
            try:
                json.loads(line)
            except json.JSONDecodeError:
                break
            good += len(line)
    return good


def _truncate(path: Path, size: int) -> None:
    with open(path, "r+b") as f:
        f.truncate(size)
        f.flush()
        os.fsync(f.fileno())


class _Writer:
    """Appends records to rotating shards and commits finished inputs to the index (shard fsync first)."""

    def __init__(self, out: Path, first_shard: int, shard_size: int):
        self.out, self.number, self.shard_size = out, first_shard, shard_size
        self.shard = None
        self.count = 0  # records in the open shard
        self.pending: list[dict] = []  # finished inputs not yet in the index
        self.index = open(out / INDEX, "ab")

    def _open(self) -> None:
        if self.shard is None or self.count >= self.shard_size:
            self.commit()  # a shard's inputs are committed before the next shard starts
            if self.shard is not None:
                self.shard.close()
            self.shard = open(self.out / f"shard-{self.number:05d}.jsonl", "ab")
            self.number, self.count = self.number + 1, 0

    def start_input(self) -> None:
        """Call before an input's records: an input's records never straddle two shards' commits."""
        self._open()

    def write(self, record: dict) -> None:
        self.shard.write((json.dumps(record) + "\n").encode())
        self.count += 1

    def finish(self, entry: dict, start: int | None) -> None:
        """``entry`` (an index line) is finished; its records are the shard bytes from ``start`` to now."""
        if start is not None:
            entry.update(shard=Path(self.shard.name).name, start=start, end=self.shard.tell())
        self.pending.append(entry)

    def drop(self, start: int, count: int) -> None:
        """Forget the records written since byte ``start`` (a video that broke mid-way), ``count`` records before."""
        self.shard.flush()
        self.shard.truncate(start)
        self.count = count

    def position(self) -> int:
        return self.shard.tell()

    def commit(self) -> None:
        if not self.pending:
            return
        if self.shard is not None:
            self.shard.flush()
            os.fsync(self.shard.fileno())
        self.index.write(b"".join((json.dumps(e) + "\n").encode() for e in self.pending))
        self.index.flush()
        os.fsync(self.index.fileno())
        self.pending = []

    def close(self) -> None:
        self.commit()
        if self.shard is not None:
            self.shard.close()
        self.index.close()


def _finished(out: Path) -> tuple[set[bytes], int]:
    """Digests of the inputs the index says are finished (latest line per path), and the next shard number."""
    latest: dict[str, bytes] = {}
    for e in read_index(out):
        latest[e["path"]] = _digest(e["path"], e["size"], e["mtime_ns"], e["model_sha256"])
    numbers = [int(p.stem.split("-")[1]) for p in out.glob("shard-*.jsonl")]
    return set(latest.values()), max(numbers, default=-1) + 1


def _predict_input(predictor, path: Path, base: dict, writer: _Writer, track: bool, max_frames: int) -> int:
    """Write the records of one image or video (one per frame); returns how many. Raises OSError/ValueError
    for an input that cannot be read."""
    if path.suffix.lower() in VIDEO_SUFFIXES:
        frames = predictor.predict_video(path, track=track)
        n = 0
        try:
            for index, _frame, preds in frames:
                writer.write({**base, "frame": index, "results": [p.to_dict(0, base["path"], index) for p in preds]})
                n += 1
                if max_frames and n >= max_frames:
                    break
        finally:
            frames.close()
        return n
    preds = predictor.predict(path)  # decoded by posekit.image_io: an ImageError says what is wrong
    writer.write({**base, "frame": None, "results": [p.to_dict(0, base["path"]) for p in preds]})
    return 1


def run(predictor, sources: list[str | Path], out: str | Path, *, model: str | Path, shard_size: int = 1000,
        track: bool = False, max_frames: int = 0, commit_every: int = 32, progress: bool = True) -> dict:
    """Predict every input of ``sources`` (:func:`iter_sources`) into the results folder ``out``, skipping the
    inputs a previous run there finished (same path, size, mtime and model sha256). ``model``: the name or path
    ``predictor`` was loaded from (its sha256 goes into every record). Commits every ``commit_every`` inputs
    and at each shard's end. Returns counts: ``inputs``, ``done`` (this run), ``skipped``, ``errors`` (all
    inputs in the errors file, earlier runs' included), ``records`` (this run)."""
    from tqdm import tqdm

    out = Path(out)
    run_ = open_run(out, sources, model)
    model_name, model_sha, lock, finished, counts = (run_[k] for k in ("model", "sha256", "lock", "finished",
                                                                        "counts"))
    total = counts["inputs"]
    writer = _Writer(out, run_["next_shard"], shard_size)
    try:
        for position, path in enumerate(tqdm(iter_sources(sources), total=total, desc="predicting", unit="file",
                                             disable=not progress, smoothing=0.1)):
            size, mtime_ns = _stat(path)
            if _digest(str(path), size, mtime_ns, model_sha) in finished:
                counts["skipped"] += 1
                continue
            entry = {"input": position, "path": str(path), "size": size, "mtime_ns": mtime_ns,
                     "model": model_name, "model_sha256": model_sha}
            writer.start_input()
            start, count = writer.position(), writer.count
            try:
                if size < 0:
                    raise FileNotFoundError(f"input not found: {path}")
                counts["records"] += _predict_input(predictor, path, entry, writer, track, max_frames)
                writer.finish({**entry, "status": "ok"}, start)
            except (OSError, ValueError) as e:  # one bad input must not stop the others
                writer.drop(start, count)
                writer.finish({**entry, "status": "error", "error": str(e)}, None)
            counts["done"] += 1
            if len(writer.pending) >= commit_every:
                writer.commit()
    finally:
        writer.close()
    counts["errors"] = write_errors(out)
    lock.close()
    return counts


def open_run(out: Path, sources, model: str | Path) -> dict:
    """Open the results folder ``out`` for a run (one process or several): ``model`` / ``sha256`` (the model's
    identity), ``lock`` (held until closed), ``finished`` (the digests of the inputs done before, after repairing
    what a kill tore), ``next_shard``, and ``counts`` with ``inputs`` (a cheap first pass over ``sources``: the
    progress bar's ETA needs the total)."""
    out.mkdir(parents=True, exist_ok=True)
    model_name, model_sha = model_identity(model)
    lock = _lock(out)
    _repair(out)
    finished, next_shard = _finished(out)
    total = sum(1 for _ in iter_sources(sources))
    return {"model": model_name, "sha256": model_sha, "lock": lock, "finished": finished, "next_shard": next_shard,
            "counts": {"inputs": total, "done": 0, "skipped": 0, "records": 0}}


def _lock(out: Path):
    """An exclusive lock on ``out`` for this run (released when the process ends, however it ends): two runs
    appending to the same shards and index would interleave their records."""
    import fcntl

    f = open(out / ".lock", "w")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        raise ValueError(f"another posekit run is writing {out}: wait for it, or give another --out") from None
    return f


def latest_entries(out: str | Path) -> list[dict]:
    """The index's latest line per path, in source order (input position, then path)."""
    latest: dict[str, dict] = {}
    for e in read_index(out):
        latest[e["path"]] = e
    return sorted(latest.values(), key=lambda e: (e["input"], e["path"]))


def write_errors(out: str | Path) -> int:
    """Rewrite ``out/errors.jsonl`` (atomically: temp file + os.replace) from the index: path and reason of
    every input whose latest attempt failed. Returns their count."""
    out = Path(out)
    tmp = out / (ERRORS + ".tmp")
    n = 0
    with open(tmp, "w", encoding="utf-8") as f:
        for e in latest_entries(out):
            if e["status"] == "error":
                f.write(json.dumps({"path": e["path"], "error": e["error"], "size": e["size"],
                                    "mtime_ns": e["mtime_ns"]}) + "\n")
                n += 1
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, out / ERRORS)
    return n


def iter_records(out: str | Path) -> Iterator[dict]:
    """Every committed record of a results folder in source order (input position, then frame), each input's
    latest attempt only; streamed from the shards (one input's records in memory at a time)."""
    out = Path(out)
    for e in latest_entries(out):
        if e["status"] != "ok" or e["end"] == e["start"]:
            continue
        with open(out / e["shard"], "rb") as f:
            f.seek(e["start"])
            for line in f.read(e["end"] - e["start"]).splitlines():
                yield json.loads(line)


def merge(out: str | Path, coco: str | Path) -> tuple[int, int]:
    """Write the single COCO results file ``coco`` from a results folder: image ids numbered from 1 in source
    order, one per image or frame (as ``posekit predict --json``), each result with its ``file_name`` (and
    ``frame``). Streamed to disk; written to a temp file and renamed. Returns (images, results)."""
    coco = Path(coco)
    coco.parent.mkdir(parents=True, exist_ok=True)
    tmp = coco.with_name(coco.name + ".tmp")
    images = results = 0
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("[")
        for record in iter_records(out):
            images += 1
            for r in record["results"]:
                f.write(("\n" if results == 0 else ",\n") + json.dumps({**r, "image_id": images}))
                results += 1
        f.write("\n]\n")
    os.replace(tmp, coco)
    return images, results
