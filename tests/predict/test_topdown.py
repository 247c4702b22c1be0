"""Predictor / load_model / CLI on a tiny checkpoint (random weights: these tests check plumbing,
coordinate frames and outputs, not accuracy; accuracy is benchmarks/)."""

import json

import cv2
import numpy as np
import pytest
import torch

from posekit.api import load_model
from posekit.cli import main


@pytest.fixture(scope="module")
def checkpoint(tiny_topdown):
    return tiny_topdown


def test_predict_with_boxes_returns_keypoints_inside_each_box(checkpoint):
    predictor = load_model(checkpoint, flip_test=True)
    image = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    boxes = [[10, 20, 60, 120], [200, 50, 80, 150]]
    preds = predictor.predict(image, boxes=boxes)
    assert len(preds) == 2
    for p, (x, y, w, h) in zip(preds, boxes):
        assert p.keypoints.shape == (14, 3) and p.skeleton.name == "lsp14"
        # the crop is the box grown to a square x 1.25: every decoded point lies inside that region, up
        # to one heatmap cell (16 cells across) that sub-pixel refinement may step past the border
        side = max(w, h) * 1.25
        cx, cy = x + w / 2, y + h / 2
        assert np.all(np.abs(p.keypoints[:, 0] - cx) <= side / 2 + side / 16)
        assert np.all(np.abs(p.keypoints[:, 1] - cy) <= side / 2 + side / 16)
        assert np.abs(p.keypoints[:, :2] - [cx, cy]).max() > side / 8  # not all collapsed to the centre


def test_predict_whole_image_and_path_input(checkpoint, data_root):
    predictor = load_model(checkpoint)
    path = data_root / "unlabeled" / "messi5.jpg"
    from_path = predictor.predict(path)
    from_array = predictor.predict(cv2.imread(str(path)))
    assert len(from_path) == 1
    np.testing.assert_allclose(from_path[0].keypoints, from_array[0].keypoints)
    assert from_path[0].keypoints.shape == (14, 3) and np.isfinite(from_path[0].keypoints).all()
    # (where the keypoints land is checked with the trained default model in test_default_model.py)


def test_bad_inputs_raise_clear_errors(checkpoint, tmp_path):
    predictor = load_model(checkpoint)
    with pytest.raises(FileNotFoundError, match="nope.jpg"):
        predictor.predict(tmp_path / "nope.jpg")
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(ValueError, match="corrupt.jpg"):
        predictor.predict(corrupt)
    with pytest.raises(ValueError, match="uint8 BGR"):
        predictor.predict(np.zeros((10, 10), dtype=np.float32))
    with pytest.raises(FileNotFoundError, match="no model"):
        load_model("no-such-model")


def test_cli_predict_image_and_video(checkpoint, data_root, tmp_path, capsys):
    video = tmp_path / "clip.avi"
    cap = cv2.VideoCapture(str(data_root / "unlabeled" / "vtest.avi"))
    writer = None
    for _ in range(3):
        ok, frame = cap.read()
        assert ok
        if writer is None:
            writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, frame.shape[1::-1])
        writer.write(frame)
    writer.release()
    out_json = tmp_path / "p.json"
    code = main(["predict", str(data_root / "unlabeled" / "messi5.jpg"), str(video), "--model", str(checkpoint),
                 "--json", str(out_json), "--draw", str(tmp_path / "draw")])
    assert code == 0
    results = json.loads(out_json.read_text())
    assert len(results) == 1 + 3
    assert {"image_id", "category_id", "keypoints", "score", "bbox", "skeleton", "file_name"} <= set(results[0])
    assert len(results[0]["keypoints"]) == 14 * 3
    assert [r["frame"] for r in results[1:]] == [0, 1, 2]
    assert [r["image_id"] for r in results] == [1, 2, 3, 4]
    assert (tmp_path / "draw" / "messi5_pose.png").exists()
    assert (tmp_path / "draw" / "clip_pose.mp4").stat().st_size > 0


