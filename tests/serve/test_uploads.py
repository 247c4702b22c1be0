"""Upload helpers: the echoed file name, what the bytes are, the pixel limit read from the header."""

from __future__ import annotations

import cv2
import numpy as np
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
    with pytest.raises(UploadError, match="640 x 480 pixels is over") as e:
        decode_image(data, "b.png", 640 * 480 - 1)
    assert e.value.status == 413


def test_an_exif_rotated_photo_is_decoded_upright(data_root):
    from io import BytesIO

    from PIL import Image

    image = cv2.imread(str(data_root / "unlabeled" / "messi5.jpg"))
    turned = np.ascontiguousarray(np.rot90(image, 1))  # stored turned; orientation 6 says: turn 90 clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    out = BytesIO()
    Image.fromarray(turned[:, :, ::-1]).save(out, format="JPEG", exif=exif, quality=95)
    upright = decode_image(out.getvalue(), "phone.jpg", 10**8)
    assert upright.shape == image.shape
    assert np.abs(upright.astype(int) - image.astype(int)).mean() < 6
