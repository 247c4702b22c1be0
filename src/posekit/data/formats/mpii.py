"""MPII Human Pose (Andriluka et al. CVPR 2014): the official .mat and the two common conversions.

Joint order :data:`~posekit.skeletons.MPII16` (0 R ankle ... 6 pelvis, 7 thorax, 8 upper neck, 9 head top,
10 R wrist ... 15 L wrist). ``root`` is a file or a folder; the file kind decides how it is read:

* **official** ``mpii_human_pose_v1_u12_1.mat`` (the ``RELEASE`` struct): ``annolist(i).image.name``;
  ``annolist(i).annorect(r)`` with head box ``x1, y1, x2, y2``, ``objpos``, ``scale`` and
  ``annopoints.point(j)`` = ``id, x, y, is_visible``; ``img_train(i)`` picks the split (``"train"`` =
  1, ``"test"`` = 0, None = all). v = 2 for ``is_visible`` 1, v = 1 for 0 (occluded), v = 2 when the
  flag is empty (pose-hg-train's reading), v = 0 for a point the rectangle does not list.
  head_size = 0.6 x ||head-box diagonal|| (PROTOCOLS.md, SC_BIAS = 0.6). Every rectangle is kept, also
  those without points (test images; their people have no labelled joint). Images are looked up in
  ``images/`` beside the .mat, the .mat's own folder, or ``../images``.
* **h5** (``valid.h5`` of pose-hg-train, the Tompson validation split, 2,958 people): ``part`` (N, 16, 2),
  ``visible`` (N, 16), ``center``, ``scale``, ``normalize``, ``imgname``. The file stores is_visible, so
  v = 2 for visible 1; for visible 0 the joint is occluded (v = 1) unless its coordinates are (0, 0)
  (how pose-hg-train writes a joint the annotation lacks; 3,088 joints here), (-1, -1) or NaN (v = 0).
  ``normalize`` IS the PCKh head size already, 0.6 x ||head-box diagonal|| (pose-hg-train
  ``misc/mpii.py``: ``np.linalg.norm(diff) * .6`` on int-truncated box corners); it is not the bare
  diagonal: normalize / ||head top - upper neck|| lies in [0.62, 0.80] over the file, and head top and
  upper neck lie inside the head box, so the bare diagonal would give a ratio >= 1. head_size =
  ``normalize``. The converter also truncated the part coordinates to integers (head top and upper
  neck differ from the JSON's by < 1 px) and stored a crop-ready ``center``/``scale``: compared with
  the official objpos/scale (the JSON's), ``center_y`` is moved down by 15 x scale and ``scale`` is x 1.25.
  IMAGES ARE NOT REQUIRED to exist for this kind (the split's images are usually not all at hand:
  here only 5 of 2,729 are); ``image_path`` still points where they would be.
* **json** (the HRNet / MMPose conversion, a list of ``{image, joints, joints_vis, center, scale}``):
  ``joints_vis`` marks *labelled* joints (it is 1 for the occluded wrists the h5 flags 0), so v = 2
  where it is 1 (visibility unknown: treated as visible) and v = 0 elsewhere (coordinates -1). No head
  box, so head_size is None. ``joints`` may be absent (HRNet's test.json): no labelled joint.

* **csv** (the single-person table ``mpii_human_pose.csv`` of public MPII mirrors: columns ``NAME``,
  ``<joint>_X`` / ``<joint>_Y`` for the 16 joints in MPII order, -1 = missing, ``Scale``, ``Activity``):
  one annotated person per row (other people in the photo are NOT annotated); no visibility flag, so
  v = 2 for every present joint; no head box (head_size None), no ``objpos``. Rows whose image is
  absent are a DataError unless ``check_images=False``.

``center`` and ``scale`` (person height / 200 px) go to ``person.extra`` as the file stores them.

Split for a folder: ``"valid"`` -> ``valid.h5`` (else ``mpii_val.json``, ``valid.json``...), ``"test"`` ->
``test.h5`` / ``test_mpii.json`` / ``mpii_test.json`` / ``test.json``, ``"train"`` likewise, falling back
to the official .mat (filtered by ``img_train``) for ``"train"``/``"test"``; None -> the official .mat if
present, else ``valid.h5``. The folder itself, ``annot/`` and ``annotations/`` are searched. For a single
h5/JSON file the file is the split (``split`` must be None or appear in its name).

Coordinates are kept as stored: they are 0-based pixel centres. MPII was annotated in MATLAB and
HRNet/MMPose subtract 1 as if it were 1-based; ``benchmarks/coordinate_origin.py`` measured it instead (a
flip-trained network leaves bias_x - bias_y = -1 px for 1-based labels, 0 for 0-based): +0.09 +- 0.17 px
over the shipped network's 12,902 MPII training-photo joints, i.e. 0-based; ``valid.h5`` carries the same
numbers as that training csv (1,810 shared people, 87 % of joints identical, none off by one), so it is
0-based too (``benchmarks/coordinate_origin.json``).
Samples group people by image name (first appearance order); image_id = the image file name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from posekit.data.errors import DataError
from posekit.data.formats import ImageIndex, first_index, make_person, read_json, read_mat
from posekit.skeletons import MPII16
from posekit.types import Person, Sample

K = 16
OFFICIAL_NAME = "mpii_human_pose_v1_u12_1.mat"
SC_BIAS = 0.6  # PCKh head size = 0.6 x head-box diagonal
SPLIT_FILES = {
    "train": ("train.h5", "mpii_train.json", "train_mpii.json", "train.json"),
    "valid": ("valid.h5", "val.h5", "mpii_val.json", "mpii_valid.json", "valid_mpii.json", "val_mpii.json",
              "valid.json", "val.json"),
    "test": ("test.h5", "mpii_test.json", "test_mpii.json", "test.json"),
}


# ----------------------------------------------------------------------------------------- dispatch
def load_mpii(root: str | Path, split: str | None = None, *, check_images: bool = True) -> list[Sample]:
    """MPII from a folder or one file (official .mat, .h5, .json); see the module docstring for the
    split rules and what each kind provides. ``check_images=False`` skips the image existence check
    (the h5 kind never requires images)."""
    root = Path(root)
    if split not in (None, "train", "valid", "test"):
        raise ValueError(f"mpii: unknown split {split!r}; known: ['train', 'valid', 'test', None]")
    if root.is_dir():
        path = _pick_file(root, split)
    elif root.is_file():
        path = root
        stem = path.stem.lower()
        if path.suffix.lower() != ".mat" and split is not None and split[:3] not in stem:
            raise ValueError(f"mpii: {path.name} is one split file; split {split!r} does not name it "
                             "(pass split=None, or the folder)")
    else:
        raise FileNotFoundError(f"mpii: no such file or folder {root}")
    suffix = path.suffix.lower()
    if suffix == ".mat":
        if split == "valid":
            raise ValueError("mpii: the official .mat has splits 'train' and 'test' (img_train); the "
                             "'valid' split (Tompson) comes from valid.h5 or a JSON conversion")
        return _load_official(path, split, check_images)
    if suffix in (".h5", ".hdf5"):
        return _load_h5(path)
    if suffix == ".json":
        return _load_json(path, check_images)
    if suffix == ".csv":
        return _load_csv(path, check_images)
    raise ValueError(f"mpii: cannot tell the kind of {path} (expected .mat, .h5, .json or .csv)")


def _pick_file(folder: Path, split: str | None) -> Path:
    dirs = [d for d in (folder, folder / "annot", folder / "annotations") if d.is_dir()]

    def first(names: tuple[str, ...]) -> Path | None:
        for d in dirs:
            for n in names:
                if (d / n).is_file():
                    return d / n
        return None

    official = first((OFFICIAL_NAME,))
    if split is None:
        found = official or first(SPLIT_FILES["valid"])
        tried = (OFFICIAL_NAME,) + SPLIT_FILES["valid"]
    else:
        found = first(SPLIT_FILES[split]) or (official if split in ("train", "test") else None)
        tried = SPLIT_FILES[split] + ((OFFICIAL_NAME,) if split in ("train", "test") else ())
    if found is None:
        raise FileNotFoundError(f"mpii: no annotation file for split {split!r} in {[str(d) for d in dirs]}; "
                                f"looked for {list(tried)}")
    return found


def _image_dir(ann_path: Path, names: list[str], images: ImageIndex) -> Path:
    """The folder holding the images: ``images/`` beside the annotation, the annotation's folder, or
    ``../images`` -- the first that holds one of ``names``; else the first that exists."""
    base = ann_path.parent
    candidates = [base / "images", base, base.parent / "images", base.parent]
    for d in candidates:
        listing = images.names(d)
        if any(n in listing for n in names[:50]):
            return d
    for d in candidates:
        if d.is_dir() and d.name == "images":
            return d
    return base


def _group(ann_path: Path, rows: list[tuple[str, Person]], image_dir: Path, images: ImageIndex | None,
           record: list[str]) -> list[Sample]:
    """Samples grouping people by image name, in first-appearance order."""
    by_name: dict[str, Sample] = {}
    for (name, person), rec in zip(rows, record, strict=True):
        if name not in by_name:
            path = image_dir / name
            if images is not None:
                images.require(path, ann_path, rec)
            by_name[name] = Sample(image_path=path, skeleton=MPII16, people=[], image_id=name)
        by_name[name].people.append(person)
    return list(by_name.values())


# ----------------------------------------------------------------------------------------- official
def _items(x: Any) -> list[Any]:
    """A MATLAB struct array as a list (squeeze_me turns 1 element into a scalar, 0 into an empty array)."""
    if isinstance(x, np.ndarray):
        return list(x.ravel())
    return [x]


def _scalar(x: Any) -> Any:
    """None for MATLAB's empty ``[]``; else the value (strings stay strings)."""
    if x is None or (isinstance(x, np.ndarray) and x.size == 0):
        return None
    if isinstance(x, np.ndarray):
        return x.ravel()[0]
    return x


