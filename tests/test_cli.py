"""The command line's own behaviour (posekit.cli): version, errors with and without --debug, quiet mode, models."""

import pytest

from posekit import __version__
from posekit.cli import main


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"posekit {__version__}"


def test_a_user_error_is_one_line_and_debug_shows_the_traceback(tmp_path, capsys):
    missing = str(tmp_path / "missing.jpg")
    assert main(["predict", missing, "--backend", "torch"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("posekit: error: input not found") and "Traceback" not in err
    with pytest.raises(FileNotFoundError):
        main(["--debug", "predict", missing, "--backend", "torch"])


def test_a_bug_in_posekit_says_it_is_a_bug_and_how_to_report_it(monkeypatch, capsys):
    import posekit.cli as cli

    def broken(args):
        return {}["no such key"]  # stands for a bug in posekit's own code

    monkeypatch.setattr(cli, "_cmd_models", broken)
    assert main(["models"]) == 3
    err = capsys.readouterr().err
    assert "internal error: KeyError" in err and "bug in posekit" in err and "--debug" in err
    with pytest.raises(KeyError):
        main(["--debug", "models"])


def test_models_lists_the_zoo(capsys):
    from posekit import zoo

    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for entry in zoo.entries():
        assert entry.name in out and entry.sha256[:12] in out
    assert "person detector" in out  # the detector is listed as what it is


def test_quiet_predict_prints_one_summary_line(data_root, capsys):
    photos = [str(data_root / "unlabeled" / n) for n in ("messi5.jpg", "basketball1.png")]
    assert main(["predict", *photos, "--quiet", "--backend", "torch"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].endswith("in 2 images/frames")


def test_the_video_writer_is_released_when_prediction_fails_mid_video(data_root, tmp_path, monkeypatch, capsys):
    import cv2

    import posekit.api as api

    released = []
    real = cv2.VideoWriter

    class Watched:  # (OpenCV's classes cannot be subclassed safely)
        def __init__(self, *args):
            self.writer = real(*args)

        def write(self, frame):
            self.writer.write(frame)

        def release(self):
            released.append(True)
            self.writer.release()

    real_load = api.load_model

    def failing_model(*args, **kwargs):  # the real predictor, failing in the third frame of a video
        predictor = real_load(*args, **kwargs)
        step, frames = predictor._predict_frame, iter(range(10**9))

        def failing(frame, previous):
            if next(frames) == 2:
                raise ValueError("simulated failure in frame 2")
            return step(frame, previous)

        predictor._predict_frame = failing
        return predictor

    monkeypatch.setattr(cv2, "VideoWriter", Watched)
    monkeypatch.setattr(api, "load_model", failing_model)
    rc = main(["predict", str(data_root / "unlabeled" / "vtest.avi"), "--draw", str(tmp_path), "--backend", "torch",
               "--set", "predict.detector="])
    assert rc == 1 and "simulated failure" in capsys.readouterr().err
    assert released == [True]
