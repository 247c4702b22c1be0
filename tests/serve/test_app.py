"""The API on a live server: a photo's people, a video's frames, video jobs (progress, result, drawn video,
cancel), the model list, the page, the OpenAPI document, and the token."""

from __future__ import annotations

import time

import cv2
import httpx
import pytest

from posekit.serve.settings import ServeSettings


@pytest.fixture(scope="module")
def clip(data_root, tmp_path_factory):
    """The first 6 frames of vtest.avi at half size, as an MJPG AVI."""
    path = tmp_path_factory.mktemp("clip") / "walkers.avi"
    cap = cv2.VideoCapture(str(data_root / "unlabeled" / "vtest.avi"))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (384, 288))
    for _ in range(6):
        ok, frame = cap.read()
        assert ok
        writer.write(cv2.resize(frame, (384, 288)))
    writer.release()
    cap.release()
    return path


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
    # the same bytes as 'file' are told apart by their first bytes
    again = client.post("/v1/predict", files={"file": ("x.bin", clip.read_bytes())}).json()
    assert again["kind"] == "video" and len(again["results"]) == len(answer["results"])


def _wait(client, job_id, until, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = client.get(f"/v1/jobs/{job_id}").json()
        if until(state):
            return state
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never reached the state wanted: {state}")


def test_job_progress_result_and_drawn_video(client, clip, upload_dir):
    job = client.post("/v1/jobs", data={"track": "true"}, files={"video": (clip.name, clip.read_bytes())})
    assert job.status_code == 202
    job_id = job.json()["id"]
    state = _wait(client, job_id, lambda s: s["state"] in ("done", "failed"))
    assert state["state"] == "done" and state["frames_done"] == state["frames_total"] == 6
    result = client.get(f"/v1/jobs/{job_id}/result").json()
    assert len(result["images"]) == 6 and result["results"]
    preview = client.get(f"/v1/jobs/{job_id}/preview")  # the page's live view: the latest drawn frame
    assert preview.headers["content-type"] == "image/jpeg" and preview.content[:3] == b"\xff\xd8\xff"
    video = client.get(f"/v1/jobs/{job_id}/video")
    assert video.headers["content-type"] == "video/webm" and video.content[:4] == b"\x1a\x45\xdf\xa3"
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