def _number(x: Any, path: Path, record: str, what: str) -> float | None:
    v = _scalar(x)
    if v is None:
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        raise DataError(path, record, f"{what} is {v!r}, not a number") from None


def _load_official(path: Path, split: str | None, check_images: bool) -> list[Sample]:
    mat = read_mat(path, struct_as_record=False, squeeze_me=True)
    if "RELEASE" not in mat:
        raise DataError(path, "variable 'RELEASE'", "missing: not the official MPII annotation file")
    release = mat["RELEASE"]
    if not hasattr(release, "annolist"):
        raise DataError(path, "RELEASE.annolist", "missing")
    annolist = _items(release.annolist)
    keep = np.ones(len(annolist), dtype=bool)
    if split is not None:
        if not hasattr(release, "img_train"):
            raise DataError(path, "RELEASE.img_train", f"missing, so split {split!r} cannot be selected")
        flags = np.atleast_1d(np.asarray(release.img_train, dtype=np.float64)).ravel()
        if flags.shape[0] != len(annolist):
            raise DataError(path, "RELEASE.img_train", f"{flags.shape[0]} flags for {len(annolist)} images")
        keep = flags == (1 if split == "train" else 0)

    entries: list[tuple[int, str, list[Person]]] = []
    for i, ann in enumerate(annolist):
        if not keep[i]:
            continue
        rec = f"annolist({i + 1})"
        try:
            name = str(_scalar(ann.image.name))
        except AttributeError:
            raise DataError(path, rec, "no image.name") from None
        people = [_official_person(r, path, f"{rec} ({name}) annorect({j + 1})")
                  for j, r in enumerate(_items(getattr(ann, "annorect", np.empty(0))))]
        for p in people:
            p.extra["annolist_index"] = i + 1
        entries.append((i, name, people))

    images = ImageIndex()
    image_dir = _image_dir(path, [e[1] for e in entries], images)
    samples = []
    for i, name, people in entries:
        img = image_dir / name
        if check_images:
            images.require(img, path, f"annolist({i + 1}) ({name})")
        samples.append(Sample(image_path=img, skeleton=MPII16, people=people, image_id=name))
    return samples


