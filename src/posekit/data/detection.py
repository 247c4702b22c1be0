"""DetectionDataset: whole images with every person's box, for the person detector.

Three kinds of item, mixed in one index space:

* real photos whose people have annotated boxes (COCO ``bbox``; crowd regions become ignore regions);
* real single-person images without boxes (LSP, LSPet): the box is the person's extent estimated from
  their keypoints (:func:`posekit.data.silhouette.extent_box`) -- these images may hold other, unlabelled
  people in the background, a known source of label noise;
* real photos where only some people are annotated (MPII: one or two people of a crowded photo): their
  keypoint-extent boxes are targets, and only the surroundings of those people (the box grown
  :data:`PARTIAL_CONTEXT` times about its centre) teach "no person here"; the rest of the photo may hold
  unlabelled people and is ignored;
* composed scenes (:class:`~posekit.data.compose.SceneComposer`) with 0..``max_people`` people: 0 gives a
  person-free background, the negatives that teach the detector not to fire on posts, verges and road.

Each image is letterboxed into the ``input_size`` = (W, H) network input: scaled to fit, then (in
training) rescaled by a log-uniform factor, shifted, mirrored and colour-jittered; the uncovered
border is filled with the ImageNet mean colour (zero after normalisation), as at inference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from posekit.codecs.boxes import CenterBoxCodec
from posekit.data.compose import OVERLAPS, SceneComposer
from posekit.data.dataset import read_image
from posekit.data.silhouette import extent_box
from posekit.data.transforms import photometric_jitter
from posekit.preprocess import letterbox, letterbox_matrix, normalize_image
from posekit.types import Sample

__all__ = ["DetectionDataset", "sample_boxes",
           "transform_boxes"]

#: partially annotated photos: negatives are learnt only inside each annotated box grown this much
PARTIAL_CONTEXT = 1.5
#: number of people in a training scene -> relative frequency (0 = person-free negative)
SCENE_PEOPLE = {0: 0.15, 1: 0.2, 2: 0.2, 3: 0.15, 4: 0.1, 6: 0.1, 8: 0.06, 12: 0.04}


def sample_boxes(sample: Sample, annotated_boxes: bool) -> tuple[np.ndarray, np.ndarray]:
    """(people boxes (N, 4), ignore regions (M, 4)) of a sample in image pixels (x, y, w, h):
    ``annotated_boxes`` uses each person's own box (COCO), otherwise their keypoint extent; crowd
    regions are ignore regions."""
    boxes, ignore = [], []
    for p in sample.people:
        if p.is_crowd:
            ignore.append(np.asarray(p.box, dtype=np.float64))
            continue
        box = np.asarray(p.box, dtype=np.float64) if annotated_boxes else extent_box(p.keypoints, sample.skeleton)
        if box[2] > 1 and box[3] > 1:
            boxes.append(box)
    return np.array(boxes).reshape(-1, 4), np.array(ignore).reshape(-1, 4)


def transform_boxes(boxes: np.ndarray, M: np.ndarray, input_size: Sequence[float]) -> np.ndarray:
    """Axis-aligned (N, 4) boxes through a scale/shift/mirror matrix (box edges move like points, as
    every coordinate in posekit), clipped to the input [-0.5, W - 0.5] x [-0.5, H - 0.5]."""
    if len(boxes) == 0:
        return boxes.reshape(0, 4)
    xa = M[0, 0] * boxes[:, 0] + M[0, 2]
    xb = M[0, 0] * (boxes[:, 0] + boxes[:, 2]) + M[0, 2]
    ya = M[1, 1] * boxes[:, 1] + M[1, 2]
    yb = M[1, 1] * (boxes[:, 1] + boxes[:, 3]) + M[1, 2]
    W, H = input_size
    lx, hx = np.clip(np.minimum(xa, xb), -0.5, W - 0.5), np.clip(np.maximum(xa, xb), -0.5, W - 0.5)
    ly, hy = np.clip(np.minimum(ya, yb), -0.5, H - 0.5), np.clip(np.maximum(ya, yb), -0.5, H - 0.5)
    return np.stack([lx, ly, hx - lx, hy - ly], axis=1)


class DetectionDataset(Dataset):
    """Images + person boxes for :class:`~posekit.models.centernet.CenterNet`.

    codec: the detector's :class:`CenterBoxCodec` (its ``input_size`` is the network input).
    annotated: samples whose ``Person.box`` is the person's extent (COCO); keypoint_only: samples whose
        boxes come from the keypoints (LSP, LSPet); partial: like keypoint_only, but other people of the
        photo may be unannotated (MPII), so negatives are learnt only around the annotated people.
    composer: scene generator (None = no composed scenes); num_scenes: scene items per epoch.
    augment: training augmentation (scale, shift, mirror, colour); False = plain letterbox, and scene
        ``i`` is always the same scene.
    scale_range: letterbox rescaling factor range in training (log-uniform).

    Item: {"image": (3, H, W) float32, every key of ``codec.encode`` as tensors, "boxes": not included
    (variable length; :meth:`boxes` gives an item's input-pixel boxes for evaluation)}.
    """

    def __init__(self, codec: CenterBoxCodec, annotated: Sequence[Sample] = (), keypoint_only: Sequence[Sample] = (),
                 composer: SceneComposer | None = None, num_scenes: int = 0, augment: bool = True,
                 scale_range: tuple[float, float] = (0.5, 1.3), partial: Sequence[Sample] = ()) -> None:
        self.codec = codec
        self.real = ([(s, "annotated") for s in annotated] + [(s, "keypoints") for s in keypoint_only]
                     + [(s, "partial") for s in partial])
        self.composer = composer
        self.num_scenes = int(num_scenes) if composer is not None else 0
        self.augment = bool(augment)
        self.scale_range = scale_range
        self._people = np.array(list(SCENE_PEOPLE))
        self._freq = np.array(list(SCENE_PEOPLE.values()))
        self._freq = self._freq / self._freq.sum()

    def __len__(self) -> int:
        return len(self.real) + self.num_scenes

    def source(self, index: int, rng: np.random.Generator | None = None) -> tuple[np.ndarray, Sample, str]:
        """(image uint8 BGR, its sample (people in image pixels), kind) of an item before letterboxing; kind is
        "annotated", "keypoints" or "partial" for a real photo (see the class docstring) and "scene" for a
        composed scene (drawn with ``rng``; None = scene ``index`` is always the same)."""
        if index < len(self.real):
            sample, kind = self.real[index]
            return read_image(sample.image_path), sample, kind
        assert self.composer is not None
        if rng is None:  # evaluation: scene i is fixed
            rng = np.random.default_rng([index, 7])
        n = int(rng.choice(self._people, p=self._freq))
        overlap = sorted(OVERLAPS)[int(rng.integers(len(OVERLAPS)))]
        scene = self.composer.compose(n, overlap, seed=int(rng.integers(2**31)))
        return scene.image, scene.as_sample(f"scene-{index}", self.composer.skeleton), "scene"

    def raw(self, index: int, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(image uint8 BGR, people boxes (N, 4), ignore regions (M, 4)) of an item before letterboxing."""
        image, sample, kind = self.source(index, rng)
        if kind == "scene":  # a composed person's box is the extent of their pasted silhouette
            boxes = np.array([p.box for p in sample.people if p.box[2] > 1 and p.box[3] > 1]).reshape(-1, 4)
            return image, boxes, np.zeros((0, 4))
        boxes, ignore = sample_boxes(sample, kind == "annotated")
        return image, boxes, ignore

    @staticmethod
    def photometric(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Training colour augmentation of a letterboxed input (uint8 BGR): brightness, contrast and
        saturation jitter, and 10 % of inputs made grey (colour must not be what finds a person)."""
        x = photometric_jitter(x, rng, 0.3, 0.3, 0.3)
        if rng.random() < 0.1:
            x = cv2.cvtColor(cv2.cvtColor(x, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        return x

    def get(self, index: int, rng: np.random.Generator | None = None) -> dict:
        """Item ``index``; ``rng`` draws the augmentation (None with ``augment=False``: deterministic)."""
        if index < 0:
            index += len(self)
        if self.augment and rng is None:
            rng = np.random.default_rng()
        image, boxes, ignore = self.raw(index, rng if self.augment else None)
        M = self._matrix(image.shape[1::-1], rng if self.augment else None)
        W, H = self.codec.input_size
        x = letterbox(image, M, (W, H))
        if self.augment:
            x = self.photometric(x, rng)
        in_boxes = transform_boxes(boxes, M, (W, H))
        # a person cut to under 30 % of their box by the input's edge is not a target (an ignore region)
        area_full = M[0, 0] ** 2 * boxes[:, 2] * boxes[:, 3]
        kept = in_boxes[:, 2] * in_boxes[:, 3] >= 0.3 * np.maximum(area_full, 1e-6)
        targets = self.codec.encode(in_boxes[kept], np.concatenate([transform_boxes(ignore, M, (W, H)),
                                                                   in_boxes[~kept]]))
        if index < len(self.real) and self.real[index][1] == "partial":
            targets["ignore"] = _outside_context(in_boxes[kept], self.codec, targets)
        item = {"image": normalize_image(x), "index": index}
        item.update({k: torch.from_numpy(v) for k, v in targets.items()})
        return item

    def __getitem__(self, index: int) -> dict:
        return self.get(index)

    def _matrix(self, image_size: Sequence[int], rng: np.random.Generator | None) -> np.ndarray:
        if rng is None:
            return letterbox_matrix(image_size, self.codec.input_size)
        lo, hi = self.scale_range
        scale = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        W, H = self.codec.input_size
        s = min(W / image_size[0], H / image_size[1]) * scale
        # free room (or overhang) along each axis, shifted anywhere within it, plus a little
        room = np.abs(np.array([W - image_size[0] * s, H - image_size[1] * s])) / 2
        shift = rng.uniform(-room - 0.1 * np.array([W, H]), room + 0.1 * np.array([W, H]))
        return letterbox_matrix(image_size, self.codec.input_size, scale, shift, flip=bool(rng.random() < 0.5))

    def boxes(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Evaluation: (people boxes, ignore regions) of item ``index`` in input pixels (no augmentation)."""
        image, boxes, ignore = self.raw(index, None)
        M = letterbox_matrix(image.shape[1::-1], self.codec.input_size)
        return transform_boxes(boxes, M, self.codec.input_size), transform_boxes(ignore, M, self.codec.input_size)


def _outside_context(in_boxes: np.ndarray, codec: CenterBoxCodec, targets: dict) -> np.ndarray:
    """(1, h, w) ignore map of a partially annotated photo: 1 (no negative loss) everywhere except inside
    the annotated people's (N, 4) input-pixel boxes grown :data:`PARTIAL_CONTEXT` times about their centres;
    the encoder's own ignore regions stay ignored and centres stay centres."""
    w, h = codec.heatmap_size
    keep = np.zeros((h, w), bool)
    for box in in_boxes:
        centre, half = box[:2] + box[2:] / 2, PARTIAL_CONTEXT * box[2:] / 2
        keep[codec.cells(np.concatenate([centre - half, 2 * half]))] = True
    ignore = np.maximum(targets["ignore"], (~keep)[None].astype(np.float32))
    ignore[targets["centers"] >= 1] = 0
    return ignore
