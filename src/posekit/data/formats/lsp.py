"""Leeds Sports Pose (LSP, Johnson & Everingham BMVC 2010) and LSP Extended (LSPet, CVPR 2011).

Both ship ``joints.mat`` (variable ``joints``) beside an ``images/`` folder, one person per image, the
14 joints of :data:`~posekit.skeletons.LSP14`, but the two files differ in layout AND in the meaning of
the flag, so each has its own entry point and neither guesses from the data:

* ``lsp``: shape (3, 14, N) = (x, y, flag) x joint x image; flag 1 = OCCLUDED, 0 = visible. Every
  joint is labelled: v = 1 where flag == 1 else 2. Images ``images/im0001.jpg`` ... Standard split:
  ``"train"`` = images 1-1000, ``"test"`` = 1001-2000, None = all.
* ``lspet``: shape (14, 3, N) = joint x (x, y, flag) x image; flag 1 = VISIBLE. Flag 0 does NOT mean
  "occluded": in the 10,000-image file every flag-0 joint holds the same coordinates as the image's
  other flag-0 joints, with one coordinate exactly 0 and the other <= 0 (e.g. (-53.3, 0) three times in
  image 3) -- the image origin carried through the crop/rescale, i.e. a joint that was never clicked.
  So flag 0 -> v = 0 (not labelled) and LSPet has no occluded joints. 16,787 of 140,000 joints (12 %)
  are unlabelled; 3,945 images have all 14. Images ``images/im00001.jpg`` ...; split ``"train"`` or
  None (LSPet is training data only).

Coordinates are kept as stored: they are 0-based pixel centres, posekit's convention, as measured (LSP was
annotated in MATLAB, so 1-based numbers were possible). ``benchmarks/coordinate_origin.py`` trains nothing
new: a network trained with flip augmentation cannot learn a constant x offset, so 1-based labels would
leave a mean signed x error 1 px below the y one on held-out images; the default model gives
bias_x - bias_y = -0.06 +- 0.17 px on LSP and -0.07 +- 0.10 px on LSPet (``coordinate_origin.json``): no
shift is applied, and a test keeps the stored values unshifted.

The ``images/`` listing is read once (not one ``stat`` per file); a missing image is a DataError.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from posekit.data.errors import DataError
from posekit.data.formats import ImageIndex, check_split, first_index, get_array, read_mat
from posekit.skeletons import LSP14
from posekit.types import Person, Sample

NUM_JOINTS = 14


def _paths(root: str | Path) -> tuple[Path, Path]:
    """(joints.mat, images folder) from a dataset folder or the joints.mat file itself."""
    root = Path(root)
    mat_path = root if root.is_file() else root / "joints.mat"
    if not mat_path.is_file():
        raise FileNotFoundError(f"no joints.mat at {mat_path}")
    return mat_path, mat_path.parent / "images"


def _image_name_width(images: ImageIndex, image_dir: Path, n: int) -> int:
    """Digits in the file names: LSP has im0001.jpg, LSPet im00001.jpg (checked on the folder)."""
    names = images.names(image_dir)
    for width in (4, 5):
        if f"im{1:0{width}d}.jpg" in names:
            return width
    return 4 if n < 10000 else 5


def _read(fmt: str, root: str | Path) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    """(mat file, image folder, (N, 14, 2) xy, (N, 14) flag) in image-major order."""
    mat_path, image_dir = _paths(root)
    joints = get_array(read_mat(mat_path), "joints", mat_path)
    if fmt == "lsp":
        if joints.ndim != 3 or joints.shape[:2] != (3, NUM_JOINTS):
            hint = "; it looks like the LSPet layout (14, 3, N): use format 'lspet'" if (
                joints.ndim == 3 and joints.shape[:2] == (NUM_JOINTS, 3)) else ""
            raise DataError(mat_path, "variable 'joints'",
                            f"shape {joints.shape}, expected (3, 14, N) for LSP{hint}")
        arr = joints.transpose(2, 1, 0)  # (N, 14, 3)
    else:
        if joints.ndim != 3 or joints.shape[:2] != (NUM_JOINTS, 3):
            hint = "; it looks like the LSP layout (3, 14, N): use format 'lsp'" if (
                joints.ndim == 3 and joints.shape[:2] == (3, NUM_JOINTS)) else ""
            raise DataError(mat_path, "variable 'joints'",
                            f"shape {joints.shape}, expected (14, 3, N) for LSPet{hint}")
        arr = joints.transpose(2, 0, 1)  # (N, 14, 3)
    return mat_path, image_dir, arr[..., :2], arr[..., 2]


def _load(fmt: str, root: str | Path, indices: np.ndarray | None, check_images: bool) -> list[Sample]:
    mat_path, image_dir, xy, flag = _read(fmt, root)
    n = xy.shape[0]
    images = ImageIndex()
    width = _image_name_width(images, image_dir, n)

    def record(i: int, k: int | None = None) -> str:
        r = f"image {i + 1} (im{i + 1:0{width}d}.jpg)"
        return r if k is None else f"{r} joint {k} ({LSP14.joints[k]})"

    bad = first_index(~np.isin(flag, (0.0, 1.0)))
    if bad is not None:
        raise DataError(mat_path, record(*bad), f"visibility flag {flag[bad]:g}, expected 0 or 1")
    if fmt == "lsp":
        v = np.where(flag == 1, 1.0, 2.0)  # LSP: 1 = occluded; every joint labelled
    else:
        v = np.where(flag == 1, 2.0, 0.0)  # LSPet: 1 = visible; 0 = never clicked (see module doc)
    bad = first_index(~np.isfinite(xy).all(-1) & (v > 0))
    if bad is not None:
        x, y = xy[bad]
        raise DataError(mat_path, record(*bad), f"NaN or infinite coordinates ({x:g}, {y:g})")

    kp = np.concatenate([np.where(v[..., None] > 0, xy, 0.0), v[..., None]], axis=-1)
    # Tight boxes for all images at once (same result as posekit.types.box_from_keypoints).
    lab = v > 0
    lo = np.where(lab[..., None], kp[..., :2], np.inf).min(axis=1)
    hi = np.where(lab[..., None], kp[..., :2], -np.inf).max(axis=1)
    boxes = np.where(lab.any(axis=1)[:, None], np.concatenate([lo, hi - lo], axis=1), 0.0)

    order = range(n) if indices is None else indices
    samples = []
    for i in order:
        if i >= n:
            raise DataError(mat_path, "variable 'joints'", f"has {n} images, the split needs image {i + 1}")
        path = image_dir / f"im{i + 1:0{width}d}.jpg"
        if check_images:
            images.require(path, mat_path, record(i))
        person = Person(keypoints=kp[i].copy(), box=boxes[i].copy())
        samples.append(Sample(image_path=path, skeleton=LSP14, people=[person], image_id=i + 1))
    return samples


def load_lsp(root: str | Path, split: str | None = None, *, check_images: bool = True) -> list[Sample]:
    """LSP: ``root`` = the folder holding ``joints.mat`` and ``images/`` (or the .mat file).

    split: ``"train"`` (images 1-1000), ``"test"`` (1001-2000) or None (all). One Sample per image with
    one Person: (14, 3) keypoints, v = 1 for the file's occluded flag, else 2; box = tight box of the
    joints (LSP has no box); image_id = the 1-based image number.
    """
    check_split("lsp", split, ("train", "test", None))
    indices = {"train": np.arange(0, 1000), "test": np.arange(1000, 2000), None: None}[split]
    return _load("lsp", root, indices, check_images)


def load_lspet(root: str | Path, split: str | None = None, *, check_images: bool = True) -> list[Sample]:
    """LSP Extended: ``root`` = the folder holding ``joints.mat`` and ``images/`` (or the .mat file).

    split: ``"train"`` or None (the same: LSPet is training data only). One Sample per image with one
    Person: v = 2 where the file's flag is 1, v = 0 (x = y = 0) where it is 0 -- those joints were not
    labelled (module docstring); image_id = the 1-based image number.
    """
    check_split("lspet", split, ("train", None))
    return _load("lspet", root, None, check_images)
