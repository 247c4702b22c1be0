"""Upload helpers: the echoed file name, what the bytes are, the pixel limit read from the header."""

from __future__ import annotations

import pytest

from posekit.serve.uploads import UploadError, decode_image, safe_name, sniff


@pytest.mark.parametrize("raw, safe", [("../../etc/passwd.jpg", "passwd.jpg"), ("C:\\Users\\me\\a.png", "a.png"),
                                       ("..", "upload"), ("", "upload"), ("a\x00b\nc.jpg", "abc.jpg"),
                                       ("Café_東京.png", "Café_東京.png"), (".hidden.jpg", "hidden.jpg")])
def test_a_client_file_name_is_only_echoed_safely(raw, safe):
    assert safe_name(raw) == safe


def test_the_bytes_say_what_a_file_is(data_root):
    video = (data_root / "unlabeled" / "vtest.avi").read_bytes()[:16]
    photo = (data_root / "unlabeled" / "messi5.jpg").read_bytes()[:16]
    assert sniff(video) == "video" and sniff(photo) == "image"
    assert sniff(b"\x00\x00\x00\x18ftypisom" + bytes(4)) == "video"
    assert sniff(b"\x00\x00\x00\x18ftypheic" + bytes(4)) == "image"
    assert sniff(b"GIF89a" + bytes(10)) == "image" and sniff(b"hello world, hi!") is None


def test_the_pixel_limit_is_checked_before_decoding(data_root):
    data = (data_root / "unlabeled" / "basketball1.png").read_bytes()
    assert decode_image(data, "b.png", 640 * 480).shape == (480, 640, 3)
    with pytest.raises(UploadError, match="declares 640 x 480 pixels") as e:
        decode_image(data, "b.png", 640 * 480 - 1)
    assert e.value.status == 413


def test_refusals_keep_the_decoders_message_with_a_status():
    from image_fixtures import heic_header, html_as_jpg, huge_declared_png

    for data, status, words in ((huge_declared_png(), 413, "--max-pixels"), (html_as_jpg(), 422, "HTML"),
                                (heic_header(), 422, "HEIC")):
        with pytest.raises(UploadError, match=words) as e:
            decode_image(data, "x.jpg", 50_000_000)
        assert e.value.status == status
