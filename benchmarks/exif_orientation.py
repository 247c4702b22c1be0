"""Is a phone photo stored sideways posed like its upright twin? For real photos, a JPEG of the photo and one
whose pixels are stored turned with EXIF orientation 6 (as a phone held upright writes it) go through each
path a user has; the people found and their keypoints must agree with those of its upright twin: the same
count, keypoints within 2 px on average (issue 21's EXIF target). See :func:`compare` for the twins.

    python benchmarks/exif_orientation.py --out benchmarks/exif_orientation.json

Paths: ``file`` (``posekit predict FILE --json``) and ``folder`` (``posekit predict FOLDER --json``), both
through the CLI's ``main`` with its default model and backend, and ``upload``: ``POST /v1/predict`` of
``posekit serve``'s app (the real app, its upload streaming and decoding, through Starlette's in-process test
client). Any other path plugs in as a callable ``predict(file bytes, file name) -> COCO results of that image``
passed to :func:`compare`.

People are matched one to one by the smallest mean keypoint distance (Hungarian); distances are in the upright
photo's pixels, over all 17 keypoints of the matched people.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from image_fixtures import exif_rotated_jpeg, jpeg, real_photo, upright_twin_png  # noqa: E402 (the tests' fixture builders)

#: real photos from $POSEKIT_DATA/unlabeled (one to many people)
PHOTOS = ("messi5.jpg", "basketball1.png", "basketball2.png", "astronaut.png")

PredictBytes = Callable[[bytes, str], list[dict]]


def compare(predict: PredictBytes, photo: np.ndarray, orientation: int = 6) -> dict:
    """People and keypoint agreement between ``photo`` stored turned with EXIF ``orientation`` (JPEG) and
    its upright twins, through ``predict`` (file bytes, file name -> COCO results with ``keypoints``):

    - ``same_pixels``: the twin holding the very same pixels (turned upright by OpenCV's own EXIF handling,
      PNG): the EXIF target -- any difference is the orientation's fault;
    - ``reencoded``: the upright photo encoded as its own JPEG (another 8x8 block grid), and for scale
      ``jpeg_noise``: that JPEG against the lossless photo -- what JPEG noise alone does to the keypoints."""
    sideways = _keypoints(predict(exif_rotated_jpeg(photo, orientation), "sideways.jpg"))
    upright_jpeg = _keypoints(predict(jpeg(photo), "upright.jpg"))
    return {"same_pixels": _agreement(_keypoints(predict(upright_twin_png(exif_rotated_jpeg(photo, orientation)),
                                                         "upright.png")), sideways),
            "reencoded": _agreement(upright_jpeg, sideways),
            "jpeg_noise": _agreement(_keypoints(predict(cv2.imencode(".png", photo)[1].tobytes(), "photo.png")),
                                     upright_jpeg)}


def _agreement(upright: list[np.ndarray], turned: list[np.ndarray]) -> dict:
    row = {"people_upright": len(upright), "people_sideways": len(turned)}
    if upright and turned:
        cost = np.array([[np.linalg.norm(a - b, axis=1).mean() for b in turned] for a in upright])
        rows, cols = linear_sum_assignment(cost)
        distances = np.concatenate([np.linalg.norm(upright[i] - turned[j], axis=1) for i, j in zip(rows, cols)])
        row.update(matched=len(rows), mean_px=round(float(distances.mean()), 3),
                   max_px=round(float(distances.max()), 3), over_5px=int((distances > 5).sum()))
    row["ok"] = row["people_upright"] == row["people_sideways"] and row.get("mean_px", 0.0) < 2.0
    return row


def _keypoints(results: list[dict]) -> list[np.ndarray]:
    """(K, 2) keypoint x, y of each result."""
    return [np.asarray(r["keypoints"], dtype=np.float64).reshape(-1, 3)[:, :2] for r in results]


def cli_path(kind: str, extra: list[str]) -> PredictBytes:
    """``predict`` through ``posekit predict`` given the file (``kind`` "file") or its folder ("folder")."""
    from posekit.cli import main

    def predict(data: bytes, name: str) -> list[dict]:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "photos"
            folder.mkdir()
            (folder / name).write_bytes(data)
            out = Path(tmp) / "results.json"
            target = folder / name if kind == "file" else folder
            if main(["predict", str(target), "--json", str(out), "-q", *extra]) != 0:
                raise RuntimeError(f"posekit predict {target} failed")
            return json.loads(out.read_text())

    return predict


def upload_path(model: str, threads: int):
    """``predict`` through ``POST /v1/predict`` of ``posekit serve``'s app (person threshold as stored); returns
    (predict, close)."""
    from fastapi.testclient import TestClient

    from posekit.serve.app import create_app
    from posekit.serve.settings import ServeSettings

    client = TestClient(create_app(ServeSettings(model=model, threads=threads)))
    client.__enter__()  # starts the app's workers (lifespan)

    def predict(data: bytes, name: str) -> list[dict]:
        answer = client.post("/v1/predict", files={"image": (name, data)})
        if answer.status_code != 200:
            raise RuntimeError(f"POST /v1/predict {name}: {answer.status_code} {answer.text}")
        return answer.json()["results"]

    return predict, lambda: client.__exit__(None, None, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="benchmarks/exif_orientation.json")
    args = parser.parse_args()
    extra = ["--model", args.model, "--threads", str(args.threads)]
    report = {"command": "python " + " ".join(sys.argv), "model": args.model, "orientation": 6, "paths": {}}
    for kind in ("file", "folder", "upload"):
        close = None
        if kind == "upload":
            predict, close = upload_path(args.model, args.threads)
        else:
            predict = cli_path(kind, extra)
        rows = {}
        for name in PHOTOS:
            start = time.perf_counter()
            rows[name] = {**compare(predict, real_photo(name)), "seconds": round(time.perf_counter() - start, 1)}
            print(f"{kind:7s} {name:16s} {rows[name]}", flush=True)
        report["paths"][kind] = rows
        if close:
            close()
    report["all_ok"] = all(r["same_pixels"]["ok"] for rows in report["paths"].values() for r in rows.values())
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(f"orientation-6 photo posed like its same-pixel upright twin on every path: {report['all_ok']} -> {args.out}")


if __name__ == "__main__":
    main()