def test_cli_eval_writes_the_report(checkpoint, data_root, tmp_path):
    out = tmp_path / "eval.json"
    code = main(["eval", "--model", str(checkpoint), "--data", f"lsp:{data_root / 'lsp'}", "--split", "test",
                 "--limit", "5", "--json", str(out)])
    assert code == 0
    report = json.loads(out.read_text())
    assert report["num_images"] == 5
    assert set(report["metrics"]) >= {"pck@0.2", "per_joint", "pcp", "auc"}
    assert 0 <= report["metrics"]["pck@0.2"] <= 100


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["data", "stats", f"lsp:{tmp_path / 'missing'}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("posekit: error:") and "Traceback" not in err
    assert main(["train", str(tmp_path / "none.yaml")]) == 2


def test_cli_data_stats_and_show(data_root, tmp_path, capsys):
    assert main(["data", "stats", f"lsp:{data_root / 'lsp'}", "--split", "test"]) == 0
    assert "1000" in capsys.readouterr().out
    out = tmp_path / "s.png"
    assert main(["data", "show", f"coco:{data_root / 'coco_mini'}", "--split", "val2017", "--index", "0",
                 "--out", str(out)]) == 0
    assert cv2.imread(str(out)) is not None


def test_load_model_overrides_change_the_stored_config(tmp_path, untrained_checkpoint):
    from posekit.config import ConfigError

    path = untrained_checkpoint(tmp_path / "deeppose.pt", [
        "model.name=deeppose", "model.kwargs={num_stages: 2, width: 8, blocks: [1, 1, 1, 1], crop_size: 16}",
        "codec.input_size=[64,64]", "codec.heatmap_size=[16,16]"])
    assert load_model(path, backend="torch").model.stages_used is None
    assert load_model(path, overrides=["model.kwargs.stages_used=1"], backend="torch").model.stages_used == 1
    with pytest.raises(ConfigError):
        load_model(path, overrides=["model.no_such_key=1"])


def test_cli_eval_set_reaches_the_model(checkpoint, data_root, tmp_path, capsys):
    out = tmp_path / "eval.json"
    args = ["eval", "--model", str(checkpoint), "--data", f"lsp:{data_root / 'lsp'}", "--split", "test",
            "--limit", "2", "--json", str(out)]
    assert main(args + ["--set", "model.kwargs.head_width=9"]) == 2  # weights no longer fit: a clear error
    assert "do not fit" in capsys.readouterr().err
    assert main(args + ["--set", "data.padding=1.3"]) == 0
    assert json.loads(out.read_text())["overrides"] == ["data.padding=1.3"]


@pytest.mark.heavy
def test_predictor_settings_travel_with_the_weights(checkpoint, tmp_path, capsys):
    """`posekit export --set predict.*` stores the whole-image settings in the checkpoint's config;
    load_model uses them, an explicit argument wins, and a checkpoint saved before the predict section
    existed loads with the defaults."""
    from posekit.config import PredictConfig

    out = tmp_path / "tuned.pt"
    assert main(["export", str(checkpoint), "--out", str(out), "--set", "predict.refine_steps=4",
                 "--set", "predict.box_threshold=0.25"]) == 0
    tuned = load_model(out)
    assert (tuned.refine_steps, tuned.box_threshold, tuned.use_detector) == (4, 0.25, False)
    assert load_model(out, refine_steps=1).refine_steps == 1
    old = torch.load(checkpoint, weights_only=False)
    del old["config"]["predict"]
    torch.save(old, tmp_path / "old.pt")
    assert load_model(tmp_path / "old.pt").refine_steps == PredictConfig.refine_steps
    assert load_model(tmp_path / "old.pt").use_detector  # HOG candidates were on before they became opt-in
    assert not load_model(tmp_path / "old.pt", overrides=["predict.use_detector=false"]).use_detector
    assert main(["export", str(checkpoint), "--out", str(out), "--set", "predict.no_such=1"]) == 2
    assert "no_such" in capsys.readouterr().err


def test_results_json_round_trips_through_pycocotools(checkpoint, data_root, tmp_path):
    """`posekit predict --json` writes COCO results that pycocotools' loadRes accepts (image ids with the
    file names beside them), and posekit reads its own file back to the same people."""
    from pycocotools.coco import COCO

    from posekit.types import read_results

    out_json = tmp_path / "p.json"
    images = [data_root / "unlabeled" / n for n in ("messi5.jpg", "basketball1.png")]
    assert main(["predict", *map(str, images), "--model", str(checkpoint), "--json", str(out_json)]) == 0
    results = json.loads(out_json.read_text())
    gt = COCO()
    gt.dataset = {"images": [{"id": i + 1, "file_name": str(p)} for i, p in enumerate(images)],
                  "annotations": [], "categories": [{"id": 1, "name": "person"}]}
    gt.createIndex()
    loaded = gt.loadRes(str(out_json))
    assert len(loaded.getAnnIds()) == len(results) > 0
    files = {r["image_id"]: r["file_name"] for r in results}
    assert all(files[i] == str(images[i - 1]) for i in files)
    back = read_results(out_json)
    assert len(back) == len(results)
    np.testing.assert_allclose(back[0][2].keypoints.reshape(-1), results[0]["keypoints"])


def test_predict_folder_with_an_unreadable_file_finishes_the_rest(checkpoint, data_root, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("a.jpg", "c.jpg"):
        (folder / name).write_bytes((data_root / "unlabeled" / "messi5.jpg").read_bytes())
    (folder / "b.jpg").write_bytes(b"not an image")
    out_json = tmp_path / "p.json"
    assert main(["predict", str(folder), "--model", str(checkpoint), "--json", str(out_json)]) == 1
    err = capsys.readouterr().err
    assert "b.jpg" in err and "1 of 3 inputs failed" in err
    files = {r["file_name"] for r in json.loads(out_json.read_text())}
    assert files == {str(folder / "a.jpg"), str(folder / "c.jpg")}


class _Payload:
    """Pickles to a call of ``_Payload.ran`` on load: the code a hostile checkpoint would carry."""

    ran = []

    def __reduce__(self):
        return (_Payload.ran.append, ("payload ran",))


def test_a_checkpoint_carrying_code_is_refused_and_the_code_never_runs(checkpoint, tmp_path, capsys):
    state = torch.load(checkpoint, weights_only=False)
    state["extra"] = _Payload()
    bad = tmp_path / "bad.pt"
    torch.save(state, bad)
    _Payload.ran.clear()
    with pytest.raises(ValueError, match="refused"):
        load_model(bad)
    assert main(["predict", str(bad), "--model", str(bad)]) == 2
    assert "refused" in capsys.readouterr().err
    assert _Payload.ran == []
    # the honest checkpoint (tensors, config dicts, numbers) still loads
    assert load_model(checkpoint).skeleton.name == "lsp14"


def test_invalid_images_are_refused_with_clear_errors(checkpoint, tmp_path):
    predictor = load_model(checkpoint)
    with pytest.raises(TypeError, match="needs an image"):
        predictor.predict(None)
    with pytest.raises(ValueError, match="non-empty"):
        predictor.predict(np.zeros((0, 0, 3), dtype=np.uint8))
    with pytest.raises(IsADirectoryError, match="is a folder"):
        predictor.predict(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["predict", str(empty), "--model", str(checkpoint)]) == 2


def test_flip_test_makes_the_prediction_of_a_mirrored_image_the_mirrored_prediction(checkpoint, data_root):
    """With flip test the network's two passes are averaged symmetrically, so posing the mirrored photo
    must give the original pose mirrored (x -> W - 1 - x) with left and right exchanged -- whatever the
    weights. A wrong flip_index or a half-pixel slip in the mirroring breaks this."""
    predictor = load_model(checkpoint, flip_test=True)
    image = cv2.imread(str(data_root / "unlabeled" / "messi5.jpg"))
    h, w = image.shape[:2]
    box = [[-0.5, -0.5, w, h]]  # symmetric under the mirror
    (a,) = predictor.predict(image, boxes=box)
    (b,) = predictor.predict(np.ascontiguousarray(image[:, ::-1]), boxes=box)
    mirrored = b.keypoints[predictor.skeleton.flip_index].copy()
    mirrored[:, 0] = w - 1 - mirrored[:, 0]
    np.testing.assert_allclose(mirrored[:, :2], a.keypoints[:, :2], atol=0.05)
    np.testing.assert_allclose(mirrored[:, 2], a.keypoints[:, 2], atol=1e-4)


@pytest.mark.heavy
def test_export_then_reload_gives_the_same_keypoints(checkpoint, data_root, tmp_path):
    from posekit.checkpoint import export_checkpoint

    image = cv2.imread(str(data_root / "unlabeled" / "messi5.jpg"))
    box = [[60, 50, 400, 290]]
    (ref,) = load_model(checkpoint).predict(image, boxes=box)
    (same,) = load_model(export_checkpoint(checkpoint, tmp_path / "fp32.pt", half=False)).predict(image, boxes=box)
    np.testing.assert_array_equal(same.keypoints, ref.keypoints)
    (half,) = load_model(export_checkpoint(checkpoint, tmp_path / "fp16.pt")).predict(image, boxes=box)
    assert np.abs(half.keypoints[:, :2] - ref.keypoints[:, :2]).max() < 1.0  # float16 storage: nearly the same
