"""BottomUpPredictor (posekit.predict.bottomup) for part affinity field models: hand-built fields decode into the
right people in image pixels (with and without the flip test, whole images and boxes), and a tiny checkpoint goes
through load_model, ONNX Runtime and the CLI's predict / eval unchanged (random weights: plumbing, not accuracy)."""

import json

import numpy as np
import pytest
import torch

from posekit.api import load_model
from posekit.cli import main
from posekit.codecs.paf import PAFCodec, skeleton_limbs
from posekit.data.transforms import apply_affine
from posekit.predict.bottomup import BottomUpPredictor
from posekit.preprocess import letterbox_matrix
from posekit.skeletons import LSP14

TINY = ["model.name=paf", "data.kind=bottomup",
        "model.kwargs={widths: [8, 8, 16, 16, 32], blocks: [1, 1, 1, 1], head_width: 8, stage_width: 8, num_stages: 2}",
        "codec.input_size=[64,64]", "codec.heatmap_size=[16,16]", "codec.sigma=1.0", "codec.limb_width=3.0",
        "predict.person_threshold=0.2"]

# an upright person (LSP-14 order) in a 60 x 120 px box at the origin: ankles, knees, hips, wrists, elbows,
# shoulders, neck, head top
PERSON = np.array([[40, 118], [40, 90], [38, 62], [22, 62], [20, 90], [20, 118], [52, 70], [50, 48], [44, 28],
                   [16, 28], [10, 48], [8, 70], [30, 22], [30, 2]], dtype=np.float64)


