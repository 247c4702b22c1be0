"""DetectionDataset: partially annotated photos learn negatives only around their annotated people;
sources marked ``repeat`` are oversampled in training only."""

import numpy as np

from posekit.codecs.boxes import CenterBoxCodec
from posekit.data import load
from posekit.data.detection import PARTIAL_CONTEXT, DetectionDataset


def test_partial_photos_ignore_everything_far_from_their_annotated_people(data_root):
    sample = load("lsp", data_root / "lsp", split="train")[0]
    codec = CenterBoxCodec((96, 96), (24, 24))
    full = DetectionDataset(codec, keypoint_only=[sample], augment=False).get(0)
    part = DetectionDataset(codec, partial=[sample], augment=False).get(0)
    # same targets, more ignored cells, the centre never ignored
    assert np.array_equal(full["centers"].numpy(), part["centers"].numpy())
    assert part["ignore"].sum() > full["ignore"].sum()
    assert float(part["ignore"][part["centers"] >= 1].sum()) == 0.0
    # the cells kept for negatives lie inside the box grown PARTIAL_CONTEXT times (in heatmap cells)
    ds = DetectionDataset(codec, partial=[sample], augment=False)
    (box,) = ds.boxes(0)[0]
    stride = 96 / 24
    kept_y, kept_x = np.nonzero(part["ignore"][0].numpy() == 0)
    centre, half = (box[:2] + box[2:] / 2) / stride, PARTIAL_CONTEXT * box[2:] / 2 / stride
    assert (np.abs(kept_x - centre[0] + 0.5) <= half[0] + 1.5).all()
    assert (np.abs(kept_y - centre[1] + 0.5) <= half[1] + 1.5).all()


def test_repeat_oversamples_training_images_but_never_held_out_ones():
    from posekit.config import SourceConfig
    from posekit.train_data import oversample, split_train_val

    a, b = SourceConfig("lsp", "a"), SourceConfig("mpii", "b", repeat=3)
    samples_a, samples_b = [object() for _ in range(10)], [object() for _ in range(10)]
    train, val = split_train_val(samples_a + samples_b, 0.2, 0)
    out = oversample(train, [(a, samples_a), (b, samples_b)])
    for s in samples_b:
        assert out.count(s) == (0 if s in val else 3)
    for s in samples_a:
        assert out.count(s) == (0 if s in val else 1)
