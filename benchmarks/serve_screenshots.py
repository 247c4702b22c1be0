"""Screenshots of the ``posekit serve`` page in headless Chromium (Debian's, through Playwright): a photo, two models
compared on one photo, a video job mid-way (tracked: ids drawn), and the OpenAPI page /docs with POST /v1/predict
opened (served offline: the browser may fetch nothing but the server). Written to benchmarks/serve_screenshots/.

    python benchmarks/serve_screenshots.py
"""

from __future__ import annotations

import argparse
import os
import signal
from pathlib import Path

from serve_load import free_port, start_server

HERE = Path(__file__).resolve().parent


def shoot(url: str, data: Path, out: Path, compare_with: str) -> None:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 860}, bypass_csp=True)

        page.goto(url)
        page.wait_for_function("document.querySelectorAll('#model option').length > 0")
        page.set_input_files("#files", str(data / "unlabeled" / "basketball1.png"))
        page.wait_for_selector("canvas[data-drawn=true]", timeout=120_000)
        page.screenshot(path=str(out / "photo.png"), full_page=True)

        page.goto(url)
        page.wait_for_function("document.querySelectorAll('#model option').length > 0")
        page.check("#compare")
        page.select_option("#model2", compare_with)
        page.set_input_files("#files", str(data / "unlabeled" / "messi5.jpg"))
        page.wait_for_function("document.querySelectorAll('canvas[data-drawn=true]').length == 2", timeout=120_000)
        page.screenshot(path=str(out / "compare.png"), full_page=True)

        page.goto(url)
        page.wait_for_function("document.querySelectorAll('#model option').length > 0")
        page.set_input_files("#files", str(data / "unlabeled" / "vtest.avi"))
        page.wait_for_function("parseFloat((document.querySelector('.bar div') || {style: {}}).style.width || '0') "
                               ">= 15 && document.querySelector('img.preview[data-frame]')",
                               timeout=600_000, polling=500)
        page.wait_for_timeout(300)
        page.screenshot(path=str(out / "video.png"), full_page=True)
        page.get_by_role("button", name="Cancel").click()
        page.wait_for_timeout(500)

        docs(browser, url, out)
        browser.close()


def docs(browser, url: str, out: Path) -> None:
    """/docs with every request to elsewhere refused (as on a machine with no internet), POST /v1/predict open."""
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(url) else route.abort())
    page.goto(f"{url}docs")
    page.wait_for_selector(".opblock-summary-path", timeout=60_000)
    page.locator(".opblock-post .opblock-summary", has_text="/v1/predict").first.click()
    page.wait_for_selector(".opblock-post.is-open .opblock-body")
    page.wait_for_timeout(300)
    page.screenshot(path=str(out / "docs.png"), full_page=True)
    page.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.environ.get("POSEKIT_DATA", "../shared/datasets"))
    parser.add_argument("--compare-with", default="grmi-p5-2026-11-29")
    parser.add_argument("--out", default=str(HERE / "serve_screenshots"))
    args = parser.parse_args()
    args.workers, args.threads, args.queue_size, args.backend = 2, 1, 8, "onnxruntime"
    port = free_port()
    server = start_server(args, port)
    try:
        shoot(f"http://127.0.0.1:{port}/", Path(args.data), Path(args.out), args.compare_with)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
