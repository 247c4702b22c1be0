"""Composed multi-person scenes: people cut from single-person images and pasted on real backgrounds.

There is no sizeable real multi-person keypoint set within reach, so multi-person training and test
scenes are composed (PROTOCOLS.md, "Multi-person"). A scene is a pure function of (people pool,
background pool, number of people N, overlap, seed): the same arguments give the same pixels and labels.

How a person is cut out: :func:`~posekit.data.silhouette.body_mask` (:mod:`posekit.data.silhouette`).
The pasted pixels are the source image times that mask.

Labels follow the pasted pixels: keypoints are moved by the same affine matrix as the image; a joint
that lands under a person pasted later (mask > 0.5 there) becomes occluded (v = 1, label kept); a joint
outside the scene becomes unlabelled (v = 0, as COCO does). The person's ``box`` is the extent of
their pasted silhouette (mask > 0.5) clipped to the scene, the analogue of COCO's ``bbox``.

Overlap: ``"low"`` keeps every pair of people's boxes at IoU <= 0.1 where it can; ``"high"`` places
each new person so that it overlaps an earlier one with IoU in [0.2, 0.6] (rejection sampling, 50
tries, then the closest try is kept).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from posekit.data.dataset import read_image
from posekit.data.silhouette import body_mask, extent_box
from posekit.data.transforms import apply_affine
from posekit.skeletons import Skeleton
from posekit.types import Person, Sample

__all__ = ["OVERLAPS", "Scene", "SceneComposer", "read_backgrounds"]

#: overlap level -> (min IoU with some earlier person, max IoU with every earlier person)
OVERLAPS: dict[str, tuple[float, float]] = {"low": (0.0, 0.1), "high": (0.2, 0.6)}

BACKGROUND_SUFFIXES = (".jpg", ".jpeg", ".png")


def read_backgrounds(folder: str | Path) -> list[Path]:
    """Sorted image files of a backgrounds folder (person-free scene photos)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"backgrounds folder not found: {folder}")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in BACKGROUND_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no background images (.jpg/.png) in {folder}")
    return files


@dataclass
class Scene:
    """A composed image and its labels.

    image: uint8 (H, W, 3) BGR.
    people: one :class:`~posekit.types.Person` per pasted person, in pasting order (later ones in front):
        keypoints (K, 3) in scene pixels (v: 2 visible, 1 occluded by a later person or in the source,
        0 unlabelled or outside the scene), box = silhouette extent, area = box w x h,
        ``extra["source"]`` = (source image path, person index) and ``extra["visible_fraction"]`` = the
        share of the person's silhouette left uncovered.
    background: the background file; spec: (num_people, overlap, seed).
    """

    image: np.ndarray
    people: list[Person]
    background: Path
    spec: tuple[int, str, int]
    masks: list[np.ndarray] = field(default_factory=list, repr=False)

    def as_sample(self, image_path: Path | str, skeleton: Skeleton, image_id=None) -> Sample:
        """The scene as a :class:`~posekit.types.Sample` whose image is (to be) saved at ``image_path``."""
        return Sample(Path(image_path), skeleton, self.people, image_id=image_id,
                      image_size=(self.image.shape[1], self.image.shape[0]))


