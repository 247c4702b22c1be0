"""The video loop (posekit.predict.video) and ``posekit predict VIDEO --track``, on the real vtest.avi."""

from __future__ import annotations

import json
import threading
from collections import defaultdict

import cv2
import numpy as np
import pytest

from posekit.cli import main
from posekit.predict.inputs import open_video, video_source
from posekit.predict.video import FrameWriter, VideoTiming


@pytest.mark.heavy
def test_cli_tracks_the_first_frames_of_vtest(data_root, tmp_path, capsys):
    out = tmp_path / "out.json"
    rc = main(["predict", str(data_root / "unlabeled" / "vtest.avi"), "--track", "--json", str(out), "--draw",
               str(tmp_path), "--max-frames", "10", "--threads", "2"])
    assert rc == 0
    printed = capsys.readouterr().out
    for stage in ("decode", "detector", "pose", "tracking", "writing", "frames/s"):
        assert stage in printed
    results = json.loads(out.read_text())
    assert {r["frame"] for r in results} == set(range(10))
    assert all(isinstance(r.get("track_id"), int) and len(r["keypoints_raw"]) == 51 for r in results)
    frames_of = defaultdict(set)
    for r in results:
        frames_of[r["track_id"]].add(r["frame"])
        assert sum(q["frame"] == r["frame"] and q["track_id"] == r["track_id"] for q in results) == 1
    assert max(len(f) for f in frames_of.values()) >= 9  # someone kept their id through the clip
    assert sum(len(f) >= 8 for f in frames_of.values()) >= 2
    cap = cv2.VideoCapture(str(tmp_path / "vtest_pose.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 10
    cap.release()


def test_predict_video_releases_decoding_when_stopped_early(data_root):
    from posekit.api import load_model

    predictor = load_model("default", threads=2)
    before = threading.active_count()
    with predictor.predict_video(data_root / "unlabeled" / "vtest.avi", track=True) as frames:
        index, frame, people = next(frames)
        assert index == 0 and frame.shape == (576, 768, 3) and frames.fps == 10.0
        assert all(p.track_id is not None for p in people)
    assert threading.active_count() == before  # the decoding thread is gone
    assert frames.timing.frames == 1 and frames.timing.summary()["ms_per_frame"]["detector"] > 0


def test_video_frames_use_the_video_settings_and_leave_the_photo_settings(data_root):
    from posekit.api import load_model

    predictor = load_model("default", threads=2)
    assert predictor.refine_steps == 1 and predictor.video_refine_steps == 0
    with predictor.predict_video(data_root / "unlabeled" / "vtest.avi") as frames:
        index, frame, people = next(frames)
        video_crops = predictor.last_crops
    assert predictor.refine_steps == 1  # restored after the frame
    assert people
    predictor.predict(frame)
    assert video_crops < predictor.last_crops  # the photo pipeline re-crops, the video one does not
    predictor.video_refine_steps = -1  # as for photos
    with predictor.predict_video(data_root / "unlabeled" / "vtest.avi") as frames:
        next(frames)
        assert predictor.last_crops > video_crops


def test_sources_and_their_errors(data_root):
    assert video_source(0) == 0 and video_source("1") == 1 and video_source("rtsp://h/x") == "rtsp://h/x"
    with pytest.raises(ValueError, match="no such file"):
        open_video(data_root / "unlabeled" / "missing.avi")
    with pytest.raises(ValueError, match="cannot open camera 97"):
        open_video(97)


def test_frame_writer_writes_in_order_and_reports_a_failed_drawing(tmp_path):
    timing = VideoTiming()
    frames = [np.full((32, 48, 3), 40 * i, np.uint8) for i in range(5)]
    with FrameWriter(tmp_path / "a.avi", 10, lambda f, p: f, timing, size=2, fourcc="MJPG") as writer:
        for f in frames:
            writer.write(f, [])
    cap = cv2.VideoCapture(str(tmp_path / "a.avi"))
    means = [cap.read()[1].mean() for _ in range(5)]
    cap.release()
    assert np.all(np.diff(means) > 0) and timing.seconds["writing"] > 0

    def broken(frame, people):
        raise RuntimeError("drawing failed")

    writer = FrameWriter(tmp_path / "b.avi", 10, broken)
    writer.write(frames[0], [])
    with pytest.raises(RuntimeError, match="drawing failed"):
        for f in frames * 3:  # the error comes back on a later write (or at close)
            writer.write(f, [])
        writer.close()
    writer.close()


def test_a_stream_url_is_read_through_opencv(data_root, tmp_path, capsys):
    """--source URL: vtest.avi served over HTTP on the loopback, read by OpenCV's FFmpeg as a stream."""
    import functools
    import http.server

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(data_root / "unlabeled"))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/vtest.avi"
        out = tmp_path / "stream.json"
        assert main(["predict", "--source", url, "--track", "--max-frames", "3", "--json", str(out),
                     "--threads", "2"]) == 0
    finally:
        server.shutdown()
    results = json.loads(out.read_text())
    assert {r["frame"] for r in results} == {0, 1, 2} and all(r["file_name"] == url for r in results)
    assert "frames/s" in capsys.readouterr().out


def test_using_sets_settings_for_a_block_and_restores_them_however_it_ends():
    from posekit.predict.base import Predictor
    from posekit.skeletons import COCO17

    predictor = Predictor(COCO17, device="cpu")
    predictor.person_threshold = 0.2
    with predictor.using(person_threshold=0.05) as p:
        assert p.person_threshold == 0.05
    assert predictor.person_threshold == 0.2
    with pytest.raises(RuntimeError), predictor.using(person_threshold=0.9):
        raise RuntimeError("a failing frame")
    assert predictor.person_threshold == 0.2
    with pytest.raises(AttributeError):
        with predictor.using(no_such_setting=1):
            pass
