"""posekit.image_io: photos as phones make them decode upright to uint8 BGR; everything else is refused
before decoding with a message that says what it is. Built from a real photo (tests/image_fixtures.py)."""

from __future__ import annotations

import io
import json
import time

import cv2
import numpy as np
import pytest
from image_fixtures import (
    UNICODE_NAME,
    animated_gif,
    cmyk_jpeg,
    encoded,
    exif_rotated_jpeg,
    grey_alpha_png,
    grey_png,
    heic_header,
    html_as_jpg,
    huge_declared_png,
    jpeg,
    mp4_header,
    palette_png,
    png16,
    real_photo,
    rgba_png,
    stored_for_orientation,
    text_as_jpg,
    truncated_jpeg,
    truncated_png,
    upright_twin_png,
    video_bytes,
)

from posekit.data.dataset import read_image
from posekit.image_io import MAX_PIXELS, ImageError, decode, decode_image, orient
from posekit.predict.inputs import checked_image


@pytest.fixture(scope="module")
def photo(data_root) -> np.ndarray:
    return real_photo()  # messi5.jpg, 548 x 342


def mean_error(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_comes_out_upright_and_as_opencv_turns_it(photo, orientation):
    data = exif_rotated_jpeg(photo, orientation)
    result = decode(data)
    assert result.image.shape == photo.shape and result.format == "JPEG"
    assert mean_error(result.image, photo) < 2.5  # JPEG noise only: a wrong turn or mirror is ~40
    # OpenCV's own EXIF handling (imdecode, IMREAD_COLOR) of the same file: the same pixels exactly
    assert np.array_equal(result.image, cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))
    assert np.array_equal(orient(stored_for_orientation(photo, orientation), orientation), photo)
    assert any(f"orientation {orientation}" in n for n in result.notes) == (orientation != 1)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF"])
def test_exif_orientation_6_is_applied_once_in_png_webp_and_tiff(photo, fmt):
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6
    image = decode_image(encoded(stored_for_orientation(photo, 6), fmt, exif=exif.tobytes()))
    assert mean_error(image, photo) < 3  # OpenCV's TIFF decoder turns it itself: not turned twice


def test_sixteen_bit_png_is_scaled_not_truncated_or_wrapped(photo):
    result = decode(png16(photo))
    assert np.array_equal(result.image, photo)  # v * 257 -> v exactly (a >> 8 would also pass; wrapping not)
    assert result.notes == ("16-bit values scaled to 8 bit",)
    ramp = (np.arange(65536, dtype=np.uint16).reshape(256, 256))
    image = decode_image(cv2.imencode(".png", ramp)[1].tobytes())
    assert np.array_equal(image[:, :, 0].ravel(), np.round(np.arange(65536) * 255 / 65535).astype(np.uint8))


def test_grey_palette_and_cmyk_images_become_three_channel_bgr(photo):
    grey = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)
    image = decode_image(grey_png(photo))
    assert image.shape == photo.shape and all(np.array_equal(image[:, :, c], grey) for c in range(3))
    assert mean_error(decode_image(palette_png(photo)), photo) < 6
    cmyk = decode(cmyk_jpeg(photo))
    assert mean_error(cmyk.image, photo) < 3 and "CMYK" in cmyk.notes[0]  # inverted Adobe CMYK would be ~120


def test_alpha_is_composited_over_white(photo):
    for data in (rgba_png(photo, transparent_rows=50), grey_alpha_png(photo, transparent_rows=50)):
        result = decode(data)
        assert result.image.shape == photo.shape and result.notes == ("alpha composited over white",)
        assert (result.image[:50] == 255).all()  # transparent (stored black) -> white
    assert np.array_equal(decode_image(rgba_png(photo)), photo)  # opaque alpha: dropped


def test_animated_gif_gives_its_first_frame_and_says_so(photo, caplog):
    data = animated_gif(photo, frames=3)
    result = decode(data)
    assert mean_error(result.image, photo) < 6 and result.warnings == ("GIF with 3 frames: the first one is used",)
    with caplog.at_level("WARNING", logger="posekit.image_io"):
        decode_image(data, name="clip.gif")
    assert "clip.gif: GIF with 3 frames: the first one is used" in caplog.text


