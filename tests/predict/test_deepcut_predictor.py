"""DeepCutPredictor (posekit.predict.deepcut): hand-built part maps of two people come out as those two people in
image pixels, with each image's cost recorded; a DeepCut weights file naming a tiny part network goes through save ->
load_model -> predict, the deepcut.* overrides, and the CLI's predict / eval (random weights: plumbing, not
accuracy)."""

import json

import numpy as np
import pytest
import torch

from posekit.api import load_model
from posekit.cli import main
from posekit.codecs.paf import PAFCodec, skeleton_limbs
from posekit.data.transforms import apply_affine
from posekit.grouping.deepcut import candidates, fit, match_candidates, save_weights
from posekit.predict.deepcut import DeepCutPredictor
from posekit.preprocess import letterbox_matrix
from posekit.skeletons import LSP14

TINY = ["model.name=paf", "data.kind=bottomup",
        "model.kwargs={widths: [8, 8, 16, 16, 32], blocks: [1, 1, 1, 1], head_width: 8, stage_width: 8, num_stages: 2}",
        "codec.input_size=[64,64]", "codec.heatmap_size=[16,16]", "codec.sigma=1.0", "codec.limb_width=3.0"]
PERSON = np.array([[40, 118], [40, 90], [38, 62], [22, 62], [20, 90], [20, 118], [52, 70], [50, 48], [44, 28],
                   [16, 28], [10, 48], [8, 70], [30, 22], [30, 2]], dtype=np.float64)
CODEC = PAFCodec((128, 128), (32, 32), limbs=skeleton_limbs(LSP14), limb_width=3.0, sigma=1.0)


def _person(scale, offset):
    return np.concatenate([PERSON * scale + offset, np.full((14, 1), 2.0)], axis=1)


@pytest.fixture(scope="module")
def pairwise():
    """A pairwise model fitted on synthetic maps of 1-3 people side by side in a 128 x 128 input."""
    rng = np.random.default_rng(0)
    images = []
    for _ in range(40):
        n = int(rng.integers(1, 4))
        people = [_person(rng.uniform(0.4, 0.6), (40 * col + rng.uniform(0, 8), rng.uniform(0, 50)))
                  for col in rng.permutation(3)[:n]]
        heatmaps = CODEC.encode(people, num_joints=14)["heatmaps"]
        for _ in range(5):  # weak false peaks
            heatmaps[rng.integers(14), rng.integers(2, 30), rng.integers(2, 30)] = rng.uniform(0.15, 0.35)
        pos, cls, vals = candidates(heatmaps, CODEC.input_size, CODEC.heatmap_size, CODEC.sigma, 0.1, 6, 80)
        images.append({"positions": pos, "classes": cls, "values": vals,
                       "match": match_candidates(pos, people, [4.0] * n, 14)})
    return fit(images, 14, scale=128.0)


class FieldModel(torch.nn.Module):
    """Stands in for a trained part network: the codec's targets of known people (input pixels) for every input
    of the batch (used with the flip test off)."""

    def __init__(self, people):
        super().__init__()
        t = CODEC.encode(people, num_joints=14)
        h, w = t["heatmaps"].shape[1:]
        self.heatmaps = torch.from_numpy(t["heatmaps"])
        self.pafs = torch.from_numpy(t["pafs"].reshape(-1, h, w))

    def forward(self, x):
        n = len(x)
        return {"heatmaps": self.heatmaps.expand(n, -1, -1, -1), "pafs": self.pafs.expand(n, -1, -1, -1)}


def test_hand_built_maps_give_both_people_in_image_pixels_and_the_cost_is_recorded(pairwise):
    people_image = [_person(1.2, (30, 40)), _person(1.4, (200, 25))]
    M = letterbox_matrix((320, 200), (128, 128))
    people_input = []
    for kp in people_image:
        moved = kp.copy()
        moved[:, :2] = apply_affine(kp[:, :2], M)
        people_input.append(moved)
    predictor = DeepCutPredictor(FieldModel(people_input), CODEC, LSP14, pairwise, device="cpu", flip_test=False,
                                 time_limit=20)
    found = predictor.predict(np.zeros((200, 320, 3), np.uint8))
    assert len(found) == 2 and found[0].score >= found[1].score
    for truth in people_image:
        errors = [np.linalg.norm(p.keypoints[:, :2] - truth[:, :2], axis=1).max() for p in found]
        assert min(errors) < 1.5  # image pixels (the letterbox shrinks 2.5 x)
    stats = predictor.last_stats
    assert stats["status"] == "optimal" and stats["candidates"] == 28
    assert stats["seconds"] >= stats["ilp_seconds"] > 0 and stats["network_seconds"] >= 0
    summary = predictor.runtime_summary()
    assert summary["inputs"] == 1 and summary["time_limit_hits"] == 0 and summary["max_candidates"] == 28


