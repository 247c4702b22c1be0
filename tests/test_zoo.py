"""The model zoo (posekit.zoo): every entry's file is in the package with its sha256, names are unique,
unknown names and damaged files are clear errors, and the table lists every entry."""

import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

import posekit.zoo as zoo

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("entry", zoo.entries(), ids=lambda e: e.name)
def test_every_file_exists_with_its_sha256_and_size(entry):
    assert entry.path.is_file(), entry.path
    assert entry.path.stat().st_size == entry.size
    assert zoo.sha256_file(entry.path) == entry.sha256
    assert zoo.resolve(entry.name) == entry.path


def test_names_are_unique_and_complete():
    names = zoo.names()
    assert len(names) == len(set(names))
    for required in ("default", "detector", "yolox-nano", "paf", "deepcut", "ps", "pcps", "ps_cnn", "hourglass",
                     "hrnet", "deeppose", "tompson"):
        assert required in names
    assert [e.name for e in zoo.entries(zoo.DETECTOR)] == ["detector", "yolox-nano"]  # apart from the pose models


def test_every_entry_says_what_it_is_and_how_its_figure_is_reproduced():
    for e in zoo.entries():
        assert e.task in (zoo.TOP_DOWN, zoo.BOTTOM_UP, zoo.DETECTOR, zoo.CLASSIC)
        assert e.licence and e.description and e.metric and e.command and e.source
        assert any(c.isdigit() for c in e.metric), e.name
        assert "benchmarks/weights" not in e.command, e.name


def test_unknown_name_lists_the_names():
    with pytest.raises(FileNotFoundError) as err:  # zoo.UnknownModel: the CLI prints it as one line
        zoo.resolve("no-such-model")
    message = str(err.value)
    assert "no-such-model" in message
    for name in zoo.names():
        assert name in message


def test_a_corrupted_copy_is_refused(tmp_path, monkeypatch):
    entry = zoo.get("ps_cnn")
    damaged = tmp_path / entry.file
    shutil.copyfile(entry.path, damaged)
    with open(damaged, "r+b") as f:  # flip one byte in the middle
        f.seek(entry.size // 2)
        byte = f.read(1)
        f.seek(entry.size // 2)
        f.write(bytes([byte[0] ^ 0xFF]))
    monkeypatch.setattr(zoo, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setattr(zoo, "_verified", set())
    with pytest.raises(ValueError, match="sha256"):
        zoo.resolve("ps_cnn")
    with pytest.raises(ValueError, match=entry.sha256):
        zoo.verify(damaged, entry.sha256)
    # a missing file is a clear error too
    monkeypatch.setattr(zoo, "_BY_NAME", {**zoo._BY_NAME, "ps_cnn": replace(entry, file="gone.pt")})
    with pytest.raises(FileNotFoundError, match="missing"):
        zoo.resolve("ps_cnn")


def test_the_table_lists_every_entry():
    table = zoo.format_table(zoo.entries())
    for e in zoo.entries():
        assert e.name in table and e.metric in table and e.sha256[:12] in table and e.command in table
    header = table.splitlines()[0]
    for column in ("name", "task", "skeleton", "size", "licence", "headline metric", "sha256"):
        assert column in header


def test_configs_name_the_exact_weights_they_start_from():
    for path in sorted((REPO / "configs").glob("*.yaml")):
        model = yaml.safe_load(path.read_text()).get("model", {})
        init = model.get("init_weights", "")
        assert init != "default", f"{path.name}: names 'default', which changes; name the zoo entry"
        if init in zoo.names():
            assert model.get("init_sha256") == zoo.get(init).sha256, path.name
            assert zoo.pinned(init, model["init_sha256"]) == zoo.get(init).path
    with pytest.raises(ValueError, match="sha256"):
        zoo.pinned("paf", "0" * 64)


def test_stored_references_name_zoo_models():
    """ps_cnn's base network and deepcut's part network are zoo names, so they keep resolving after a move and
    do not follow the default when it changes."""
    import torch

    ps_cnn = torch.load(zoo.resolve("ps_cnn"), map_location="cpu", weights_only=True)
    assert ps_cnn["model"]["base"] == "grmi-p5-2026-11-29"
    deepcut = torch.load(zoo.resolve("deepcut"), map_location="cpu", weights_only=True)
    assert deepcut["part_detector"] == "paf"


def test_zoo_imports_nothing_from_posekit():
    import ast

    tree = ast.parse(Path(zoo.__file__).read_text())
    imported = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    imported += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not [m for m in imported if m.split(".")[0] == "posekit"], imported
