"""Datasets: files on disk -> ``list[Sample]`` (one record type, :mod:`posekit.types`).

``load(format, root, split)`` dispatches through the plain dict :data:`FORMATS`; each reader lives in
:mod:`posekit.data.formats` and only parses (it checks that image files exist, never decodes them).
Bad input raises :class:`~posekit.data.errors.DataError` naming the file and the record.

Formats and their splits (details in each reader's docstring):

=========  ======================================================  ==============================
format     root                                                    split
=========  ======================================================  ==============================
lsp        folder with joints.mat + images/ (LSP, 2,000)           "train" (1-1000), "test", None
lspet      folder with joints.mat + images/ (LSP Extended, 10,000)  "train" / None
mpii       folder, official .mat, valid.h5 or JSON conversion      "train", "valid", "test", None
jhmdb      clip folder (joint_positions.mat + frames) or JSON      None
coco       folder (annotations/person_keypoints_<split>.json)      e.g. "val2017" / "val", None
           or one COCO-format JSON (CrowdPose, OCHuman, ...)
poselets   folder of PASCAL person XML with H3D keypoints          None
=========  ======================================================  ==============================
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from posekit.data.errors import DataError
from posekit.data.formats.coco import load_coco
from posekit.data.formats.jhmdb import load_jhmdb
from posekit.data.formats.lsp import load_lsp, load_lspet
from posekit.data.formats.mpii import load_mpii
from posekit.data.formats.poselets import load_poselets
from posekit.skeletons import Skeleton, map_keypoints
from posekit.types import Sample

__all__ = ["FORMATS", "DataError", "convert_samples", "load", "parse_spec", "stats", "with_images"]

FORMATS: dict[str, Callable[..., list[Sample]]] = {
    "lsp": load_lsp,
    "lspet": load_lspet,
    "mpii": load_mpii,
    "jhmdb": load_jhmdb,
    "coco": load_coco,
    "poselets": load_poselets,
}


def load(format: str, root: str | Path, split: str | None = None, **options: Any) -> list[Sample]:
    """Read a dataset into Samples.

    format: a key of :data:`FORMATS`; root: the dataset folder or annotation file; split: the format's
    split name (None = the format's default, usually everything). ``options`` go to the reader (all
    take ``check_images``: False skips the image existence check).
    Raises ValueError for an unknown format or split, FileNotFoundError for a missing root or
    annotation file, DataError for bad content or a missing image.
    """
    try:
        reader = FORMATS[format]
    except KeyError:
        raise ValueError(f"unknown dataset format {format!r}; known formats: {sorted(FORMATS)}") from None
    return reader(root, split, **options)


def convert_samples(samples: Iterable[Sample], skeleton: Skeleton) -> list[Sample]:
    """The samples re-expressed in ``skeleton``'s joints (:func:`~posekit.skeletons.map_keypoints`:
    joints it lacks become unlabelled); samples already in it are returned as they are."""
    out = []
    for s in samples:
        if s.skeleton.name == skeleton.name:
            out.append(s)
            continue
        people = [dataclasses.replace(p, keypoints=map_keypoints(p.keypoints, s.skeleton, skeleton))
                  for p in s.people]
        out.append(dataclasses.replace(s, skeleton=skeleton, people=people))
    return out


def with_images(samples: Iterable[Sample]) -> list[Sample]:
    """The samples whose image file is on disk. MPII's ``valid.h5`` annotates 2,958 people of whom only
    the photos of 269 are at hand: the others are annotation-only and cannot be scored."""
    return [s for s in samples if Path(s.image_path).is_file()]


def parse_spec(spec: str) -> tuple[str, Path]:
    """Split the CLI's ``FORMAT:PATH`` argument: ``"lsp:../data/lsp"`` -> ``("lsp", Path("../data/lsp"))``.

    Only the first colon separates (paths may contain colons). Raises ValueError when the format part is
    missing or unknown.
    """
    fmt, sep, path = spec.partition(":")
    if not sep or not path:
        raise ValueError(f"expected FORMAT:PATH (e.g. lsp:../shared/datasets/lsp), got {spec!r}; "
                         f"formats: {sorted(FORMATS)}")
    if fmt not in FORMATS:
        raise ValueError(f"unknown dataset format {fmt!r} in {spec!r}; known formats: {sorted(FORMATS)}")
    return fmt, Path(path)


def stats(samples: Iterable[Sample]) -> dict[str, Any]:
    """Counts for ``posekit data stats``.

    images, people (every annotation, crowd included), crowd, people_with_keypoints (non-crowd people
    with at least one labelled joint), joints (K summed over non-crowd people), labelled (v > 0),
    visible (v = 2), occluded (v = 1), unlabelled (v = 0), labelled_fraction = labelled / joints,
    occluded_fraction = occluded / labelled, skeletons (names seen). Plain ints / floats / lists.
    """
    images = people = crowd = with_kp = joints = 0
    counts = np.zeros(3, dtype=np.int64)  # v = 0, 1, 2
    skeletons: set[str] = set()
    for s in samples:
        images += 1
        skeletons.add(s.skeleton.name)
        for p in s.people:
            people += 1
            if p.is_crowd:
                crowd += 1
                continue
            v = p.keypoints[:, 2]
            joints += v.shape[0]
            counts += np.bincount(np.clip(v.astype(np.int64), 0, 2), minlength=3)
            with_kp += bool((v > 0).any())
    labelled = int(counts[1] + counts[2])
    return {
        "images": images,
        "people": people,
        "crowd": crowd,
        "people_with_keypoints": with_kp,
        "joints": joints,
        "labelled": labelled,
        "visible": int(counts[2]),
        "occluded": int(counts[1]),
        "unlabelled": int(counts[0]),
        "labelled_fraction": labelled / joints if joints else 0.0,
        "occluded_fraction": int(counts[1]) / labelled if labelled else 0.0,
        "skeletons": sorted(skeletons),
    }