class FieldModel(torch.nn.Module):
    """Stands in for a trained network: returns the codec's own targets for known people (input pixels),
    and for the mirrored half of a flip-test batch, the targets of the mirrored people."""

    def __init__(self, codec: PAFCodec, people: list[np.ndarray]) -> None:
        super().__init__()
        self.codec = codec
        flip = np.asarray(LSP14.flip_index)
        mirrored = []
        for kp in people:
            m = kp[flip].copy()
            m[:, 0] = codec.input_size[0] - 1 - m[:, 0]
            mirrored.append(m)
        self.maps = [self._maps(people), self._maps(mirrored)]

    def _maps(self, people):
        t = self.codec.encode(people, num_joints=14)
        h, w = t["heatmaps"].shape[1:]
        return torch.from_numpy(t["heatmaps"]), torch.from_numpy(t["pafs"].reshape(-1, h, w))

    def forward(self, x):
        n = len(x)
        halves = [0] * n if n == 1 else [0] * (n // 2) + [1] * (n // 2)  # predictor's flip batches: [x, mirror]
        return {"heatmaps": torch.stack([self.maps[i][0] for i in halves]),
                "pafs": torch.stack([self.maps[i][1] for i in halves])}


def _scene(input_size=(128, 128), image_size=(320, 200)):
    """Two people in an image (image pixels), the letterbox matrix, and the people in input pixels."""
    people_image = [np.concatenate([PERSON * 1.2 + [30, 40], np.full((14, 1), 2.0)], axis=1),
                    np.concatenate([PERSON * 1.4 + [200, 25], np.full((14, 1), 2.0)], axis=1)]
    M = letterbox_matrix(image_size, input_size)
    people_input = []
    for kp in people_image:
        moved = kp.copy()
        moved[:, :2] = apply_affine(kp[:, :2], M)
        people_input.append(moved)
    return people_image, people_input


@pytest.mark.parametrize("flip_test", [False, True])
def test_hand_built_fields_decode_into_the_right_people_in_image_pixels(flip_test):
    codec = PAFCodec((128, 128), (32, 32), limbs=skeleton_limbs(LSP14), limb_width=3.0, sigma=1.0)
    people_image, people_input = _scene()
    model = FieldModel(codec, people_input)
    predictor = BottomUpPredictor(model, codec, LSP14, device="cpu", flip_test=flip_test, person_threshold=0.1)
    image = np.zeros((200, 320, 3), np.uint8)
    found = predictor.predict(image)
    assert len(found) == 2
    assert found[0].score >= found[1].score and 0.5 < found[1].score <= 1.0
    for truth in people_image:
        errors = [np.linalg.norm(p.keypoints[:, :2] - truth[:, :2], axis=1).max() for p in found]
        best = found[int(np.argmin(errors))]
        assert min(errors) < 1.5  # image pixels (the letterbox shrinks 2.5 x: < 0.6 input px)
        assert (best.keypoints[:, 2] > 0.5).all()
        # the person's box is the extent of their keypoints
        np.testing.assert_allclose(best.box[:2], best.keypoints[:, :2].min(0))
    assert predictor.predict(image, boxes=np.zeros((0, 4))) == []


def test_a_larger_input_side_sees_the_same_people_at_more_cells():
    """predict.input_size: the whole image letterboxed into a larger square, the maps' geometry (the
    codec) resized with it, keypoints still in image pixels."""
    trained = PAFCodec((128, 128), (32, 32), limbs=skeleton_limbs(LSP14), limb_width=3.0, sigma=1.0)
    big = trained.resized(192)
    assert big.input_size == (192, 192) and big.heatmap_size == (48, 48) and big.limbs == trained.limbs
    with pytest.raises(ValueError, match="multiple"):
        trained.resized(130)
    people_image, people_input = _scene(input_size=(192, 192))
    predictor = BottomUpPredictor(FieldModel(big, people_input), trained, LSP14, device="cpu", person_threshold=0.1,
                                  input_size=192)
    assert predictor.input_size == (192, 192) and predictor.codec.heatmap_size == (48, 48)
    found = predictor.predict(np.zeros((200, 320, 3), np.uint8))
    assert len(found) == 2
    for truth in people_image:
        assert min(np.linalg.norm(p.keypoints[:, :2] - truth[:, :2], axis=1).max() for p in found) < 1.5


def test_given_boxes_each_get_the_person_they_hold(monkeypatch):
    """predict(image, boxes): one prediction per box, in their order: the best person of the box's crop
    whose keypoints are centred in the box (the crop's best when none is), zeros when the crop has nobody."""
    codec = PAFCodec((128, 128), (32, 32), limbs=skeleton_limbs(LSP14), limb_width=3.0, sigma=1.0)
    predictor = BottomUpPredictor(FieldModel(codec, []), codec, LSP14, device="cpu")
    people_image, _ = _scene()
    a, b = (np.concatenate([p[:, :2], np.full((14, 1), 0.9)], axis=1) for p in people_image)
    crops = []

    def people(image, mats):  # every crop "sees" both people (in image pixels), b scoring higher
        crops.append(mats)
        return [[(b, 0.8), (a, 0.7)] for _ in mats]

    monkeypatch.setattr(predictor, "_people", people)
    image = np.zeros((200, 320, 3), np.uint8)
    boxes = [[30, 40, 72, 144], [200, 25, 84, 168], [130, 0, 20, 20]]
    found = predictor.predict(image, boxes=boxes)
    assert len(crops[0]) == 3  # one batch of three crops
    assert [p.box.tolist() for p in found] == boxes
    np.testing.assert_array_equal(found[0].keypoints, a)  # b scores higher, but a is the one in box 0
    np.testing.assert_array_equal(found[1].keypoints, b)
    np.testing.assert_array_equal(found[2].keypoints, b)  # nobody centred in box 2: the crop's best
    assert [p.score for p in found] == [0.7, 0.8, 0.8]
    monkeypatch.setattr(predictor, "_people", lambda image, mats: [[] for _ in mats])
    (nobody,) = predictor.predict(image, boxes=boxes[:1])
    assert nobody.score == 0 and not nobody.keypoints.any()


def test_nobody_gives_an_empty_list_and_the_threshold_drops_weak_people():
    codec = PAFCodec((128, 128), (32, 32), limbs=skeleton_limbs(LSP14), limb_width=3.0, sigma=1.0)
    image = np.zeros((200, 320, 3), np.uint8)
    assert BottomUpPredictor(FieldModel(codec, []), codec, LSP14, device="cpu").predict(image) == []
    _, people_input = _scene()
    strict = BottomUpPredictor(FieldModel(codec, people_input), codec, LSP14, device="cpu", person_threshold=1.01)
    assert strict.predict(image) == []
    one = BottomUpPredictor(FieldModel(codec, people_input), codec, LSP14, device="cpu", max_people=1)
    assert len(one.predict(image)) == 1


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, untrained_checkpoint):
    return untrained_checkpoint(tmp_path_factory.mktemp("paf") / "tiny_paf.pt", TINY)


