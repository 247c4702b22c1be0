import numpy as np
import pytest

from posekit.classic.cnn_unaries import TreeDecoder, crop_poses
from posekit.classic.tree import Springs
from posekit.codecs.heatmap import HeatmapCodec
from posekit.skeletons import LSP14
from posekit.types import Person, Sample


def gaussian(h, w, x, y, s=1.5):
    yy, xx = np.mgrid[0:h, 0:w]
    return np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * s * s))


def make_codec():
    return HeatmapCodec(input_size=(64, 64), heatmap_size=(16, 16), sigma=1.5, refine="dark")


def test_weak_springs_give_the_argmax_and_strong_ones_pick_the_consistent_peak():
    codec = make_codec()
    parents = np.array([-1, 0])
    # part 0 peaks at (8, 4); part 1 has two peaks: a stronger one far from where the spring expects
    # it, a slightly weaker one at the expected offset (0, +6) below part 0
    hm = np.stack([gaussian(16, 16, 8, 4), 1.0 * gaussian(16, 16, 2, 14) + 0.8 * gaussian(16, 16, 8, 10)])[None]
    springs = Springs(np.zeros(2), np.array([0.0, 6.0]), np.full(2, 0.5), np.full(2, 0.5))
    weak = TreeDecoder(parents, springs, codec, strength=1e-4).decode(hm)
    argmax = codec.decode(hm)
    np.testing.assert_allclose(weak[..., :2], argmax[..., :2], atol=1e-6)
    strong = TreeDecoder(parents, springs, codec, strength=1.0).decode(hm)
    cell = (strong[0, 1, :2] + 0.5) / 4 - 0.5
    assert np.abs(cell - [8, 10]).max() < 1.0


def test_crop_poses_in_heatmap_cells():
    kp = np.zeros((14, 3))
    kp[:, 0] = np.linspace(100, 140, 14)
    kp[:, 1] = np.linspace(50, 250, 14)
    kp[:, 2] = 2
    person = Person(keypoints=kp, box=np.array([100.0, 50, 40, 200]))
    sample = Sample(image_path="x.jpg", skeleton=LSP14, people=[person])
    poses, labelled = crop_poses([sample], make_codec(), padding=1.25)
    assert poses.shape == (1, 14, 2) and labelled.all()
    # the 200 px tall pose fills 1 / 1.25 of the 16-cell crop height
    assert abs((poses[0, -1, 1] - poses[0, 0, 1]) - 16 / 1.25) < 0.2


@pytest.mark.heavy
def test_ps_cnn_round_trip(data_root, tmp_path):
    from posekit.api import load_model
    from posekit.classic.io import save_classic
    from posekit.classic.tree import LSP14_PARENTS
    from posekit.data import load
    from posekit.predict.classic import TreeDecodingPredictor

    base = load_model("grmi-p5-2026-11-29", device="cpu")  # an LSP-14 network: the tree is LSP-14's
    samples = load("lsp", data_root / "lsp", split="train")[:30]
    poses, labelled = crop_poses(samples, base.codec, base.padding)
    springs = Springs.fit(poses, np.array(LSP14_PARENTS), labelled)
    decoder = TreeDecoder(np.array(LSP14_PARENTS), springs, base.codec, strength=0.05)
    state = TreeDecodingPredictor(base, decoder).state("grmi-p5-2026-11-29")
    path = save_classic(tmp_path / "ps_cnn.pt", "ps_cnn", state, {})
    loaded = load_model(path, device="cpu")
    assert isinstance(loaded, TreeDecodingPredictor) and loaded.decoder.strength == 0.05
    preds = loaded.predict(samples[0].image_path)
    assert preds and preds[0].keypoints.shape == (14, 3)