def test_the_cost_record_stays_bounded_over_a_long_video(pairwise, monkeypatch):
    import posekit.predict.deepcut as deepcut

    monkeypatch.setattr(deepcut, "STATS_WINDOW", 3)
    predictor = DeepCutPredictor(FieldModel([_person(0.5, (20, 20))]), CODEC, LSP14, pairwise, device="cpu",
                                 flip_test=False)
    for _ in range(5):  # five frames
        predictor.predict(np.zeros((128, 128, 3), np.uint8))
    assert len(predictor.stats) == 3  # the latest three kept
    assert predictor.runtime_summary()["inputs"] == 5  # counted over all


def test_a_mismatched_pairwise_model_is_refused(pairwise):
    with pytest.raises(ValueError, match="part classes"):
        DeepCutPredictor(FieldModel([]), CODEC, LSP14, {**pairwise, "num_classes": 16}, device="cpu")


@pytest.fixture(scope="module")
def weights(tmp_path_factory, pairwise, untrained_checkpoint):
    """A DeepCut weights file beside a tiny random part network it names by a relative path."""
    folder = tmp_path_factory.mktemp("deepcut")
    untrained_checkpoint(folder / "tiny_paf.pt", TINY)
    path = folder / "deepcut.pt"
    save_weights(path, "tiny_paf.pt", pairwise, {"max_candidates": 12, "time_limit": 2.0, "person_threshold": 0.0})
    return path


def test_save_load_model_predict_round_trip(weights, data_root):
    state = torch.load(weights, map_location="cpu", weights_only=True)  # plain weights: no code runs
    assert state["method"] == "deepcut" and state["part_detector"] == "tiny_paf.pt"
    predictor = load_model(weights, backend="torch")
    assert isinstance(predictor, DeepCutPredictor)
    assert predictor.settings["max_candidates"] == 12 and predictor.settings["time_limit"] == 2.0
    assert predictor.codec.input_size == (64, 64) and predictor.skeleton.num_joints == 14
    for key in ("coef", "intercept", "unary_coef"):
        np.testing.assert_allclose(predictor.pairwise[key], state["pairwise"][key].numpy())
    found = predictor.predict(data_root / "unlabeled" / "messi5.jpg")
    assert isinstance(found, list) and all(p.keypoints.shape == (14, 3) for p in found)
    assert [p.score for p in found] == sorted((p.score for p in found), reverse=True)
    assert predictor.last_stats["candidates"] <= 12 and predictor.last_stats["status"] in ("optimal", "time_limit")
    boxed = predictor.predict(data_root / "unlabeled" / "messi5.jpg", boxes=[[10, 10, 100, 200]])
    assert len(boxed) == 1
    changed = load_model(weights, backend="torch", overrides=["deepcut.time_limit=0.5", "predict.flip_test=false"])
    assert changed.settings["time_limit"] == 0.5 and changed.flip_test is False
    assert load_model(weights, backend="torch", max_per_class=2).settings["max_per_class"] == 2
    with pytest.raises(ValueError, match="unknown DeepCut settings"):
        load_model(weights, backend="torch", overrides=["deepcut.time_limt=3"])


def test_cli_predict_and_eval_report_the_cost(weights, data_root, tmp_path, capsys):
    out_json = tmp_path / "p.json"
    assert main(["predict", str(data_root / "unlabeled" / "messi5.jpg"), "--model", str(weights), "--backend",
                 "torch", "--json", str(out_json)]) == 0
    assert isinstance(json.loads(out_json.read_text()), list)
    assert "candidates" in capsys.readouterr().out
    coco = tmp_path / "coco.json"
    assert main(["eval", "--model", str(weights), "--backend", "torch", "--data",
                 f"coco:{data_root / 'fixtures' / 'coco' / 'test_coco.json'}", "--json", str(coco)]) == 0
    report = json.loads(coco.read_text())
    assert report["metrics"]["num_people"] > 0
    assert report["runtime"]["inputs"] == report["num_images"] and report["runtime"]["time_limit"] == 2.0


@pytest.mark.heavy
def test_the_part_network_runs_on_onnx_runtime_too(weights, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("POSEKIT_CACHE", str(tmp_path))
    predictor = load_model(weights, backend="onnxruntime", flip_test=False)
    assert isinstance(predictor, DeepCutPredictor)
    image = np.random.default_rng(0).integers(0, 255, (90, 120, 3), dtype=np.uint8)
    assert isinstance(predictor.predict(image), list) and predictor.last_stats is not None