@pytest.mark.parametrize("fmt", ["WEBP", "BMP", "TIFF", "AVIF"])
def test_other_formats(photo, fmt):
    from PIL import features

    if fmt == "AVIF" and not features.check("avif"):
        pytest.skip("this Pillow has no AVIF codec")
    data = encoded(photo, fmt)
    if fmt == "AVIF" and cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) is None:
        pytest.skip("this OpenCV has no AVIF decoder")
    result = decode(data)
    assert result.format == fmt and mean_error(result.image, photo) < 3


def test_a_multi_picture_jpeg_gives_its_first_picture_and_float_tiffs_are_refused(photo):
    from PIL import Image

    first, second = Image.fromarray(cv2.cvtColor(photo, cv2.COLOR_BGR2RGB)), Image.new("RGB", (200, 100))
    buffer = io.BytesIO()
    first.save(buffer, "MPO", save_all=True, append_images=[second], quality=95)  # (as 3D and some phone cameras)
    result = decode(buffer.getvalue())
    assert result.format == "JPEG" and mean_error(result.image, photo) < 2.5
    buffer = io.BytesIO()
    Image.fromarray(np.ones((20, 30), np.float32)).save(buffer, "TIFF")
    with pytest.raises(ImageError, match="float32 pixel values .* 8- or 16-bit"):
        decode_image(buffer.getvalue(), name="depth.tif")


@pytest.mark.parametrize("make, words", [
    (lambda p: b"", "is empty (0 bytes)"),
    (lambda p: text_as_jpg(), "not an image: it looks like text (it starts 'This is not a photo"),
    (lambda p: html_as_jpg(), "it looks like an HTML page"),
    (lambda p: b"%PDF-1.7\n%\xe2\xe3", "it looks like a PDF document"),
    (lambda p: bytes(range(256)), "binary data of an unknown kind"),
    (lambda p: video_bytes(), "this is a video (an AVI video), not a photo"),
    (lambda p: mp4_header(), "this is a video (an MP4/MOV video)"),
    (lambda p: b"\x1a\x45\xdf\xa3\x01\0\0\0\0\0\0\x1f\x42\x86\x81\x01\x42\x82\x84webm", "a WebM video"),
    (lambda p: heic_header(), "HEIC/HEIF photo"),
    (lambda p: truncated_jpeg(p), "a truncated JPEG file"),
    (lambda p: truncated_jpeg(p, keep=0.01), "a truncated JPEG file"),
    (lambda p: truncated_png(p), "a truncated PNG file"),
    (lambda p: jpeg(p)[:4] + b"\0" * 200, "a damaged JPEG file: its header cannot be read (a segment length of 0"),
])
def test_what_is_not_a_photo_is_refused_with_what_it_is(photo, make, words):
    with pytest.raises(ImageError, match="upload.jpg: ") as error:
        decode_image(make(photo), name="upload.jpg")
    assert words in str(error.value)
    assert isinstance(error.value, ValueError)  # the CLI reports ValueErrors as user errors
    if "empty" in words or "looks like" in words:
        assert "posekit reads JPEG, PNG" in str(error.value)


def test_a_decompression_bomb_is_refused_from_its_header_without_decoding():
    data = huge_declared_png()
    assert len(data) < 2000
    start = time.perf_counter()
    with pytest.raises(ImageError, match=r"declares 100,000 x 100,000 pixels \(10,000 MP\); at most 210 MP"):
        decode_image(data, name="bomb.png")
    assert time.perf_counter() - start < 0.5
    # OpenCV alone answers it with an assertion (the error posekit used to show)
    with pytest.raises(cv2.error):
        cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def test_max_pixels_is_the_one_limit(photo):
    data = jpeg(photo)
    with pytest.raises(ImageError, match="at most 1,000 pixels"):
        decode_image(data, max_pixels=1000)
    assert decode_image(data, max_pixels=photo.shape[0] * photo.shape[1]).shape == photo.shape
    assert MAX_PIXELS >= 16320 * 12240  # a 200-MP phone photo
    # GIF/WebP/TIFF headers go through Pillow's format classes: Pillow's own (smaller) bomb limit is not applied
    import PIL.Image

    big = encoded(np.zeros((1, 1, 3), np.uint8), "GIF")
    big = big[:6] + (40000).to_bytes(2, "little") + (6000).to_bytes(2, "little") + big[10:]  # 240 MP declared
    assert 40000 * 6000 > 2 * PIL.Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageError, match="declares 40,000 x 6,000 pixels"):
        decode_image(big)
    with pytest.raises(ValueError, match="max_pixels must be"):
        decode_image(data, max_pixels=0)


