from pathlib import Path

import pytest

from posekit.config import Config, ConfigError, from_dict, load_config, to_dict


def test_defaults_round_trip_through_dict():
    cfg = Config()
    assert from_dict(Config, to_dict(cfg)) == cfg


def test_dotted_overrides_parse_values():
    cfg = load_config(None, ["train.lr=1e-3", "train.max_steps=100", "codec.input_size=[160,128]",
                             "model.kwargs.loss=l1", "data.flip_prob=0"])
    assert cfg.train.lr == pytest.approx(1e-3)
    assert cfg.train.max_steps == 100
    assert cfg.codec.input_size == (160, 128)
    assert cfg.model.kwargs == {"loss": "l1"}
    assert cfg.data.flip_prob == 0.0


def test_overrides_index_lists_of_sources():
    """A number indexes a list: one data source's path changes without repeating the whole list (the COCO
    person photos of configs/simplebaseline_effl0_lsp+lspet+mpii+coco_160x160.yaml live where the user put them)."""
    cfg = load_config("configs/simplebaseline_effl0_lsp+lspet+mpii+coco_160x160.yaml",
                      ["data.train.3.path=/data/coco_person", "model.kwargs.pretrained=false"])
    assert cfg.data.train[3].path == "/data/coco_person" and cfg.data.train[3].split == "train"
    assert cfg.data.train[0].path == "lsp"
    assert cfg.model.kwargs["backbone"] == "efficientnet_lite0"
    with pytest.raises(ConfigError, match="not an index"):
        load_config("configs/simplebaseline_effl0_lsp+lspet+mpii+coco_160x160.yaml", ["data.train.7.path=x"])


def test_unknown_key_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="lrr"):
        load_config(None, ["train.lrr=1"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  max_step: 3\n")
    with pytest.raises(ConfigError, match="max_step"):
        load_config(bad)


def test_wrong_type_is_an_error():
    with pytest.raises(ConfigError, match="max_steps"):
        load_config(None, ["train.max_steps=abc"])
    with pytest.raises(ConfigError, match="input_size"):
        load_config(None, ["codec.input_size=[1,2,3]"])


def test_shipped_configs_load():
    from pathlib import Path

    configs = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))
    assert configs
    for path in configs:
        load_config(path)


def test_the_crop_cache_folder_follows_posekit_cache(monkeypatch, tmp_path):
    from posekit.config import resolve_cache_dir

    default = load_config(None, []).data.cache_dir
    monkeypatch.setenv("POSEKIT_CACHE", str(tmp_path))
    assert resolve_cache_dir(default) == tmp_path  # the default place moves with $POSEKIT_CACHE
    assert resolve_cache_dir(str(tmp_path / "mine")) == tmp_path / "mine"  # a folder set in the config stays
    assert resolve_cache_dir("") is None  # "" keeps the cache in memory
    monkeypatch.delenv("POSEKIT_CACHE")
    assert resolve_cache_dir(default) == Path("~/.cache/posekit").expanduser()


def test_an_empty_override_is_the_empty_string():
    from posekit.config import apply_overrides

    overridden = apply_overrides({"predict": {"detector": "detector"}}, ["predict.detector="])
    assert overridden == {"predict": {"detector": ""}}
