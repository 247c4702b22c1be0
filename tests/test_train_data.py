"""The training data: the stream of items is a pure function of the step, and the held-out images follow
``data.val_seed``, not the training seed."""

from posekit.config import build_codec, load_config
from posekit.train_data import StepSampler, build_datasets

DATA = ["codec.input_size=[64,64]", "codec.heatmap_size=[16,16]", "data.train=[{format: lsp, path: lsp, split: train}]",
        "data.val_fraction=0.25", "data.num_workers=0"]


def test_step_sampler_is_a_pure_function_of_the_step():
    full = list(StepSampler(10, 2, seed=3, start_step=0, max_steps=12))
    tail = list(StepSampler(10, 2, seed=3, start_step=5, max_steps=12))
    assert full[5 * 2:] == tail
    ranks = [list(StepSampler(10, 2, 3, 0, 2, rank=r, world_size=2)) for r in (0, 1)]
    assert not set(i for i, _ in ranks[0]) & set(i for i, _ in ranks[1])  # ranks see different items


def test_validation_split_follows_val_seed_not_the_training_seed(data_root, tmp_path):
    def val_images(*extra):
        cfg = load_config(None, DATA + [f"data.root={data_root}", f"data.cache_dir={tmp_path / 'cache'}",
                                        "data.limit=60", *extra])
        return [s.image_path for s in build_datasets(cfg, build_codec(cfg), progress=False)[1].samples]

    base = val_images()
    assert base and val_images("train.seed=1") == base
    assert val_images("data.val_seed=1") != base