class SceneComposer:
    """Deterministic scene generator over a pool of people and a pool of backgrounds.

    people: single-person (or any) samples; every non-crowd person with at least ``min_joints``
        labelled joints is a candidate. All must share one skeleton.
    backgrounds: background image files (:func:`read_backgrounds`).
    size: (W, H) of the scenes in pixels.
    height_range: a pasted person's extent height as a fraction of the scene height, drawn log-uniformly
        for N = 1 and shrunk by N ** -0.35 for N > 1 (more people, smaller people, as in real crowds).
    truncate_prob: chance that a person is placed partly outside the scene (truncated people exist in
        users' photos).
    flip_prob: chance of mirroring a person (left/right labels swapped with the skeleton's flip pairs).
    """

    def __init__(self, people: list[Sample], backgrounds: list[Path], size: tuple[int, int] = (640, 480),
                 height_range: tuple[float, float] = (0.3, 0.95), truncate_prob: float = 0.1,
                 flip_prob: float = 0.5, min_joints: int = 8) -> None:
        if not backgrounds:
            raise ValueError("SceneComposer needs at least one background image")
        skeletons = {s.skeleton.name for s in people}
        if len(skeletons) != 1:
            raise ValueError(f"people must share one skeleton, got {sorted(skeletons)}")
        self.skeleton = people[0].skeleton
        self.pool = [(s, i) for s in people for i, p in enumerate(s.people)
                     if not p.is_crowd and p.num_labelled >= min_joints]
        if not self.pool:
            raise ValueError(f"no person with >= {min_joints} labelled joints among {len(people)} samples")
        self.backgrounds = list(backgrounds)
        self.size = (int(size[0]), int(size[1]))
        self.height_range = height_range
        self.truncate_prob = truncate_prob
        self.flip_prob = flip_prob
        self._bg_cache: dict[Path, np.ndarray] = {}

    # ------------------------------------------------------------------------------------- pieces
    def background(self, rng: np.random.Generator) -> tuple[np.ndarray, Path]:
        """A random crop of a random background, resized to the scene size (and maybe mirrored)."""
        path = self.backgrounds[int(rng.integers(len(self.backgrounds)))]
        if path not in self._bg_cache:
            if len(self._bg_cache) > 200:
                self._bg_cache.clear()
            self._bg_cache[path] = read_image(path)
        bg = self._bg_cache[path]
        W, H = self.size
        h0, w0 = bg.shape[:2]
        s = max(W / w0, H / h0) * rng.uniform(1.0, 1.4)  # cover the scene, then zoom in a little
        cw, ch = W / s, H / s
        x0 = rng.uniform(0, max(0.0, w0 - cw))
        y0 = rng.uniform(0, max(0.0, h0 - ch))
        M = np.array([[s, 0, -x0 * s], [0, s, -y0 * s]])
        out = cv2.warpAffine(bg, M, (W, H), flags=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REFLECT)
        if rng.random() < 0.5:
            out = np.ascontiguousarray(out[:, ::-1])
        return out, path

    def _placement(self, rng: np.random.Generator, src_box: np.ndarray, n: int, boxes: list[np.ndarray],
                   overlap: str) -> tuple[float, np.ndarray]:
        """(scale, offset) mapping the source extent box into the scene, honouring the overlap level."""
        W, H = self.size
        lo, hi = self.height_range
        shrink = n ** -0.35 if n > 1 else 1.0
        height = H * math.exp(rng.uniform(math.log(lo), math.log(hi))) * shrink
        s = height / max(src_box[3], 1.0)
        w, h = src_box[2] * s, src_box[3] * s
        min_iou, max_iou = OVERLAPS[overlap]
        truncate = rng.random() < self.truncate_prob
        best, best_err = None, math.inf
        for _ in range(50):
            if truncate:  # up to 40 % of the box outside the scene
                x = rng.uniform(-0.4 * w, W - 0.6 * w)
                y = rng.uniform(-0.2 * h, H - 0.6 * h)
            else:
                x = rng.uniform(0, max(0.0, W - w))
                y = rng.uniform(0, max(0.0, H - h))
            cand = np.array([x, y, w, h])
            ious = [_iou(cand, b) for b in boxes]
            err = 0.0
            if ious:
                err += max(0.0, max(ious) - max_iou)
                if min_iou > 0:
                    err += max(0.0, min_iou - max(ious))
            if err < best_err:
                best, best_err = cand, err
            if err == 0:
                break
        assert best is not None
        return s, best[:2] - src_box[:2] * s

    # ---------------------------------------------------------------------------------- the scene
    def compose(self, num_people: int, overlap: str = "low", seed: int = 0) -> Scene:
        """Scene (num_people, overlap, seed); num_people may be 0 (a person-free background)."""
        if overlap not in OVERLAPS:
            raise ValueError(f"overlap must be one of {sorted(OVERLAPS)}, got {overlap!r}")
        if num_people < 0:
            raise ValueError(f"num_people must be >= 0, got {num_people}")
        rng = np.random.default_rng([int(seed), int(num_people), sorted(OVERLAPS).index(overlap), 20261128])
        canvas, bg_path = self.background(rng)
        canvas = canvas.astype(np.float32)
        W, H = self.size
        picks = rng.choice(len(self.pool), size=num_people, replace=len(self.pool) < num_people)
        placed: list[tuple[np.ndarray, np.ndarray, tuple]] = []  # (keypoints, mask, source)
        boxes: list[np.ndarray] = []
        flip_index = self.skeleton.flip_index
        for k in picks:
            sample, pi = self.pool[int(k)]
            src = read_image(sample.image_path)
            kp = sample.people[pi].keypoints.astype(np.float64)
            src_box = extent_box(kp, self.skeleton)
            s, t = self._placement(rng, src_box, num_people, boxes, overlap)
            M = np.array([[s, 0, t[0]], [0, s, t[1]]])
            flip = rng.random() < self.flip_prob
            if flip:  # mirror about the placed box's vertical centre line
                cx = t[0] + s * (src_box[0] + src_box[2] / 2)
                M = np.array([[-1.0, 0, 2 * cx], [0, 1, 0]]) @ np.vstack([M, [0, 0, 1]])
            src_mask = body_mask(kp, self.skeleton, src.shape[:2])
            interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
            warped = cv2.warpAffine(src, M, (W, H), flags=interp).astype(np.float32)
            mask = cv2.warpAffine(src_mask, M, (W, H), flags=cv2.INTER_LINEAR)
            canvas = canvas * (1 - mask[..., None]) + warped * mask[..., None]
            out_kp = kp.copy()
            out_kp[:, :2] = apply_affine(kp[:, :2], M)
            if flip:
                out_kp = out_kp[flip_index]
            out_kp[out_kp[:, 2] <= 0] = 0.0
            placed.append((out_kp, mask, (str(sample.image_path), pi)))
            boxes.append(_mask_box(mask))
        people = []
        masks = []
        for i, (kp, mask, source) in enumerate(placed):
            kp = kp.copy()
            front = np.zeros((H, W), dtype=np.float32)
            for _, later, _ in placed[i + 1:]:
                front = np.maximum(front, later)
            xi = np.clip(np.round(kp[:, 0]).astype(int), 0, W - 1)
            yi = np.clip(np.round(kp[:, 1]).astype(int), 0, H - 1)
            covered = (front[yi, xi] > 0.5) & (kp[:, 2] > 0)
            kp[covered, 2] = 1.0
            outside = (kp[:, 0] < -0.5) | (kp[:, 0] >= W - 0.5) | (kp[:, 1] < -0.5) | (kp[:, 1] >= H - 0.5)
            kp[outside] = 0.0
            visible_mask = mask * (1 - front)
            total = float((mask > 0.5).sum())
            box = _mask_box(mask)
            people.append(Person(keypoints=kp, box=box, area=float(box[2] * box[3]),
                                 extra={"source": source,
                                        "visible_fraction": float((visible_mask > 0.5).sum()) / max(total, 1.0)}))
            masks.append(mask)
        image = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
        return Scene(image=image, people=people, background=bg_path, spec=(num_people, overlap, int(seed)),
                     masks=masks)


def _mask_box(mask: np.ndarray) -> np.ndarray:
    """(x, y, w, h) covering the pixels where ``mask`` > 0.5, to their outer edges (pixel centres are
    integers, so a pixel spans +-0.5); zeros if none."""
    ys, xs = np.nonzero(mask > 0.5)
    if len(xs) == 0:
        return np.zeros(4)
    return np.array([xs.min() - 0.5, ys.min() - 0.5, xs.max() - xs.min() + 1, ys.max() - ys.min() + 1],
                    dtype=np.float64)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two (x, y, w, h) boxes."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0
