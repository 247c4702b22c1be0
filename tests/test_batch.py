"""posekit.batch / ``posekit predict --out``: resume after a real SIGKILL equals an uninterrupted run record for
record, the merge equals ``--json``, unreadable inputs land in errors.jsonl, unchanged inputs are skipped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from image_fixtures import real_photo, text_as_jpg, truncated_jpeg

from posekit.batch import ERRORS, INDEX, iter_records, merge, read_index, run

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def lsp_images(data_root) -> list[Path]:
    images = sorted((data_root / "lsp" / "images").glob("im*.jpg"))[:30]
    if len(images) < 30:
        pytest.skip(f"needs 30 LSP images in {data_root / 'lsp' / 'images'}")
    return images


@pytest.fixture(scope="module")
def predictor():
    from posekit.api import load_model

    return load_model("default", threads=2)


def _cli(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.Popen([sys.executable, "-m", "posekit", "predict", *args, "--threads", "2"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _records(folder: Path) -> list[dict]:
    return list(iter_records(folder))


def _strip(records: list[dict]) -> list[tuple]:
    return [(r["input"], r["path"], r["frame"], json.dumps(r["results"], sort_keys=True)) for r in records]


def test_resume_after_sigkill_equals_uninterrupted_run(tmp_path, lsp_images):
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"{p}\n" for p in lsp_images))
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    proc = _cli([f"@{listing}", "--out", str(whole), "--shard-size", "4"])
    assert proc.wait(timeout=120) == 0, proc.stdout.read()

    proc = _cli([f"@{listing}", "--out", str(killed), "--shard-size", "4"])
    deadline = time.monotonic() + 120
    while sum(1 for _ in read_index(killed)) < 8:  # two shards committed, more on the way
        assert proc.poll() is None, "the run ended before it could be killed: " + proc.stdout.read()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    committed = sum(1 for _ in read_index(killed))
    assert 8 <= committed < len(lsp_images), "the kill must land mid-run"
    # a torn tail as a kill mid-write leaves it: half an index line, records past the index
    with open(killed / INDEX, "ab") as f:
        f.write(b'{"input": 99, "path": "torn')
    with open(sorted(killed.glob("shard-*.jsonl"))[-1], "ab") as f:
        f.write(b'{"input": 98, "path": "uncommitted", "frame": null, "results": []}\n')

    proc = _cli([f"@{listing}", "--out", str(killed), "--shard-size", "4"])
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 0, out
    assert f"{len(lsp_images) - committed} done now, {committed} finished before" in out
    assert _strip(_records(killed)) == _strip(_records(whole))
    assert len(_records(killed)) == len(lsp_images)
    lines = [json.loads(line) for p in sorted(killed.glob("shard-*.jsonl")) for line in p.read_text().splitlines()]
    assert len(lines) == len(lsp_images), "uncommitted records were not cut off"
    assert all(r["model_sha256"] == lines[0]["model_sha256"] and len(r["model_sha256"]) == 64 for r in lines)

    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert merge(killed, a) == merge(whole, b)
    assert a.read_text() == b.read_text()


def test_merge_equals_predict_json(tmp_path, lsp_images, predictor):
    from posekit.types import results_json

    images = lsp_images[:6]
    run(predictor, [str(p) for p in images], tmp_path / "r", model="default", shard_size=2, progress=False)
    n_images, n_results = merge(tmp_path / "r", tmp_path / "out.json")
    expected = results_json([(str(p), None, predictor.predict(p)) for p in images])
    assert n_images == 6 and n_results == len(expected) > 0
    assert json.loads((tmp_path / "out.json").read_text()) == expected


def test_unreadable_inputs_go_to_errors_file(tmp_path, lsp_images, predictor):
    folder = tmp_path / "in"
    folder.mkdir()
    photo = real_photo()
    (folder / "a_good.jpg").write_bytes(lsp_images[0].read_bytes())
    (folder / "b_truncated.jpg").write_bytes(truncated_jpeg(photo))
    (folder / "c_empty.jpg").write_bytes(b"")
    (folder / "d_text.jpg").write_bytes(text_as_jpg())
    (folder / "e_good.jpg").write_bytes(lsp_images[1].read_bytes())
    counts = run(predictor, [folder, str(tmp_path / "missing.jpg")], tmp_path / "r", model="default",
                 progress=False)
    assert counts["errors"] == 4 and counts["records"] == 2
    errors = {Path(e["path"]).name: e["error"] for e in map(json.loads, (tmp_path / "r" / ERRORS).open())}
    assert set(errors) == {"b_truncated.jpg", "c_empty.jpg", "d_text.jpg", "missing.jpg"}
    assert all(errors.values()) and "not found" in errors["missing.jpg"]
    assert [Path(r["path"]).name for r in _records(tmp_path / "r")] == ["a_good.jpg", "e_good.jpg"]

    from posekit.cli import main  # the command exits non-zero, naming the count

    assert main(["predict", str(folder), "--out", str(tmp_path / "r2"), "--threads", "2"]) == 1
    assert len((tmp_path / "r2" / ERRORS).read_text().splitlines()) == 3


def test_unchanged_inputs_are_skipped_changed_ones_redone(tmp_path, lsp_images, predictor):
    folder = tmp_path / "in"
    folder.mkdir()
    for p in lsp_images[:4]:
        (folder / p.name).write_bytes(p.read_bytes())
    first = run(predictor, [folder], tmp_path / "r", model="default", progress=False)
    assert (first["done"], first["skipped"]) == (4, 0)
    before = _strip(_records(tmp_path / "r"))
    again = run(predictor, [folder], tmp_path / "r", model="default", progress=False)
    assert (again["done"], again["skipped"], again["records"]) == (0, 4, 0)
    changed = folder / lsp_images[2].name
    os.utime(changed, ns=(time.time_ns(), time.time_ns() + 10**9))
    third = run(predictor, [folder], tmp_path / "r", model="default", progress=False)
    assert (third["done"], third["skipped"]) == (1, 3)
    assert _strip(_records(tmp_path / "r")) == before  # the redone input replaces its old record, in place


def test_a_second_run_on_the_same_folder_is_refused(tmp_path, lsp_images, predictor):
    import fcntl

    out = tmp_path / "r"
    out.mkdir()
    with open(out / ".lock", "w") as held:  # as a running `posekit predict --out r` holds it
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(ValueError, match="another posekit run is writing"):
            run(predictor, [lsp_images[0]], out, model="default", progress=False)
    assert run(predictor, [lsp_images[0]], out, model="default", progress=False)["done"] == 1


def test_two_workers_merge_equals_one_process(tmp_path, lsp_images):
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"{p}\n" for p in lsp_images[:16]))
    one, two = tmp_path / "one", tmp_path / "two"
    proc = _cli([f"@{listing}", "--out", str(one), "--shard-size", "4"])
    assert proc.wait(timeout=120) == 0, proc.stdout.read()
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run([sys.executable, "-m", "posekit", "predict", f"@{listing}", "--out", str(two),
                           "--shard-size", "4", "--workers", "2", "--threads", "1"], env=env, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "16 done now" in done.stdout
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert merge(one, a) == merge(two, b) == (16, merge(one, a)[1])
    assert a.read_text() == b.read_text()
    assert sum(1 for _ in read_index(two)) == 16


def test_two_workers_list_a_bad_file_in_errors_and_exit_1(tmp_path, lsp_images):
    from posekit.batch_workers import run_workers

    folder = tmp_path / "in"
    folder.mkdir()
    for p in lsp_images[:3]:
        (folder / p.name).write_bytes(p.read_bytes())
    (folder / "zz_text.jpg").write_bytes(text_as_jpg())
    counts = run_workers([folder], tmp_path / "r", model="default", workers=2, threads=1, progress=False)
    assert (counts["done"], counts["records"], counts["errors"]) == (4, 3, 1)
    errors = [json.loads(line) for line in (tmp_path / "r" / ERRORS).read_text().splitlines()]
    assert [Path(e["path"]).name for e in errors] == ["zz_text.jpg"] and errors[0]["error"]
    assert [Path(r["path"]).name for r in _records(tmp_path / "r")] == [p.name for p in lsp_images[:3]]

    from posekit.cli import main

    assert main(["predict", str(folder), "--out", str(tmp_path / "r2"), "--workers", "2", "--threads", "1"]) == 1
    assert len((tmp_path / "r2" / ERRORS).read_text().splitlines()) == 1
