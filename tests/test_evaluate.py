"""evaluate.py: OKS-AP on COCO-format data through the predictor interface, ground-truth boxes per
dataset, nearest-person matching and the report's metrics (with a stand-in predictor that returns
the ground truth, so every number is known)."""

import numpy as np
import pytest

from posekit.data import load
from posekit.evaluate import evaluate_oks, gt_box, predict_dataset, score
from posekit.skeletons import LSP14, map_keypoints
from posekit.types import Person, Prediction


class Oracle:
    """Returns each annotated person's keypoints (in LSP-14), score 1; or, with boxes, the person whose
    box centre is nearest each box's centre."""

    skeleton = LSP14
    padding = 1.25

    def __init__(self, samples, shift=0.0):
        self.by_path = {str(s.image_path): s for s in samples}
        self.shift = shift

    def predict(self, image, boxes=None):
        s = self.by_path[str(image)]
        people = [p for p in s.people if not p.is_crowd and p.num_labelled > 0]
        out = []
        for p in people:
            kp = map_keypoints(p.keypoints, s.skeleton, LSP14)
            kp[:, 0] += self.shift
            kp[:, 2] = 1.0
            out.append(Prediction(kp, 1.0, np.asarray(p.box, dtype=float), LSP14))
        if boxes is not None:
            centres = np.array([[b[0] + b[2] / 2, b[1] + b[3] / 2] for b in boxes])
            own = np.array([[q.box[0] + q.box[2] / 2, q.box[1] + q.box[3] / 2] for q in out])
            out = [out[int(np.argmin(np.linalg.norm(own - c, axis=1)))] for c in centres]
        return out


@pytest.fixture(scope="module")
def coco(data_root):
    return load("coco", data_root / "coco_mini", split="val2017")


def test_oks_ap_of_the_ground_truth_is_100_on_the_12_shared_joints(coco):
    result = evaluate_oks(Oracle(coco), coco, progress=False)
    assert len(result["joints"]) == 12 and "left_ankle" in result["joints"] and "nose" not in result["joints"]
    assert result["AP"] == pytest.approx(100.0)
    assert evaluate_oks(Oracle(coco), coco, gt_boxes=True, progress=False)["AP"] == pytest.approx(100.0)
    assert evaluate_oks(Oracle(coco, shift=15.0), coco, progress=False)["AP"] < 60


def test_gt_box_follows_each_dataset_protocol():
    p = Person(keypoints=np.array([[10.0, 10, 2], [30, 50, 2]]), box=np.array([0.0, 0, 100, 200]),
               extra={"center": np.array([50.0, 60.0]), "scale": 1.5})
    # the protocol's crop is 200 x scale x 1.25 = 375 px; the box handed to the predictor is that / its padding
    np.testing.assert_allclose(gt_box(p, "mpii"), [50 - 150, 60 - 150, 300, 300])  # 200 x 1.5, then x 1.25
    np.testing.assert_allclose(gt_box(p, "mpii", padding=1.5), [50 - 125, 60 - 125, 250, 250])  # crop still 375
    np.testing.assert_allclose(gt_box(p, "coco"), [0, 0, 100, 200])
    np.testing.assert_allclose(gt_box(p, "lsp"), [10, 10, 20, 40])


def test_nearest_matching_scores_every_annotated_person(data_root):
    mpii = [s for s in load("mpii", data_root / "mpii", split="valid") if s.image_path.is_file()]
    multi = [s for s in mpii if len(s.people) > 1][:5]
    assert multi
    pred, gt, heads = predict_dataset(Oracle(multi), multi, match="nearest", progress=False)
    assert len(pred) == sum(len(s.people) for s in multi)
    result = score(pred, gt, LSP14, heads)
    assert result["pckh@0.5"] == pytest.approx(100.0) and result["pck@0.2"] == pytest.approx(100.0)
    with pytest.raises(ValueError, match="one only"):
        predict_dataset(Oracle(multi), multi, match="top", progress=False)


def test_score_reports_pdj_and_the_lsp_head_column(data_root):
    lsp = load("lsp", data_root / "lsp", split="test")[:20]
    pred, gt, heads = predict_dataset(Oracle(lsp), lsp, progress=False)
    pred = pred.copy()
    pred[:, LSP14.joints.index("neck"), :2] += 1000  # neck always wrong, head top always right
    result = score(pred, gt, LSP14, heads)
    assert result["per_part"]["head"] == pytest.approx(50.0)  # mean(neck, head top), as eval_pck.m
    assert result["pdj_curve"]["thresholds"][-1] == pytest.approx(0.5)
    assert result["pdj_curve"]["values"][-1] == pytest.approx(100 * 13 / 14, abs=0.01)


def test_box_normalised_pck_for_jhmdb_style_reports():
    gt = np.zeros((1, 14, 3))
    gt[0, :, 2] = 2
    gt[0, :, 0] = np.linspace(0, 10, 14)  # a narrow person: torso ~ 100 px tall, box 10 x 100
    gt[0, :, 1] = np.linspace(0, 100, 14)
    pred = gt.copy()
    pred[0, :, 0] += 15  # 15 px off: within 0.2 x box max side (20 px)
    result = score(pred, gt, LSP14, boxes=np.array([[0, 0, 10, 100]]))
    assert result["pck@0.2_box"] == pytest.approx(100.0)
    pred[0, :, 0] += 10  # 25 px off
    assert score(pred, gt, LSP14, boxes=np.array([[0, 0, 10, 100]]))["pck@0.2_box"] == pytest.approx(0.0)


def test_score_reports_pckh_and_strict_pcp_from_their_definitions(data_root):
    """One wrist moved by 0.6 of its forearm: strict PCP loses exactly that lower arm (an end off by
    more than 0.5 x the stick), loose PCP keeps it (mean end error 0.3 x); PCKh@0.5 loses the wrist
    only when the move exceeds half the head size."""
    lsp = load("lsp", data_root / "lsp", split="test")[:10]
    pred, gt, _ = predict_dataset(Oracle(lsp), lsp, progress=False)
    wrist, elbow = LSP14.joints.index("left_wrist"), LSP14.joints.index("left_elbow")
    forearm = np.linalg.norm(gt[:, wrist, :2] - gt[:, elbow, :2], axis=1)
    moved = pred.copy()
    moved[:, wrist, 0] += 0.6 * forearm
    heads = list(0.5 * forearm)  # half of the head size below the move, for every person
    result = score(moved, gt, LSP14, heads)
    limbs = result["pcp_per_limb"]
    wrong = [name for name, v in limbs.items() if v is not None and v < 100]
    assert len(wrong) == 1 and "lower_arm" in wrong[0] and limbs[wrong[0]] == pytest.approx(0.0)
    assert result["pcp_loose"] == pytest.approx(100.0)
    labelled = (gt[:, :, 2] > 0).sum()
    assert result["pckh@0.5"] == pytest.approx(100 * (labelled - (gt[:, wrist, 2] > 0).sum()) / labelled, abs=0.01)
    assert score(pred, gt, LSP14, heads)["pckh@0.5"] == pytest.approx(100.0)
