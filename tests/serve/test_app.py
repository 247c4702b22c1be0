"""The API on a live server: a photo's people, a video's frames, video jobs (progress, result, drawn video,
cancel), the model list, the page, the OpenAPI document, and the token."""

from __future__ import annotations

import time

import cv2
import httpx

from posekit.serve.settings import ServeSettings


def test_photo_answers_coco_results_of_both_players(client, data_root):
    photo = data_root / "unlabeled" / "basketball1.png"
    answer = client.post("/v1/predict", files={"image": ("basketball1.png", photo.read_bytes())}).json()
    assert answer["model"] == "default" and answer["kind"] == "image" and len(answer["sha256"]) == 64
    assert answer["images"] == [{"id": 1, "file_name": "basketball1.png", "width": 640, "height": 480}]
    assert len(answer["results"]) == 2
    for r in answer["results"]:
        assert r["image_id"] == 1 and r["category_id"] == 1 and len(r["keypoints"]) == 17 * 3
        assert r["score"] >= answer["person_threshold"]
        x, y, w, h = r["bbox"]
        assert 0 <= x < 640 and 0 <= y < 480 and w > 20 and h > 50
    assert set(answer["skeletons"]) == {"coco17"}


def test_threshold_zero_keeps_every_candidate_the_default_keeps(client, data_root):
    photo = (data_root / "unlabeled" / "basketball1.png").read_bytes()
    default = client.post("/v1/predict", files={"image": ("b.png", photo)}).json()
    everyone = client.post("/v1/predict", data={"person_threshold": "0"}, files={"image": ("b.png", photo)}).json()
    strict = client.post("/v1/predict", data={"person_threshold": "0.99"}, files={"image": ("b.png", photo)}).json()
    kept = [r for r in everyone["results"] if r["score"] >= default["model_person_threshold"]]
    assert [r["keypoints"] for r in kept] == [r["keypoints"] for r in default["results"]]
    assert strict["results"] == []


def test_video_answers_every_frame(client, clip):
    answer = client.post("/v1/predict", files={"video": (clip.name, clip.read_bytes())}).json()
    assert answer["kind"] == "video" and [i["frame"] for i in answer["images"]] == list(range(6))
    assert answer["results"] and all(r["image_id"] == r["frame"] + 1 for r in answer["results"])
    assert answer["tracked"] is False and not any("track_id" in r for r in answer["results"])  # track=false
    # the same bytes as 'file' are told apart by their first bytes
    again = client.post("/v1/predict", files={"file": ("x.bin", clip.read_bytes())}).json()
    assert again["kind"] == "video" and len(again["results"]) == len(answer["results"])


def _track_ids(results: list[dict]) -> dict[int, list[int]]:
    """frame -> the track ids in it."""
    ids: dict[int, list[int]] = {}
    for r in results:
        ids.setdefault(r["frame"], []).append(r["track_id"])
    return ids


def test_a_tracked_video_answers_what_predict_video_gives(client, clip):
    """track=true: every result has a track_id and its raw keypoints, exactly as ``Predictor.predict_video(path,
    track=True)`` gives them -- at 0.55 too, where the tracker keeps walkers scoring 0.5-0.55 in the frames where
    they continue a track (the server must not drop them)."""
    import numpy as np

    from posekit.api import load_model

    predictor = load_model("default", threads=1)
    for threshold in (None, 0.55):
        options = {"track": "true"} | ({"person_threshold": str(threshold)} if threshold else {})
        answer = client.post("/v1/predict", data=options, files={"video": (clip.name, clip.read_bytes())}).json()
        assert answer["tracked"] is True and answer["results"]
        assert all(isinstance(r["track_id"], int) and len(r["keypoints_raw"]) == 17 * 3 for r in answer["results"])
        ids = _track_ids(answer["results"])
        assert all(len(set(v)) == len(v) for v in ids.values())
        if threshold is None:
            assert sorted(ids) == list(range(6)) and set.intersection(*(set(v) for v in ids.values())), \
                "nobody kept their id through 6 frames"
        else:
            assert min(r["score"] for r in answer["results"]) < threshold

        predictor.person_threshold = threshold or answer["model_person_threshold"]
        with predictor.predict_video(clip, track=True) as frames:
            expected = [p.to_dict(i + 1, clip.name, i) for i, _, people in frames for p in people]
        assert [(r["frame"], r["track_id"]) for r in answer["results"]] == \
            [(r["frame"], r["track_id"]) for r in expected]
        for got, want in zip(answer["results"], expected):
            assert np.allclose(got["keypoints"], want["keypoints"], atol=0.01)
            assert np.allclose(got["keypoints_raw"], want["keypoints_raw"], atol=0.01)


