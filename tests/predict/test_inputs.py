"""What predictors accept (posekit.predict.inputs): boxes and images checked with clear errors."""

import numpy as np
import pytest

from posekit.predict.inputs import checked_boxes, checked_image, video_frames


def test_boxes_of_the_right_shape_pass_and_one_flat_box_is_one_box():
    assert checked_boxes([[1, 2, 3, 4], [5, 6, 7, 8]]).shape == (2, 4)
    assert checked_boxes([1, 2, 3, 4]).shape == (1, 4)
    assert checked_boxes([]).shape == (0, 4)


def test_boxes_with_a_score_column_are_refused_not_reshaped():
    with pytest.raises(ValueError, match=r"\(N, 4\).*drop the score column"):
        checked_boxes(np.ones((2, 5)))  # reshape(-1, 4) would have made 2.5 wrong boxes of it
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        checked_boxes(np.ones(8))
    with pytest.raises(ValueError, match="NaN"):
        checked_boxes([[0, 0, np.nan, 1]])


def test_images_are_checked():
    with pytest.raises(TypeError, match="needs an image"):
        checked_image(None)
    with pytest.raises(ValueError, match="uint8 BGR"):
        checked_image(np.zeros((4, 4), np.uint8))
    assert checked_image(np.zeros((4, 5, 3), np.uint8)).shape == (4, 5, 3)


def test_video_frames_releases_the_video_when_the_loop_stops_early(data_root, monkeypatch):
    import cv2

    released = []
    real = cv2.VideoCapture

    class Watched:  # (OpenCV's classes cannot be subclassed safely)
        def __init__(self, *args):
            self.cap = real(*args)

        def isOpened(self):  # noqa: N802 (OpenCV's name)
            return self.cap.isOpened()

        def read(self):
            return self.cap.read()

        def release(self):
            released.append(True)
            self.cap.release()

    monkeypatch.setattr(cv2, "VideoCapture", Watched)
    frames = video_frames(data_root / "unlabeled" / "vtest.avi")
    index, frame = next(frames)
    assert index == 0 and frame.ndim == 3
    frames.close()  # the caller stops after one frame
    assert released == [True]
    with pytest.raises(ValueError, match="cannot open video"):
        next(video_frames(data_root / "unlabeled" / "messi5_missing.avi"))


def test_folders_list_every_format_the_decoder_reads(tmp_path):
    from posekit.predict.inputs import iter_inputs

    for name in ("a.gif", "b.avif", "c.JPG", "d.txt", "e.mp4"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in iter_inputs([tmp_path])] == ["a.gif", "b.avif", "c.JPG", "e.mp4"]
