"""JHMDB (Jhuang et al. ICCV 2013): puppet-annotated joints for every frame of short action clips.

Joint order :data:`~posekit.skeletons.JHMDB15`: neck, belly, head (the "face" joint of the JHMDB
documentation), R shoulder, L shoulder, R hip, L hip, R elbow, L elbow, R knee, L knee, R wrist, L wrist,
R ankle, L ankle -- the official order, the same as the names MMPose's JHMDB JSON declares, and
person-centric (in the sample clip the goalkeeper faces the camera and the "right" joints are on the
image's left).

Two forms:

* a clip: ``joint_positions.mat`` with ``pos_img`` of shape (2, 15, T) = (x, y) x joint x frame, and the
  frames ``00001.png`` ... ``%05d.png``, one Sample per frame (one Person). The frames are looked for
  beside the .mat, in its only sub-folder that holds ``00001.png`` (the layout of ``jhmdb_sample/``),
  or in the official tree (``joint_positions/<action>/<clip>/`` -> ``Rename_Images/<action>/<clip>/``).
  The puppet gives every joint in every frame, so v = 2 for all (also for the occasional joint the
  puppet puts outside the frame). ``scale`` (per frame), when the file has it, goes to
  ``person.extra["scale"]``. image_id = ``"<clip>/<frame:05d>"``.
* the JSON form (MMPose's ``test_jhmdb_sub1.json``): COCO-style, read by :mod:`.coco`; its category
  declares exactly JHMDB15's names, so the skeleton is JHMDB15.

``root``: a clip folder (holding ``joint_positions.mat``), the .mat or .json file, a folder of JSON
files, or the top of the official tree (every ``joint_positions.mat`` below it, in path order). JHMDB's
train/test splits live in separate split lists this reader does not read: ``split`` must be None.
Coordinates are kept as stored (the puppet values sit on half pixels, e.g. 286.5).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from posekit.data.errors import DataError
from posekit.data.formats import ImageIndex, check_split, first_index, get_array, make_person, read_mat
from posekit.data.formats.coco import load_coco_file
from posekit.skeletons import JHMDB15
from posekit.types import Sample

K = 15
FIRST_FRAME = "00001.png"


def load_jhmdb(root: str | Path, split: str | None = None, *, check_images: bool = True) -> list[Sample]:
    """JHMDB clip(s) or JSON (see the module docstring)."""
    check_split("jhmdb", split, (None,))
    root = Path(root)
    if root.is_file():
        if root.suffix.lower() == ".json":
            return load_coco_file(root, check_images=check_images)
        return load_clip(root, check_images=check_images)
    if not root.is_dir():
        raise FileNotFoundError(f"jhmdb: no such file or folder {root}")
    if (root / "joint_positions.mat").is_file():
        return load_clip(root / "joint_positions.mat", check_images=check_images)
    jsons = sorted(root.glob("*.json"))
    if jsons:
        return [s for f in jsons for s in load_coco_file(f, check_images=check_images)]
    mats = sorted(root.rglob("joint_positions.mat"))
    if not mats:
        raise FileNotFoundError(f"jhmdb: no joint_positions.mat or .json under {root}")
    return [s for m in mats for s in load_clip(m, check_images=check_images)]


def _frame_dir(mat_path: Path, images: ImageIndex) -> Path | None:
    here = mat_path.parent
    if images.exists(here / FIRST_FRAME):
        return here
    subs = sorted(d for d in here.iterdir() if d.is_dir() and images.exists(d / FIRST_FRAME))
    if len(subs) == 1:
        return subs[0]
    named = [d for d in subs if d.name == here.name]
    if named:
        return named[0]
    parts = list(here.parts)
    if "joint_positions" in parts:  # official tree: joint_positions/<action>/<clip>/
        i = len(parts) - 1 - parts[::-1].index("joint_positions")
        official = Path(*parts[:i], "Rename_Images", *parts[i + 1:])
        if images.exists(official / FIRST_FRAME):
            return official
    return None


def load_clip(mat_path: str | Path, *, check_images: bool = True) -> list[Sample]:
    """One clip's ``joint_positions.mat`` -> one Sample per frame."""
    mat_path = Path(mat_path)
    mat = read_mat(mat_path)
    pos = get_array(mat, "pos_img", mat_path)
    if pos.ndim != 3 or pos.shape[:2] != (2, K):
        raise DataError(mat_path, "variable 'pos_img'", f"shape {pos.shape}, expected (2, {K}, T)")
    xy = pos.transpose(2, 1, 0)  # (T, 15, 2)
    bad = first_index(~np.isfinite(xy).all(-1))
    if bad is not None:
        raise DataError(mat_path, f"frame {bad[0] + 1} joint {bad[1]} ({JHMDB15.joints[bad[1]]})",
                        "NaN coordinates")
    scale = None
    if "scale" in mat:
        scale = np.asarray(mat["scale"], dtype=np.float64).reshape(-1)
        if scale.size != xy.shape[0]:
            raise DataError(mat_path, "variable 'scale'", f"{scale.size} values for {xy.shape[0]} frames")
    images = ImageIndex()
    frame_dir = _frame_dir(mat_path, images)
    if frame_dir is None:
        if check_images:
            raise DataError(mat_path, "frame 1", f"no folder with {FIRST_FRAME} beside the .mat, in a "
                                                 "sub-folder, or in the official Rename_Images tree")
        frame_dir = mat_path.parent
    clip = frame_dir.name
    samples = []
    for t in range(xy.shape[0]):
        path = frame_dir / f"{t + 1:05d}.png"
        if check_images:
            images.require(path, mat_path, f"frame {t + 1}")
        kp = np.concatenate([xy[t], np.full((K, 1), 2.0)], axis=1)
        extra = {"frame": t + 1} if scale is None else {"frame": t + 1, "scale": float(scale[t])}
        samples.append(Sample(image_path=path, skeleton=JHMDB15, people=[make_person(kp, extra=extra)],
                              image_id=f"{clip}/{t + 1:05d}"))
    return samples