def _official_person(rect: Any, path: Path, rec: str) -> Person:
    kp = np.zeros((K, 3))
    ap = getattr(rect, "annopoints", None)
    if ap is not None and not isinstance(ap, np.ndarray):  # [] when the rectangle has no points
        for pt in _items(getattr(ap, "point", np.empty(0))):
            pid = _number(getattr(pt, "id", None), path, rec, "point id")
            if pid is None or not (0 <= pid < K) or pid != int(pid):
                raise DataError(path, rec, f"point id {pid!r} is not a joint index 0..15")
            j = int(pid)
            prec = f"{rec} point id {j} ({MPII16.joints[j]})"
            x = _number(getattr(pt, "x", None), path, prec, "x")
            y = _number(getattr(pt, "y", None), path, prec, "y")
            if x is None or y is None or not (np.isfinite(x) and np.isfinite(y)):
                raise DataError(path, prec, f"missing or non-finite coordinates ({x}, {y})")
            vis = _scalar(getattr(pt, "is_visible", None))
            if vis is None:
                v = 2.0  # empty flag: pose-hg-train reads it as visible
            else:
                try:
                    vis = int(float(vis))  # the release stores some flags as the strings '0' / '1'
                except (TypeError, ValueError):
                    raise DataError(path, prec, f"is_visible is {vis!r}") from None
                if vis not in (0, 1):
                    raise DataError(path, prec, f"is_visible is {vis}, expected 0 or 1")
                v = 2.0 if vis == 1 else 1.0
            kp[j] = (x, y, v)
    extra: dict[str, Any] = {}
    box = [_number(getattr(rect, k, None), path, rec, k) for k in ("x1", "y1", "x2", "y2")]
    head_size = None
    if all(b is not None for b in box):
        x1, y1, x2, y2 = box
        head_size = SC_BIAS * float(np.hypot(x2 - x1, y2 - y1))
        extra["head_box"] = np.array(box)
    objpos = getattr(rect, "objpos", None)
    if objpos is not None and not isinstance(objpos, np.ndarray):
        cx = _number(getattr(objpos, "x", None), path, rec, "objpos.x")
        cy = _number(getattr(objpos, "y", None), path, rec, "objpos.y")
        if cx is not None and cy is not None:
            extra["center"] = np.array([cx, cy])
    scale = _number(getattr(rect, "scale", None), path, rec, "scale")
    if scale is not None:
        extra["scale"] = scale
    return make_person(kp, head_size=head_size, extra=extra)


