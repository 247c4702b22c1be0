"""Bad input, each kind answered with a 4xx and a message that says what is wrong (or with a correct result), the
server healthy afterwards and no temporary folder left behind (issue 21, "Bad input")."""

from __future__ import annotations

import socket
import struct
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from image_fixtures import (
    UNICODE_NAME,
    animated_gif,
    cmyk_jpeg,
    grey_png,
    heic_header,
    html_as_jpg,
    huge_declared_png,
    png16,
    text_as_jpg,
    truncated_jpeg,
)

BOUNDARY = "posekit-test-boundary"


def corrupt_avi() -> bytes:
    rng = np.random.default_rng(0)
    return b"RIFF" + struct.pack("<I", 40000) + b"AVI LIST" + rng.integers(0, 256, 40000, dtype=np.uint8).tobytes()


def multipart(parts: list[tuple[str, str | None, bytes]]) -> tuple[bytes, dict]:
    """A multipart body written by hand (for what httpx will not send): (field, filename or None, bytes)."""
    body = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        body += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
    body += f"--{BOUNDARY}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def raw_post(client, path: str, headers: dict, body: bytes) -> httpx.Response:
    """A POST written on a socket, for headers httpx will not send (a Content-Length the body does not have)."""
    url = httpx.URL(str(client.base_url))
    with socket.create_connection((url.host, url.port), timeout=30) as s:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: {url.host}\r\nConnection: close\r\n{head}\r\n".encode() + body)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    return httpx.Response(int(status_line.split()[1]), content=rest.partition(b"\r\n\r\n")[2])


@pytest.fixture(scope="module")
def photos(data_root):
    folder = data_root / "unlabeled"
    return {"basketball": (folder / "basketball1.png").read_bytes(), "video": (folder / "vtest.avi").read_bytes(),
            "array": cv2.imread(str(folder / "basketball1.png"))}


def _leftover_folders(upload_dir: Path) -> set[str]:
    return {p.name for p in upload_dir.glob("posekit_serve_*")}


def _send(client, case, photos):
    """One bad request of ``case``; returns the response."""
    img, arr = photos["basketball"], photos["array"]
    requests = {
        "empty body": lambda: client.post("/v1/predict", content=b""),
        "empty multipart": lambda: client.post("/v1/predict", content=multipart([])[0],
                                               headers=multipart([])[1]),
        "no file field": lambda: client.post("/v1/predict", content=multipart([("model", None, b"default")])[0],
                                             headers=multipart([])[1]),
        "file in an unknown field": lambda: client.post("/v1/predict", files={"photo": ("a.png", img)}),
        "text field named image": lambda: client.post("/v1/predict", content=multipart([("image", None, b"hi")])[0],
                                                      headers=multipart([])[1]),
        "0-byte file": lambda: client.post("/v1/predict", files={"image": ("empty.jpg", b"", "image/jpeg")}),
        "truncated jpeg": lambda: client.post("/v1/predict", files={"image": ("cut.jpg", truncated_jpeg(arr))}),
        "text file named .jpg": lambda: client.post("/v1/predict", files={"image": ("notes.jpg", text_as_jpg())}),
        "web page named .jpg": lambda: client.post("/v1/predict", files={"image": ("page.jpg", html_as_jpg())}),
        "heic photo": lambda: client.post("/v1/predict", files={"image": ("IMG_0001.HEIC", heic_header())}),
        "png declaring 100000 x 100000": lambda: client.post(
            "/v1/predict", files={"image": ("bomb.png", huge_declared_png(100_000, 100_000))}),
        "upload over the limit": lambda: client.post(
            "/v1/predict", files={"image": ("big.jpg", b"\xff\xd8\xff" + bytes(3_200_000))}),
        "path traversal name": lambda: client.post("/v1/predict", files={"image": ("../../etc/passwd.jpg", img)}),
        "unicode name": lambda: client.post("/v1/predict", files={"image": (UNICODE_NAME, img)}),
        "video as a photo": lambda: client.post("/v1/predict", files={"image": ("clip.avi", photos["video"])}),
        "corrupt video": lambda: client.post("/v1/predict", files={"video": ("broken.avi", corrupt_avi())}),
        "wrong content-type": lambda: client.post("/v1/predict", json={"image": "basketball1.png"}),
        "unknown model": lambda: client.post("/v1/predict", data={"model": "no-such-model"},
                                             files={"image": ("a.png", img)}),
        "threshold -1": lambda: client.post("/v1/predict", data={"person_threshold": "-1"},
                                            files={"image": ("a.png", img)}),
        "threshold abc": lambda: client.post("/v1/predict", data={"person_threshold": "abc"},
                                             files={"image": ("a.png", img)}),
        "track maybe": lambda: client.post("/v1/predict", data={"track": "maybe"}, files={"image": ("a.png", img)}),
        "unknown option": lambda: client.post("/v1/predict", data={"colour": "red"}, files={"image": ("a.png", img)}),
        "GET on a POST route": lambda: client.get("/v1/predict"),
        "huge multipart header": lambda: client.post(
            "/v1/predict", content=multipart([("image", "x" * 20_000 + ".png", img)])[0], headers=multipart([])[1]),
        "too many files": lambda: client.post("/v1/predict",
                                              files=[("image", ("a.png", img)), ("image", ("b.png", img))]),
        "declared length over the limit": lambda: raw_post(client, "/v1/predict", {
            "Content-Type": "multipart/form-data; boundary=x", "Content-Length": "999999999999"}, b"--x--\r\n"),
        "photo sent as a job": lambda: client.post("/v1/jobs", files={"video": ("a.png", img)}),
        "unknown job": lambda: client.get("/v1/jobs/no-such-job"),
        "1x1 image": lambda: client.post("/v1/predict",
                                         files={"image": ("dot.png", cv2.imencode(".png", arr[:1, :1])[1].tobytes())}),
        "grey png": lambda: client.post("/v1/predict", files={"image": ("grey.png", grey_png(arr))}),
        "16-bit png": lambda: client.post("/v1/predict", files={"image": ("deep.png", png16(arr))}),
        "animated gif": lambda: client.post("/v1/predict", files={"image": ("anim.gif", animated_gif(arr))}),
        "cmyk jpeg": lambda: client.post("/v1/predict", files={"image": ("cmyk.jpg", cmyk_jpeg(arr))}),
    }
    return requests[case]()


