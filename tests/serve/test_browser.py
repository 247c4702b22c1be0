"""The page in a real browser: headless Chromium (Debian's, driven by Playwright for Python) uploads
basketball1.png, waits for the drawing, checks the people count shown against the API's answer for the same photo,
downloads the results JSON and reads it with pycocotools (issue 21, "A real browser")."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the test extra)")
    if not shutil.which(CHROMIUM):
        pytest.skip(f"no chromium at {CHROMIUM}: apt-get install -y chromium (.ci/run does)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


def tiny_ground_truth(answer: dict) -> dict:
    """A COCO keypoints ground truth for the photo: the API's people as labelled persons (v = 2)."""
    from posekit.skeletons import COCO17

    annotations = []
    for i, r in enumerate(answer["results"], 1):
        kp = np.asarray(r["keypoints"], dtype=float).reshape(17, 3)
        kp[:, 2] = 2
        x, y, w, h = r["bbox"]
        annotations.append({"id": i, "image_id": 1, "category_id": 1, "keypoints": kp.reshape(-1).tolist(),
                            "num_keypoints": 17, "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})
    image = answer["images"][0]
    return {"images": [{"id": 1, "file_name": image["file_name"], "width": image["width"], "height": image["height"]}],
            "annotations": annotations,
            "categories": [{"id": 1, "name": "person", "keypoints": list(COCO17.joints), "skeleton": []}]}


def test_the_page_draws_the_people_the_api_finds(browser, live, client, data_root, tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    photo = data_root / "unlabeled" / "basketball1.png"
    answer = client.post("/v1/predict", files={"image": (photo.name, photo.read_bytes())}).json()
    page = browser.new_page(accept_downloads=True, bypass_csp=True)  # CSP forbids eval, which waits use
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{live}/")
    page.wait_for_function("document.querySelectorAll('#model option').length > 0")
    page.set_input_files("#files", str(photo))
    count = page.wait_for_selector("[data-testid=people-count][data-people]", timeout=60_000)
    page.wait_for_selector("canvas[data-drawn=true]")
    assert int(count.get_attribute("data-people")) == len(answer["results"]) == 2
    assert count.inner_text().startswith("2 people")
    assert page.input_value("#threshold") == str(answer["person_threshold"])

    with page.expect_download() as download:
        page.get_by_role("button", name="Download JSON").click()
    results_file = tmp_path / "results.json"
    download.value.save_as(results_file)
    gt_file = tmp_path / "gt.json"
    gt_file.write_text(json.dumps(tiny_ground_truth(answer)))
    gt = COCO(str(gt_file))
    found = gt.loadRes(str(results_file))
    assert len(found.anns) == 2
    evaluation = COCOeval(gt, found, "keypoints")
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    assert evaluation.stats[0] > 0.99  # the page's JSON is the API's answer, keypoint for keypoint

    page.fill("#threshold", "1")  # the slider filters on the page: nobody scores 1
    page.dispatch_event("#threshold", "input")
    assert count.get_attribute("data-people") == "0"
    assert not errors, errors
    page.close()


def test_a_video_plays_with_the_track_ids_the_api_finds(browser, live, client, clip, tmp_path):
    """A short video on the page: a job with tracking; the summary counts the ids of the job's results, the drawn
    WebM plays in the browser, and the JSON the page downloads has every result's track_id."""
    page = browser.new_page(accept_downloads=True, bypass_csp=True)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{live}/")
    page.wait_for_function("document.querySelectorAll('#model option').length > 0")
    page.set_input_files("#files", str(clip))
    summary = page.wait_for_selector("[data-testid=video-summary][data-ids]", timeout=120_000)
    result = client.get(f"/v1/jobs/{page.get_attribute('.card[data-job]', 'data-job')}/result").json()
    ids = {r["track_id"] for r in result["results"]}
    assert result["tracked"] is True and len(ids) >= 2
    assert summary.get_attribute("data-frames") == "6" and summary.get_attribute("data-ids") == str(len(ids))
    assert f"{len(ids)} ids" in summary.inner_text()
    page.wait_for_function("document.querySelector('.card video').readyState >= 2", timeout=30_000)  # it plays
    assert page.evaluate("document.querySelector('.card video').videoWidth") == 384

    with page.expect_download() as download:
        page.get_by_role("button", name="Download JSON").click()
    downloaded = json.loads(open(download.value.path()).read())
    assert [(r["frame"], r["track_id"]) for r in downloaded] == [(r["frame"], r["track_id"]) for r in result["results"]]
    assert not errors, errors
    page.close()


def test_the_openapi_page_renders_offline(browser, live):
    """/docs in a browser that may fetch nothing but this server: Swagger UI draws the operations."""
    page = browser.new_page()
    elsewhere = []

    def only_here(route):
        if route.request.url.startswith(live):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_here)
    page.goto(f"{live}/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=30_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert {"/v1/predict", "/v1/models", "/v1/jobs", "/healthz"} <= {p.strip().replace("\u200b", "") for p in paths}
    assert "posekit serve" in page.locator(".info .title").inner_text()
    assert not elsewhere, elsewhere
    page.close()