# --------------------------------------------------------------------------------------------- h5
def _load_h5(path: Path) -> list[Sample]:
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise DataError(path, "whole file", f"cannot read HDF5 file ({e})") from e
    with f:
        need = ("part", "visible", "center", "scale", "normalize", "imgname")
        missing = [k for k in need if k not in f]
        if missing:
            raise DataError(path, f"datasets {missing}", f"missing (the file has {sorted(f.keys())})")
        part = np.asarray(f["part"][()], dtype=np.float64)
        n = part.shape[0] if part.ndim else 0
        expect = {"part": (n, K, 2), "visible": (n, K), "center": (n, 2), "scale": (n,), "normalize": (n,),
                  "imgname": (n,)}
        data = {"part": part}
        for k in need[1:]:
            data[k] = f[k][()]
        for k in ("index", "person"):
            if k in f:
                data[k] = f[k][()]
    for k, shape in expect.items():
        if data[k].shape != shape:
            raise DataError(path, f"dataset {k!r}", f"shape {data[k].shape}, expected {shape}")
    names = [b.decode() if isinstance(b, bytes) else str(b) for b in data["imgname"]]
    visible = np.asarray(data["visible"], dtype=np.float64)
    bad = first_index(~np.isin(visible, (0.0, 1.0)))
    if bad is not None:
        raise DataError(path, f"row {bad[0]} ({names[bad[0]]}) joint {bad[1]} ({MPII16.joints[bad[1]]})",
                        f"visible is {visible[bad]:g}, expected 0 or 1")
    absent = (part == 0).all(-1) | (part == -1).all(-1) | ~np.isfinite(part).all(-1)
    v = np.where(visible == 1, 2.0, np.where(absent, 0.0, 1.0))
    bad = first_index(~np.isfinite(part).all(-1) & (v > 0))
    if bad is not None:
        raise DataError(path, f"row {bad[0]} ({names[bad[0]]}) joint {bad[1]} ({MPII16.joints[bad[1]]})",
                        "NaN coordinates")
    kp = np.concatenate([part, v[..., None]], axis=-1)
    center = np.asarray(data["center"], dtype=np.float64)
    scale = np.asarray(data["scale"], dtype=np.float64)
    normalize = np.asarray(data["normalize"], dtype=np.float64)
    rows, recs = [], []
    for i in range(n):
        extra: dict[str, Any] = {"center": center[i].copy(), "scale": float(scale[i])}
        for k in ("index", "person"):
            if k in data:
                extra[k] = int(data[k][i])
        hs = float(normalize[i]) if np.isfinite(normalize[i]) and normalize[i] > 0 else None
        rows.append((names[i], make_person(kp[i], head_size=hs, extra=extra)))
        recs.append(f"row {i} ({names[i]})")
    image_dir = _image_dir(path, names, ImageIndex())
    return _group(path, rows, image_dir, None, recs)