# case -> (allowed statuses, words the message must contain (4xx) or a check of the result (200))
CASES = {
    "empty body": ({415}, "multipart/form-data"),
    "empty multipart": ({400}, "no file"),
    "no file field": ({400}, "no file in the request"),
    "file in an unknown field": ({400}, "unexpected file field 'photo'"),
    "text field named image": ({400}, "must be a file upload"),
    "0-byte file": ({400}, "empty"),
    "truncated jpeg": ({422}, "truncated JPEG"),
    "text file named .jpg": ({422}, "not an image: it looks like text"),
    "web page named .jpg": ({422}, "HTML"),
    "heic photo": ({422}, "HEIC"),
    "png declaring 100000 x 100000": ({413}, "declares 100,000 x 100,000 pixels"),
    "upload over the limit": ({413}, "limit of 3 MB"),
    "path traversal name": ({200}, lambda r: r["file_name"] == "passwd.jpg" and len(r["results"]) == 2),
    "unicode name": ({200}, lambda r: r["file_name"] == UNICODE_NAME
                     and r["results"][0]["file_name"] == r["file_name"]),
    "video as a photo": ({415}, "is a video"),
    "corrupt video": ({422}, "not a readable video"),
    "wrong content-type": ({415}, "multipart/form-data"),
    "unknown model": ({400}, "unknown model 'no-such-model'"),
    "threshold -1": ({400}, "person_threshold must be in [0, 1]"),
    "threshold abc": ({400}, "person_threshold must be a number"),
    "track maybe": ({400}, "track must be true or false"),
    "unknown option": ({400}, "unknown option(s) colour"),
    "GET on a POST route": ({405}, "Method Not Allowed"),
    "huge multipart header": ({400}, "malformed multipart"),
    "too many files": ({400}, "too many files"),
    "declared length over the limit": ({413}, "over the server's limit"),
    "photo sent as a job": ({415}, "is a photo"),
    "unknown job": ({404}, "no job"),
    "1x1 image": ({200}, lambda r: r["images"][0]["width"] == 1 and r["results"] == []),
    "grey png": ({200}, lambda r: len(r["results"]) >= 1),
    "16-bit png": ({200}, lambda r: len(r["results"]) == 2),
    "animated gif": ({200}, lambda r: len(r["results"]) >= 1),
    "cmyk jpeg": ({200}, lambda r: len(r["results"]) >= 1),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_refused_clearly_and_the_server_stays_healthy(client, photos, case, upload_dir):
    statuses, expect = CASES[case]
    response = _send(client, case, photos)
    assert response.status_code in statuses, (case, response.status_code, response.text[:300])
    body = response.json()
    if response.status_code == 200:
        assert expect(body), (case, {k: v for k, v in body.items() if k != "results"})
    else:
        assert expect in body["detail"], (case, body)
    assert client.get("/healthz").json()["status"] == "ok"
    assert not _leftover_folders(upload_dir), f"{case}: an upload's temporary folder was left behind"


def test_at_least_twenty_kinds_of_bad_input():
    assert len(CASES) >= 20
