"""posekit's cache folder (posekit.runtime.cache): documented place, bounded, cleanable."""

import os

import pytest

from posekit.cli import main
from posekit.runtime import cache


def _export(folder, name, size, age):
    entry = folder / "onnx" / name
    entry.mkdir(parents=True)
    (entry / "pose.onnx").write_bytes(b"x" * size)
    os.utime(entry, (age, age))
    return entry


def test_the_cache_follows_posekit_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("POSEKIT_CACHE", str(tmp_path / "c"))
    assert cache.root() == tmp_path / "c" and cache.onnx_dir() == tmp_path / "c" / "onnx"


def test_exports_beyond_the_bound_are_removed_least_recently_used_first(tmp_path, monkeypatch):
    monkeypatch.setenv("POSEKIT_CACHE", str(tmp_path))
    old = _export(tmp_path, "old", 600, 1_000)
    middle = _export(tmp_path, "middle", 600, 2_000)
    new = _export(tmp_path, "new", 600, 3_000)
    cache.touch(old)  # used just now: now the most recently used
    removed = cache.evict(keep=new, limit=1300)
    assert removed == [middle] and old.exists() and new.exists()
    assert cache.evict(keep=new, limit=0) == [old] and new.exists()  # the one just made is always kept


def test_info_and_clear_from_the_command_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("POSEKIT_CACHE", str(tmp_path))
    _export(tmp_path, "a", 2_000_000, 1_000)
    (tmp_path / "crops_ab12.npy").write_bytes(b"y" * 1000)
    (tmp_path / "notes.txt").write_text("not ours")
    info = cache.info()
    assert info["onnx"] == {"entries": 1, "bytes": 2_000_000} and info["crops"] == {"entries": 1, "bytes": 1000}
    assert main(["cache", "info"]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path) in out and "2.0 MB" in out
    assert main(["cache", "clear", "onnx"]) == 0
    assert cache.info()["onnx"]["entries"] == 0 and cache.info()["crops"]["entries"] == 1
    assert main(["cache", "clear"]) == 0
    assert cache.info()["crops"]["entries"] == 0 and (tmp_path / "notes.txt").exists()  # only its own files
    with pytest.raises(ValueError, match="unknown cache kind"):
        cache.entries("weights")