def _yellow(image):
    """Where a BGR image has the track ids' yellow (BGR 0, 255, 255, allowing for the codec): a bool mask."""
    b, g, r = (image[..., i].astype(int) for i in range(3))
    return (r > 170) & (g > 170) & (b < 120)


def _ids_are_drawn(drawn: bytes, clip, results: list[dict], tmp_path) -> None:
    """The drawn WebM has every frame, with yellow id labels over the people's boxes (where the source has
    none)."""
    (tmp_path / "drawn.webm").write_bytes(drawn)
    ours, source = cv2.VideoCapture(str(tmp_path / "drawn.webm")), cv2.VideoCapture(str(clip))
    frames = 0
    while True:
        ok, frame = ours.read()
        if not ok:
            break
        ok, original = source.read()
        assert ok and frame.shape == original.shape == (288, 384, 3)
        for r in (r for r in results if r["frame"] == frames):
            x, y = (int(v) for v in r["bbox"][:2])  # the label "id N  score" is written over the box
            label = (slice(max(0, y - 18), max(18, y)), slice(max(0, x), x + 30))
            new_yellow = _yellow(frame[label]) & ~_yellow(original[label])  # (the scene has yellow cones)
            assert new_yellow.sum() >= 5, f"no id drawn for {r['track_id']} in frame {frames}"
        frames += 1
    ours.release()
    source.release()
    assert frames == 6


