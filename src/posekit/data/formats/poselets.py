"""Poselets / H3D keypoint annotations (Bourdev & Malik ICCV 2009; Bourdev, Maji & Malik): PASCAL
person XML, one file per person instance::

    <annotation>
      <image>2008_000008</image> <category>person</category> <subcategory>Male</subcategory>
      <visible_bounds xmin="158.00" ymin="44.00" width="131.00" height="123.00"/>
      <keypoints> <keypoint name="L_Shoulder" visible="1" x="219.42" y="69.23" z="43.60" zorder="0"/> ...

Skeleton :data:`~posekit.skeletons.H3D20`. Names map ``L_<Part>`` -> ``left_<part>``, ``R_<Part>`` ->
``right_<part>``, ``B_Head`` -> ``back_head``, ``Nose`` -> ``nose``; an unknown name is a DataError.
visible="1" -> v = 2, visible="0" -> v = 1 (labelled, occluded); a keypoint the file does not list ->
v = 0. box = ``visible_bounds`` (x, y, w, h), else the tight keypoint box. ``extra`` keeps the file stem
(``"annotation"``), ``subcategory`` and the puppet depth ``z`` per joint (NaN where not labelled).

Images are NOT part of these annotation files (the PASCAL VOC 2011 images come separately, and none
are at hand for the fixtures), so by default they are not required: ``image_path`` =
``<xml folder>/../JPEGImages/<image>.jpg`` (the VOC layout), or ``image_dir/<image>.jpg`` when given;
pass ``check_images=True`` to require them. People of the same image are grouped into one Sample
(image_id = the image name), in file-name order. ``root``: the folder holding ``person/``, the
``person/`` folder itself, or one .xml file. There are no splits (``split`` must be None).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from posekit.data.errors import DataError
from posekit.data.formats import ImageIndex, check_split, make_person
from posekit.skeletons import H3D20
from posekit.types import Person, Sample

_SIDES = {"L": "left", "R": "right", "B": "back"}


def joint_name(name: str) -> str:
    """H3D keypoint name -> posekit joint name (``L_Shoulder`` -> ``left_shoulder``)."""
    side, sep, part = name.partition("_")
    if sep and side in _SIDES:
        return f"{_SIDES[side]}_{part.lower()}"
    return name.lower()


def _xml_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise FileNotFoundError(f"poselets: no such file or folder {root}")
    folder = root / "person" if (root / "person").is_dir() else root
    files = sorted(folder.glob("*.xml"))
    if not files:
        raise FileNotFoundError(f"poselets: no .xml files in {folder}")
    return files


def _float(path: Path, record: str, el: ET.Element, attr: str) -> float:
    raw = el.get(attr)
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise DataError(path, record, f"attribute {attr}={raw!r} is not a number") from None
    if not np.isfinite(value):
        raise DataError(path, record, f"attribute {attr}={raw!r} is not finite (NaN coordinates)")
    return value


def read_person(path: Path) -> tuple[str, Person]:
    """One XML file -> (image name, Person)."""
    try:
        tree = ET.parse(path)
    except ET.ParseError as e:
        line, col = e.position
        raise DataError(path, f"line {line} column {col}", f"malformed XML ({e})") from None
    ann = tree.getroot()
    image = (ann.findtext("image") or "").strip()
    if not image:
        raise DataError(path, "<image>", "missing or empty")
    kp = np.zeros((H3D20.num_joints, 3))
    z = np.full(H3D20.num_joints, np.nan)
    for el in ann.iter("keypoint"):
        raw_name = el.get("name", "")
        rec = f"keypoint {raw_name!r}"
        name = joint_name(raw_name)
        if name not in H3D20.joints:
            raise DataError(path, rec, f"not an H3D keypoint (known: {list(H3D20.joints)})")
        j = H3D20.joints.index(name)
        if kp[j, 2] > 0:
            raise DataError(path, rec, "listed twice")
        vis = el.get("visible")
        if vis not in ("0", "1"):
            raise DataError(path, rec, f"visible={vis!r}, expected '0' or '1'")
        kp[j] = (_float(path, rec, el, "x"), _float(path, rec, el, "y"), 2.0 if vis == "1" else 1.0)
        if el.get("z") is not None:
            z[j] = _float(path, rec, el, "z")
    box = None
    vb = ann.find("visible_bounds")
    if vb is not None:
        box = [_float(path, "<visible_bounds>", vb, a) for a in ("xmin", "ymin", "width", "height")]
    extra = {"annotation": path.stem, "subcategory": (ann.findtext("subcategory") or "").strip(), "z": z}
    return image, make_person(kp, box=box, extra=extra)


def load_poselets(root: str | Path, split: str | None = None, *, check_images: bool = False,
                  image_dir: str | Path | None = None) -> list[Sample]:
    """PASCAL person XML with H3D keypoints -> Samples (see the module docstring)."""
    check_split("poselets", split, (None,))
    files = _xml_files(Path(root))
    images = ImageIndex()
    by_image: dict[str, Sample] = {}
    for f in files:
        name, person = read_person(f)
        if name not in by_image:
            folder = Path(image_dir) if image_dir is not None else f.parent.parent / "JPEGImages"
            path = folder / f"{name}.jpg"
            if check_images:
                images.require(path, f, f"<image> {name}")
            by_image[name] = Sample(image_path=path, skeleton=H3D20, people=[], image_id=name)
        by_image[name].people.append(person)
    return list(by_image.values())