def test_paths_files_and_unicode_names(photo, tmp_path):
    path = tmp_path / UNICODE_NAME
    path.write_bytes(exif_rotated_jpeg(photo, 6))
    assert mean_error(read_image(path), photo) < 2.5
    assert mean_error(decode_image(str(path)), photo) < 2.5
    with pytest.raises(FileNotFoundError, match="image file not found"):
        read_image(tmp_path / "missing.jpg")
    with pytest.raises(IsADirectoryError, match="is a folder, not an image file"):
        read_image(tmp_path)
    bad = tmp_path / "notes.jpg"
    bad.write_bytes(text_as_jpg())
    with pytest.raises(ImageError, match=f"{bad}: not an image: it looks like text"):
        read_image(bad)
    with pytest.raises(TypeError, match="file path or its bytes"):
        decode_image(12)


def test_predictors_take_bytes_and_bad_bytes_get_clear_errors(photo):
    assert mean_error(checked_image(exif_rotated_jpeg(photo, 8)), photo) < 2.5
    assert checked_image(bytearray(jpeg(photo))).shape == photo.shape
    with pytest.raises(ImageError, match="this is a video"):
        checked_image(video_bytes())
    with pytest.raises(TypeError, match="takes a file path, the file's bytes or an H x W x 3"):
        checked_image([[1, 2, 3]])


def _people(results: list[dict]) -> list[np.ndarray]:
    return [np.asarray(r["keypoints"], dtype=float).reshape(-1, 3)[:, :2] for r in results]


@pytest.mark.heavy
def test_a_sideways_phone_photo_is_posed_like_its_upright_twin_through_the_cli(photo, tmp_path):
    """``posekit predict FILE --json`` and ``posekit predict FOLDER --json`` (the default model) on an
    orientation-6 JPEG and its upright twin (the same pixels turned by OpenCV, PNG): the same people,
    keypoints within 2 px on average (0 when the orientation is right; a wrong turn moves them by ~100)."""
    from posekit.cli import main

    folder = tmp_path / "phone"
    folder.mkdir()
    sideways = exif_rotated_jpeg(photo, 6)
    (folder / "sideways.jpg").write_bytes(sideways)
    (folder / "upright.png").write_bytes(upright_twin_png(sideways))
    fast = ["-q", "--backend", "torch", "--threads", "2"]  # (ONNX Runtime would first export the model: ~30 s)
    assert main(["predict", str(folder / "sideways.jpg"), "--json", str(tmp_path / "file.json"), *fast]) == 0
    assert main(["predict", str(folder), "--json", str(tmp_path / "folder.json"), *fast]) == 0
    from_file = _people(json.loads((tmp_path / "file.json").read_text()))
    in_folder = json.loads((tmp_path / "folder.json").read_text())
    upright = _people([r for r in in_folder if r["file_name"].endswith("upright.png")])
    sideways = _people([r for r in in_folder if r["file_name"].endswith("sideways.jpg")])
    assert len(upright) >= 1 and len(sideways) == len(upright) == len(from_file)
    key = lambda kp: tuple(kp.mean(axis=0).round())  # noqa: E731 (people in the same order: by centre)
    for turned in (from_file, sideways):
        for a, b in zip(sorted(upright, key=key), sorted(turned, key=key)):
            assert np.linalg.norm(a - b, axis=1).mean() < 2.0