def _wait(client, job_id, until, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = client.get(f"/v1/jobs/{job_id}").json()
        if until(state):
            return state
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never reached the state wanted: {state}")


def test_job_progress_result_and_drawn_video(client, clip, upload_dir, tmp_path):
    job = client.post("/v1/jobs", data={"track": "true"}, files={"video": (clip.name, clip.read_bytes())})
    assert job.status_code == 202
    job_id = job.json()["id"]
    state = _wait(client, job_id, lambda s: s["state"] in ("done", "failed"))
    assert state["state"] == "done" and state["frames_done"] == state["frames_total"] == 6
    result = client.get(f"/v1/jobs/{job_id}/result").json()
    assert len(result["images"]) == 6 and result["results"] and result["tracked"] is True
    assert all(isinstance(r["track_id"], int) for r in result["results"])
    preview = client.get(f"/v1/jobs/{job_id}/preview")  # the page's live view: the latest drawn frame
    assert preview.headers["content-type"] == "image/jpeg" and preview.content[:3] == b"\xff\xd8\xff"
    video = client.get(f"/v1/jobs/{job_id}/video")
    assert video.headers["content-type"] == "video/webm" and video.content[:4] == b"\x1a\x45\xdf\xa3"
    _ids_are_drawn(video.content, clip, result["results"], tmp_path)
    assert client.delete(f"/v1/jobs/{job_id}").json()["deleted"]
    assert client.get(f"/v1/jobs/{job_id}").status_code == 404
    assert not list(upload_dir.glob("posekit_serve_*")), "a deleted job left its folder"


def test_cancel_stops_a_running_job(client, clip, upload_dir):
    job_id = client.post("/v1/jobs", files={"video": (clip.name, clip.read_bytes())}).json()["id"]
    _wait(client, job_id, lambda s: s["state"] == "running")
    assert client.delete(f"/v1/jobs/{job_id}").json()["state"] == "cancelled"
    assert client.get(f"/v1/jobs/{job_id}").status_code == 404
    deadline = time.time() + 30  # the worker stops at its next frame and removes the job's folder
    while (client.get("/healthz").json()["busy"] or list(upload_dir.glob("posekit_serve_*"))) \
            and time.time() < deadline:
        time.sleep(0.05)
    assert client.get("/healthz").json()["busy"] == 0
    assert not list(upload_dir.glob("posekit_serve_*")), "a cancelled job left its folder"


def test_models_page_and_openapi(client):
    models = client.get("/v1/models").json()
    names = [m["name"] for m in models["models"]]
    assert models["default"] == "default" and "default" in names and "paf" in names
    assert "yolox-nano" not in names and "detector" not in names  # detectors are a stage, not a pose model
    page = client.get("/")
    assert page.status_code == 200 and "people-count" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing fetched from elsewhere
    spec = client.get("/openapi.json").json()
    assert {"/v1/predict", "/v1/models", "/healthz", "/v1/jobs", "/v1/jobs/{job_id}"} <= set(spec["paths"])
    body = spec["paths"]["/v1/predict"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert {"image", "video", "model", "person_threshold", "track"} <= set(body["properties"])


def test_the_openapi_pages_work_offline(client):
    """/docs (Swagger UI) and /redoc load their scripts and styles from this server, never a CDN, and those answer."""
    import re

    for page, wanted in (("/docs", ("swagger-ui-bundle.js", "swagger-ui.css")), ("/redoc", ("redoc.standalone.js",))):
        html = client.get(page)
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
        assert "http://" not in html.text and "https://" not in html.text and "//cdn" not in html.text, page
        urls = re.findall(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']""", html.text)
        urls += re.findall(r"""url:\s*['"]([^'"]+)['"]""", html.text)  # the OpenAPI document's, in the script
        assert all(any(name in u for u in urls) for name in wanted), (page, urls)
        assert "/openapi.json" in urls, (page, urls)
        for url in urls:
            assert url.startswith("/") and not url.startswith("//"), f"{page} loads {url} from elsewhere"
            answer = client.get(url)
            assert answer.status_code == 200 and len(answer.content) > 100, f"{page}: {url} answers {answer}"


def test_a_token_is_required_when_set(serve_app, _session_cache, monkeypatch, data_root):
    monkeypatch.setenv("POSEKIT_CACHE", str(_session_cache))
    with serve_app(ServeSettings(workers=1, threads=1, token="s3cret-token", preload=False)) as url:
        assert httpx.get(f"{url}/v1/models").status_code == 401
        wrong = httpx.get(f"{url}/v1/models", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and "wrong token" in wrong.json()["detail"]
        ok = httpx.get(f"{url}/v1/models", headers={"Authorization": "Bearer s3cret-token"})
        assert ok.status_code == 200
        assert httpx.get(f"{url}/healthz").json()["status"] == "ok"  # a health probe needs no token


def test_an_exif_rotated_upload_is_posed_like_its_upright_twin(client):
    """Issue 21, "EXIF": a photo stored sideways with orientation 6 is posed like its same-pixel upright twin
    through an upload (the same people; keypoints within 2 px on average)."""
    import numpy as np
    from image_fixtures import exif_rotated_jpeg, real_photo, upright_twin_png

    sideways = exif_rotated_jpeg(real_photo(), 6)
    turned = client.post("/v1/predict", files={"image": ("phone.jpg", sideways)}).json()
    upright = client.post("/v1/predict", files={"image": ("twin.png", upright_twin_png(sideways))}).json()
    assert turned["images"][0]["width"] == upright["images"][0]["width"] == 548  # posed upright, not sideways
    assert len(turned["results"]) == len(upright["results"]) >= 1
    for a, b in zip(turned["results"], upright["results"]):
        pa, pb = (np.asarray(r["keypoints"]).reshape(-1, 3)[:, :2] for r in (a, b))
        assert np.linalg.norm(pa - pb, axis=1).mean() < 2.0


def _stub_app(**settings):
    """An app whose worker pool is replaced after start (no model loads): to drive the 503 / 504 paths."""
    from fastapi.testclient import TestClient

    from posekit.serve.app import create_app

    return TestClient(create_app(ServeSettings(workers=1, threads=1, preload=False, **settings)))


def test_a_full_queue_answers_503_with_retry_after(data_root):
    from posekit.serve.pool import Busy

    photo = (data_root / "unlabeled" / "basketball1.png").read_bytes()
    with _stub_app() as c:
        def full(task, *args):
            raise Busy("all 1 workers are busy and 4 requests are waiting")

        c.app.state.server.pool.submit = full
        answer = c.post("/v1/predict", files={"image": ("b.png", photo)})
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "1"
        assert "busy" in answer.json()["detail"] and "retry" in answer.json()["detail"]


def test_a_request_over_the_time_limit_answers_504(data_root):
    from concurrent.futures import Future

    photo = (data_root / "unlabeled" / "basketball1.png").read_bytes()
    never = Future()
    with _stub_app(timeout=0.5) as c:
        c.app.state.server.pool.submit = lambda task, *args: never
        answer = c.post("/v1/predict", files={"image": ("b.png", photo)})
        assert answer.status_code == 504 and "limit of 0 s" not in answer.json()["detail"]
        assert "longer than the server's limit" in answer.json()["detail"] and never.cancelled()