def test_load_model_gives_the_bottom_up_predictor_with_its_stored_settings(checkpoint, data_root):
    predictor = load_model(checkpoint, backend="torch")
    assert isinstance(predictor, BottomUpPredictor)
    assert predictor.person_threshold == 0.2 and predictor.flip_test
    assert isinstance(predictor.codec, PAFCodec) and predictor.codec.input_size == (64, 64)
    assert predictor.codec.limbs == skeleton_limbs(LSP14)
    assert load_model(checkpoint, backend="torch", flip_test=False).flip_test is False
    assert load_model(checkpoint, backend="torch", overrides=["predict.input_size=96"]).input_size == (96, 96)
    with pytest.raises(ValueError, match="bottom-up models only"):
        load_model("default", backend="torch", overrides=["predict.input_size=96"])
    found = predictor.predict(data_root / "unlabeled" / "messi5.jpg")
    assert isinstance(found, list) and all(p.keypoints.shape == (14, 3) for p in found)
    with pytest.raises(ValueError, match="uint8 BGR"):
        predictor.predict(np.zeros((10, 10), np.float32))


@pytest.mark.heavy
def test_onnx_runtime_runs_the_same_network(checkpoint, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("POSEKIT_CACHE", str(tmp_path))
    torch_predictor = load_model(checkpoint, backend="torch", flip_test=False)
    onnx_predictor = load_model(checkpoint, backend="onnxruntime", flip_test=False)
    assert isinstance(onnx_predictor, BottomUpPredictor)
    image = np.random.default_rng(0).integers(0, 255, (90, 120, 3), dtype=np.uint8)
    from posekit.preprocess import network_input

    x = network_input(image, letterbox_matrix((120, 90), (64, 64)), (64, 64))[None]
    a, b = torch_predictor.maps(x), onnx_predictor.maps(x)
    np.testing.assert_allclose(a[0], b[0], atol=1e-4)
    np.testing.assert_allclose(a[1], b[1], atol=1e-4)
    # the export takes any input side (predict.input_size applies at load, no new export)
    wider = load_model(checkpoint, backend="onnxruntime", flip_test=False, overrides=["predict.input_size=96"])
    x = network_input(image, letterbox_matrix((120, 90), (96, 96)), (96, 96))[None]
    a, b = torch_predictor.maps(x), wider.maps(x)
    assert b[0].shape[-2:] == (24, 24)
    np.testing.assert_allclose(a[0], b[0], atol=1e-4)


def test_cli_predict_and_eval_run_unchanged(checkpoint, data_root, tmp_path):
    import cv2

    video = tmp_path / "clip.avi"
    cap = cv2.VideoCapture(str(data_root / "unlabeled" / "vtest.avi"))
    ok, frame = cap.read()
    cap.release()
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, frame.shape[1::-1])
    writer.write(frame)
    writer.write(frame)
    writer.release()
    out_json = tmp_path / "p.json"
    code = main(["predict", str(data_root / "unlabeled" / "messi5.jpg"), str(video), "--model", str(checkpoint),
                 "--backend", "torch", "--json", str(out_json), "--draw", str(tmp_path / "draw")])
    assert code == 0
    assert isinstance(json.loads(out_json.read_text()), list)
    assert (tmp_path / "draw" / "messi5_pose.png").exists() and (tmp_path / "draw" / "clip_pose.mp4").exists()
    lsp = tmp_path / "lsp.json"
    assert main(["eval", "--model", str(checkpoint), "--backend", "torch", "--data", f"lsp:{data_root / 'lsp'}",
                 "--split", "test", "--limit", "3", "--json", str(lsp)]) == 0
    report = json.loads(lsp.read_text())
    assert 0 <= report["metrics"]["pck@0.2"] <= 100
    assert report["command"].startswith(f"posekit eval --model {checkpoint} --backend torch")  # how to reproduce it
    coco = tmp_path / "coco.json"
    assert main(["eval", "--model", str(checkpoint), "--backend", "torch", "--data",
                 f"coco:{data_root / 'fixtures' / 'coco' / 'test_coco.json'}", "--json", str(coco)]) == 0
    assert json.loads(coco.read_text())["metrics"]["num_people"] > 0
    gt_boxes = tmp_path / "coco_gt.json"
    assert main(["eval", "--model", str(checkpoint), "--backend", "torch", "--gt-boxes", "--data",
                 f"coco:{data_root / 'fixtures' / 'coco' / 'test_coco.json'}", "--json", str(gt_boxes)]) == 0
