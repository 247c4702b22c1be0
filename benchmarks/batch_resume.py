"""Issue 22, targets "Nothing lost" and "Bad inputs" (local part): ``posekit predict @list --out results/`` over
2,000 inputs, once uninterrupted (merge A), and once SIGKILLed three times at seeded random moments and resumed
each time, then run to completion (merge B). Checks: B == A record for record, every bad input in errors.jsonl
with its reason, the final run exits non-zero naming the error count, no good input missing or duplicated.

Inputs: LSP test images (im1001-im2000), every COCO-mini photo (train2017 + val2017), the COCO person test photos
($POSEKIT_DATA/coco_person/test_ids.txt, found under /work/data/coco_val_photos; skipped with a note if absent),
repeated up to ``--n`` lines, plus 4 bad files (truncated JPEG, zero bytes, text named .jpg, a PNG declaring
100,000 x 100,000) at seeded positions. Repeats are *distinct paths* (symlinks ``repeat/NNNN_name``): the index
keeps one line per path, so a literally repeated line is one input to the resume rule (see batch_resume.md).

    PYTHONPATH=src python benchmarks/batch_resume.py [--n 2000] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "benchmarks"), str(REPO / "src")]

from bench_utils import provenance  # noqa: E402
from image_fixtures import huge_declared_png, real_photo, text_as_jpg, truncated_jpeg  # noqa: E402

from posekit.batch import ERRORS, iter_records, read_index  # noqa: E402

PHOTO_ROOTS = [Path("/work/data/coco_val_photos/coco/images"), Path("/work/data/coco_person_prepared")]


def good_inputs(data: Path, notes: list[str]) -> list[Path]:
    """LSP test images, COCO-mini photos, COCO person test photos (when present), in that order."""
    lsp = [data / "lsp" / "images" / f"im{i:04d}.jpg" for i in range(1001, 2001)]
    mini = sorted((data / "coco_mini").glob("*2017/*.jpg"))
    ids = (data / "coco_person" / "test_ids.txt").read_text().split()
    person = []
    for root in PHOTO_ROOTS:
        found = [p for i in ids for p in (root / "val2017" / f"{i}.jpg", root / "train2017" / f"{i}.jpg")
                 if p.exists()]
        if found:
            person = found
            break
    if not person:
        notes.append(f"COCO person test photos not found under {PHOTO_ROOTS}: skipped")
    elif len(person) < len(ids):
        notes.append(f"{len(ids) - len(person)} of {len(ids)} COCO person test photos missing")
    notes.append(f"{len(lsp)} LSP test + {len(mini)} COCO-mini + {len(person)} COCO person test photos")
    return lsp + mini + person


def build_list(tmp: Path, n: int, seed: int, notes: list[str]) -> tuple[Path, list[str], list[str]]:
    """Write ``tmp/list.txt``: ``n`` lines, good inputs (repeats as symlinks, distinct paths) with 4 bad files at
    seeded positions. Returns (list file, good paths, bad paths)."""
    base = good_inputs(Path(os.environ["POSEKIT_DATA"]), notes)
    (tmp / "repeat").mkdir()
    (tmp / "bad").mkdir()
    photo = real_photo()
    bad = {"truncated.jpg": truncated_jpeg(photo), "empty.jpg": b"", "text.jpg": text_as_jpg(),
           "huge_declared.png": huge_declared_png()}
    bad_paths = []
    for name, data in bad.items():
        (tmp / "bad" / name).write_bytes(data)
        bad_paths.append(str(tmp / "bad" / name))
    good = []
    for i in range(n - len(bad_paths)):
        src = base[i % len(base)]
        if i < len(base):
            good.append(str(src))
        else:  # a repeat: the same photo under another path
            link = tmp / "repeat" / f"{i:05d}_{src.name}"
            link.symlink_to(src)
            good.append(str(link))
    if n - len(bad_paths) > len(base):
        notes.append(f"{n - len(bad_paths) - len(base)} repeats (symlinks) to reach {n} lines")
    lines = list(good)
    rng = random.Random(seed)
    for p in bad_paths:
        lines.insert(rng.randrange(len(lines) + 1), p)
    listing = tmp / "list.txt"
    listing.write_text("".join(f"{p}\n" for p in lines))
    return listing, good, bad_paths


def command(listing: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "posekit", "predict", f"@{listing}", "--out", str(out), "--threads", "2"]


def launch(listing: Path, out: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.Popen(command(listing, out), env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)


def committed(out: Path) -> int:
    """Distinct inputs in the index (ok or error)."""
    return len({e["path"] for e in read_index(out)})


def merge(out: Path, coco: Path) -> list:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    subprocess.run([sys.executable, "-m", "posekit", "results", "merge", str(out), "--coco", str(coco)], env=env,
                   check=True, capture_output=True)
    return json.loads(coco.read_text())


def uninterrupted(listing: Path, tmp: Path) -> dict:
    out, log = tmp / "A", tmp / "A.log"
    t0 = time.monotonic()
    rc = launch(listing, out, log).wait()
    seconds = time.monotonic() - t0
    return {"seconds": round(seconds, 1), "exit_code": rc, "log_tail": log.read_text()[-600:]}


def killed_and_resumed(listing: Path, tmp: Path, expected_s: float, seed: int, kills: int = 3) -> dict:
    """SIGKILL ``kills`` runs at seeded moments, resuming each time, then run to completion. The kill moments
    are cumulative fractions f1 < f2 < f3 in [0.1, 0.8] of ``expected_s`` (the uninterrupted run's wall time):
    run k is killed (f_k - f_{k-1}) * expected_s after its own start (f_0 = 0)."""
    rng = random.Random(seed + 1)
    fractions = sorted(rng.uniform(0.1, 0.8) for _ in range(kills))
    out, rows, before = tmp / "B", [], 0.0
    t_start = time.monotonic()
    for k, f in enumerate(fractions):
        delay = (f - before) * expected_s
        before = f
        log = tmp / f"B{k}.log"
        proc = launch(listing, out, log)
        t0 = time.monotonic()
        try:
            proc.wait(timeout=delay)
            landed = False  # it finished before the kill: the kill did not land mid-run
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            landed = True
        rows.append({"fraction": round(f, 3), "kill_after_s": round(delay, 1),
                     "alive_at_kill": landed, "exit_code": proc.returncode,
                     "ran_s": round(time.monotonic() - t0, 1), "inputs_committed": committed(out)})
    log = tmp / "B_final.log"
    t0 = time.monotonic()
    proc = launch(listing, out, log)
    rc = proc.wait()
    final = {"seconds": round(time.monotonic() - t0, 1), "exit_code": rc, "log_tail": log.read_text()[-600:]}
    return {"kills": rows, "final": final, "total_seconds": round(time.monotonic() - t_start, 1)}


def check(tmp: Path, good: list[str], bad: list[str], final: dict) -> dict:
    a, b = merge(tmp / "A", tmp / "A.json"), merge(tmp / "B", tmp / "B.json")
    rec_a = [(r["input"], r["path"], r["frame"], r["results"]) for r in iter_records(tmp / "A")]
    rec_b = [(r["input"], r["path"], r["frame"], r["results"]) for r in iter_records(tmp / "B")]
    paths_b = [r[1] for r in rec_b]
    errors = [json.loads(line) for line in (tmp / "B" / ERRORS).read_text().splitlines()]
    error_paths = {e["path"] for e in errors}
    return {
        "merge_B_equals_A": a == b,
        "records_B_equal_A": rec_a == rec_b,
        "merged_results": len(a),
        "merged_images_A": len(rec_a), "merged_images_B": len(rec_b),
        "good_inputs": len(good),
        "good_missing_in_B": sorted(set(good) - set(paths_b)),
        "duplicated_in_B": len(paths_b) - len(set(paths_b)),
        "bad_inputs_all_in_errors_with_reason": error_paths == set(bad) and all(e["error"] for e in errors),
        "errors": [{"path": Path(e["path"]).name, "error": e["error"]} for e in errors],
        "final_exit_nonzero": final["exit_code"] != 0,
        "final_names_error_count": f"{len(bad)} inputs could not be read" in final["log_tail"],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=2000, help="lines in the list file (bad inputs included)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=str(REPO / "benchmarks" / "batch_resume.json"))
    args = p.parse_args()
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="batch_resume-") as name:
        tmp = Path(name)
        listing, good, bad = build_list(tmp, args.n, args.seed, notes)
        print(f"{args.n} inputs ({len(bad)} bad); {'; '.join(notes)}", flush=True)
        a = uninterrupted(listing, tmp)
        print(f"uninterrupted: {a['seconds']} s, exit {a['exit_code']}", flush=True)
        b = killed_and_resumed(listing, tmp, a["seconds"], args.seed)
        print(f"killed and resumed: {b['kills']}; final {b['final']['seconds']} s, exit {b['final']['exit_code']}",
              flush=True)
        result = check(tmp, good, bad, b["final"])
    report = {"command": f"PYTHONPATH=src python benchmarks/batch_resume.py --n {args.n} --seed {args.seed}",
              "run_command": "python -m posekit predict @list.txt --out DIR --threads 2",
              "inputs": args.n, "bad_inputs": len(bad), "notes": notes, "uninterrupted": a,
              "killed_and_resumed": b, "checks": result, "provisional_timing": "2 shared CPU cores", **provenance()}
    Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    ok = (result["merge_B_equals_A"] and result["records_B_equal_A"] and not result["good_missing_in_B"]
          and not result["duplicated_in_B"] and result["bad_inputs_all_in_errors_with_reason"]
          and result["final_exit_nonzero"] and result["final_names_error_count"])
    print("PASS" if ok else "FAIL", "->", args.json)


if __name__ == "__main__":
    main()
