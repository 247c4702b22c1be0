"""PS and poselet-conditioned PS: a tiny model trained here in seconds on real LSP images, saved, loaded
back through load_model (weights_only) and run by predict() and `posekit eval`."""

import numpy as np
import pytest
import torch

from posekit.api import load_model
from posekit.classic.features import block_to_pixel, hog_grid, pixel_to_block, window_at, windows
from posekit.classic.io import save_classic
from posekit.classic.parts import train_parts
from posekit.classic.pictorial import PictorialStructures
from posekit.classic.poselets import condition_on_poselets
from posekit.classic.tree import LSP14_PARENTS, Springs
from posekit.data import load
from posekit.data.dataset import read_image

PARENTS = np.array(LSP14_PARENTS)


@pytest.fixture(scope="module")
def lsp_train(data_root):
    return load("lsp", data_root / "lsp", split="train")[:24]


@pytest.fixture(scope="module")
def tiny_ps(lsp_train):
    parts, summary = train_parts(lsp_train[:16], PARENTS, num_types=2, negatives_per_image=6, hard_rounds=1,
                                 hard_images=4, log=lambda *_: None)
    poses = np.stack([pixel_to_block(s.people[0].keypoints[:, :2] * 0.5) for s in lsp_train])
    springs = Springs.fit(poses, PARENTS)
    return PictorialStructures(parts, PARENTS, springs, np.array([0.7, 0.9]), strength=0.5), summary


def test_windows_match_window_at():
    grid = np.random.default_rng(0).random((6, 5, 36)).astype(np.float32)
    w = windows(grid, 2)
    for iy, ix in [(0, 0), (3, 2), (5, 4)]:
        np.testing.assert_array_equal(w[iy * 5 + ix], window_at(grid, iy, ix, 2))
    np.testing.assert_allclose(pixel_to_block(block_to_pixel(np.array([3.0, 7.0]))), [3.0, 7.0])


def test_hog_grid_shape():
    image = np.random.default_rng(0).integers(0, 255, (40, 32, 3), dtype=np.uint8)
    assert hog_grid(image).shape == (9, 7, 36)


@pytest.mark.heavy
def test_ps_round_trip(tiny_ps, lsp_train, tmp_path):
    model, summary = tiny_ps
    assert summary["positives"] > 100 and summary["hard_negatives"] > 0
    path = save_classic(tmp_path / "ps.pt", "ps", model.state(), summary)
    torch.load(path, weights_only=True)  # nothing but tensors and plain containers
    loaded = load_model(path)
    image_path = lsp_train[20].image_path
    (pred,) = loaded.predict(image_path)
    assert pred.keypoints.shape == (14, 3) and pred.skeleton.name == "lsp14"
    np.testing.assert_allclose(pred.keypoints, model.predict(image_path)[0].keypoints)
    assert np.all((pred.keypoints[:, 2] >= 0) & (pred.keypoints[:, 2] <= 1))
    (boxed,) = loaded.predict(image_path, boxes=[[10, 10, 80, 120]])
    assert boxed.keypoints.shape == (14, 3)


@pytest.mark.heavy
def test_pcps_round_trip(tiny_ps, lsp_train, tmp_path):
    from posekit.classic.features import CELL
    from posekit.classic.parts import assign_types, reference_offsets

    model, _ = tiny_ps
    poses = np.stack([pixel_to_block(s.people[0].keypoints[:, :2] * 0.5) for s in lsp_train])
    kp = np.concatenate([poses * CELL, np.ones(poses.shape[:2] + (1,))], axis=-1)
    types = assign_types(reference_offsets(kp, PARENTS), model.parts.type_centres)
    model.type_springs = Springs.fit_typed(poses, PARENTS, types, model.parts.num_types, min_count=2)
    pcps, summary = condition_on_poselets(model, lsp_train, poselet_images=14, classifier_images=10, per_group=2,
                                          log=lambda *_: None)
    assert summary["poselets"] == 14
    image = lsp_train[20].image_path
    for mode in ("hard", "prior"):
        pcps.set_mode(mode, 1.0)
        logp = pcps.type_log_probs(read_image(image))
        np.testing.assert_allclose(np.exp(logp[PARENTS >= 0]).sum(1), 1.0)
        loaded = load_model(save_classic(tmp_path / f"pcps_{mode}.pt", "pcps", pcps.state(), summary))
        assert loaded.mode == mode
        (pred,) = loaded.predict(image)
        assert pred.keypoints.shape == (14, 3)
        np.testing.assert_allclose(pred.keypoints, pcps.predict(image)[0].keypoints)
    model.type_springs = None


@pytest.mark.heavy
def test_classic_model_through_the_cli(tiny_ps, data_root, tmp_path, capsys):
    from posekit.cli import main

    model, summary = tiny_ps
    path = save_classic(tmp_path / "ps.pt", "ps", model.state(), summary)
    code = main(["eval", "--model", str(path), "--data", f"lsp:{data_root / 'lsp'}", "--split", "test",
                 "--limit", "2"])
    assert code in (0, None)
    assert "PCK@0.2" in capsys.readouterr().out


@pytest.mark.heavy
def test_ps_with_type_springs_round_trip(tiny_ps, lsp_train, tmp_path):
    from posekit.classic.features import CELL
    from posekit.classic.parts import assign_types, reference_offsets

    model, summary = tiny_ps
    poses = np.stack([pixel_to_block(s.people[0].keypoints[:, :2] * 0.5) for s in lsp_train])
    kp = np.concatenate([poses * CELL, np.ones(poses.shape[:2] + (1,))], axis=-1)
    types = assign_types(reference_offsets(kp, PARENTS), model.parts.type_centres)
    typed = Springs.fit_typed(poses, PARENTS, types, model.parts.num_types, min_count=2)
    assert typed.mx.shape == (14, model.parts.num_types)
    ps = PictorialStructures(model.parts, PARENTS, model.springs, model.scales, strength=0.5, type_springs=typed,
                             use_types=True)
    loaded = load_model(save_classic(tmp_path / "ps_typed.pt", "ps", ps.state(), summary))
    assert loaded.use_types
    image = lsp_train[21].image_path
    np.testing.assert_allclose(loaded.predict(image)[0].keypoints, ps.predict(image)[0].keypoints)


@pytest.mark.heavy
def test_ps_predicts_video_frames(tiny_ps, data_root, tmp_path):
    import cv2

    model, _ = tiny_ps
    frame = cv2.imread(str(data_root / "lsp" / "images" / "im0001.jpg"))
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, frame.shape[1::-1])
    for _ in range(2):
        writer.write(frame)
    writer.release()
    out = list(model.predict_video(path))
    assert [i for i, _, _ in out] == [0, 1] and all(p[0].keypoints.shape == (14, 3) for _, _, p in out)


@pytest.mark.heavy
def test_classic_weights_take_no_overrides(tiny_ps, tmp_path):
    model, summary = tiny_ps
    path = save_classic(tmp_path / "ps.pt", "ps", model.state(), summary)
    with pytest.raises(ValueError, match="no overrides"):
        load_model(path, overrides=["predict.flip_test=false"])
    with pytest.raises(ValueError, match="unknown classic method"):
        save_classic(tmp_path / "x.pt", "dpm", {})