# ------------------------------------------------------------------------------------------- json
def _load_json(path: Path, check_images: bool) -> list[Sample]:
    data = read_json(path)
    if not isinstance(data, list):
        raise DataError(path, "whole file", f"expected a list of people, got {type(data).__name__}")
    rows, recs = [], []
    for i, entry in enumerate(data):
        rec = f"entry {i}"
        if not isinstance(entry, dict) or not isinstance(entry.get("image"), str):
            raise DataError(path, rec, "expected an object with an 'image' file name")
        name = entry["image"]
        rec = f"entry {i} ({name})"
        kp = np.zeros((K, 3))
        if "joints" in entry:
            try:
                joints = np.asarray(entry["joints"], dtype=np.float64)
                vis = np.asarray(entry.get("joints_vis", np.ones(K)), dtype=np.float64).reshape(-1)
            except (TypeError, ValueError) as e:
                raise DataError(path, rec, f"joints / joints_vis are not numeric arrays ({e})") from None
            if joints.shape != (K, 2) or vis.shape != (K,):
                raise DataError(path, rec, f"joints shape {joints.shape} / joints_vis shape {vis.shape}, "
                                           f"expected ({K}, 2) / ({K},)")
            lab = vis > 0
            bad = first_index(~np.isfinite(joints).all(-1) & lab)
            if bad is not None:
                raise DataError(path, f"{rec} joint {bad[0]} ({MPII16.joints[bad[0]]})", "NaN coordinates")
            kp[:, :2] = joints
            kp[:, 2] = np.where(lab, 2.0, 0.0)
        extra: dict[str, Any] = {}
        if "center" in entry:
            extra["center"] = np.asarray(entry["center"], dtype=np.float64)
        if "scale" in entry:
            extra["scale"] = float(entry["scale"])
        rows.append((name, make_person(kp, extra=extra)))
        recs.append(rec)
    images = ImageIndex()
    image_dir = _image_dir(path, [r[0] for r in rows], images)
    return _group(path, rows, image_dir, images if check_images else None, recs)


# -------------------------------------------------------------------------------------------- csv
_CSV_JOINTS = ("r ankle", "r knee", "r hip", "l hip", "l knee", "l ankle", "pelvis", "thorax", "upper neck",
               "head top", "r wrist", "r elbow", "r shoulder", "l shoulder", "l elbow", "l wrist")


def _load_csv(path: Path, check_images: bool) -> list[Sample]:
    import csv

    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        columns = set(reader.fieldnames or ())
        need = {"NAME"} | {f"{j}_{a}" for j in _CSV_JOINTS for a in "XY"}
        missing = sorted(need - columns)
        if missing:
            raise DataError(path, "header", f"missing columns {missing[:4]}")
        rows, recs = [], []
        for i, row in enumerate(reader):
            rec = f"row {i + 2} ({row['NAME']})"
            try:
                xy = np.array([[float(row[f"{j}_X"]), float(row[f"{j}_Y"])] for j in _CSV_JOINTS])
                scale = float(row["Scale"]) if row.get("Scale") not in (None, "") else None
            except ValueError as e:
                raise DataError(path, rec, f"not a number: {e}") from None
            present = ~((xy == -1).all(1)) & np.isfinite(xy).all(1)
            kp = np.concatenate([np.where(present[:, None], xy, 0.0), 2.0 * present[:, None]], axis=1)
            extra: dict[str, Any] = {"activity": row.get("Activity")}
            if scale is not None:
                extra["scale"] = scale
            rows.append((row["NAME"], make_person(kp, extra=extra)))
            recs.append(rec)
    images = ImageIndex()
    image_dir = _image_dir(path, [n for n, _ in rows], images)
    return _group(path, rows, image_dir, images if check_images else None, recs)
