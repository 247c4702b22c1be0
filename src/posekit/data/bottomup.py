"""BottomUpDataset: whole images and composed scenes with every person's keypoints, for bottom-up networks
(part affinity fields, :mod:`posekit.models.paf`).

The items are the person detector's (:class:`~posekit.data.detection.DetectionDataset`, whose machinery this
reuses: the same real photos, composed scenes, letterboxing and augmentation -- log-uniform rescaling,
shifts, mirroring, colour jitter, some grey inputs; no rotation), with
:class:`~posekit.codecs.paf.PAFCodec` targets for all the people of the image instead of boxes. One
difference: the input is antialiased where the letterbox shrinks the image
(:func:`~posekit.preprocess.network_input`; the detector samples plain bilinear), because the parts of small
people are what a bottom-up network must see.

A bottom-up network learns "no person here" from every unlabelled pixel, so a person nobody annotated must
not be taught as background (Cao et al. 2017 mask them out of the loss). The masks (``heatmap_mask`` per
joint, ``paf_mask`` per limb, 1 = supervised) say where the labels can be trusted:

* composed scenes: everywhere. Every pasted person is labelled, and a joint a scene person lacks (v = 0:
  unlabelled in its source or outside the scene) has no pixels there either -- the silhouette is painted
  from the labelled joints only -- so "nothing here" is right for it too;
* photos annotating only some of their people (LSP and LSPet: one person, other people often in the
  background; MPII: one or two people of crowded photos): only around the annotated people, inside each
  one's keypoint-extent box grown :data:`~posekit.data.detection.PARTIAL_CONTEXT` times (the region where
  the detector learns its negatives on such photos); the rest of the photo is not supervised;
* photos annotating every person (COCO format): everywhere except crowd regions and people without any
  labelled joint (their boxes);
* in every real photo, a joint an annotated person lacks (v = 0: hidden, outside the photo, or not
  labelled, such as LSPet's unlabelled joints) is unsupervised in its own map and in the fields of its
  limbs within that person's grown box: it may be visible there, at a place nobody marked.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from posekit.codecs import input_to_heatmap
from posekit.codecs.paf import PAFCodec
from posekit.data.compose import SceneComposer
from posekit.data.detection import PARTIAL_CONTEXT, DetectionDataset, transform_boxes
from posekit.data.silhouette import extent_box
from posekit.data.transforms import apply_affine
from posekit.preprocess import letterbox_matrix, network_input, normalize_image
from posekit.skeletons import Skeleton
from posekit.types import Person, Sample, keypoint_area

__all__ = ["BottomUpDataset", "box_cells"]

#: item kinds whose every person is annotated (the whole input is supervised)
FULLY_ANNOTATED = ("scene", "annotated")


def box_cells(box: np.ndarray, input_size: Sequence[int], heatmap_size: Sequence[int]) -> tuple[slice, slice]:
    """(rows, columns) of the heatmap cells an (x, y, w, h) input-pixel box overlaps (a cell covers a
    stride x stride block of input pixels), clipped to the grid (empty slices when it misses the grid): a
    small box still reaches the cell it lies in."""
    w, h = heatmap_size
    x0, y0 = input_to_heatmap(np.asarray(box[:2], dtype=np.float64), input_size, heatmap_size)
    x1, y1 = input_to_heatmap(np.asarray(box[:2], dtype=np.float64) + box[2:], input_size, heatmap_size)
    # cell i spans [i - 0.5, i + 0.5] in heatmap coordinates
    cols = slice(min(w, max(0, int(np.floor(x0 + 0.5)))), min(w, max(0, int(np.ceil(x1 - 0.5)) + 1)))
    rows = slice(min(h, max(0, int(np.floor(y0 + 0.5)))), min(h, max(0, int(np.ceil(y1 - 0.5)) + 1)))
    return rows, cols


def _grown(box: np.ndarray, factor: float) -> np.ndarray:
    """An (x, y, w, h) box scaled ``factor`` times about its centre."""
    centre, half = box[:2] + box[2:] / 2, factor * box[2:] / 2
    return np.concatenate([centre - half, 2 * half])


class BottomUpDataset(DetectionDataset):
    """Whole images + every person's keypoints and the loss masks, for :class:`~posekit.models.paf.PAFNet`.

    codec: the :class:`PAFCodec` (its ``input_size`` is the network input, its limbs the fields' order).
    annotated / keypoint_only / partial / composer / num_scenes / augment / scale_range: as
        :class:`~posekit.data.detection.DetectionDataset` (keypoint-only photos are treated as partially
        annotated here: see the module docstring).

    Item: {"image": (3, H, W) float32, "heatmaps": (K, h, w), "pafs": (L, 2, h, w), "weights": (K,),
    "paf_weights": (L,) (the codec's), "heatmap_mask": (K, h, w), "paf_mask": (L, h, w) float32 (1 =
    supervised), "index"}; keypoints in input pixels of the letterboxed (and, in training, augmented) image;
    a mirrored input swaps left and right joints (the sample's ``skeleton.flip_index``).
    """

    def __init__(self, codec: PAFCodec, annotated: Sequence[Sample] = (), keypoint_only: Sequence[Sample] = (),
                 composer: SceneComposer | None = None, num_scenes: int = 0, augment: bool = True,
                 scale_range: tuple[float, float] = (0.5, 1.3), partial: Sequence[Sample] = ()) -> None:
        super().__init__(codec, annotated=annotated, keypoint_only=keypoint_only, composer=composer,
                         num_scenes=num_scenes, augment=augment, scale_range=scale_range, partial=partial)

    @property
    def skeleton(self) -> Skeleton:
        """The skeleton every item's keypoints follow."""
        if self.real:
            return self.real[0][0].skeleton
        if self.composer is not None:
            return self.composer.skeleton
        raise ValueError("an empty BottomUpDataset has no skeleton")

    def kind(self, index: int) -> str:
        """"annotated", "keypoints", "partial" (real photos) or "scene" (composed)."""
        return self.real[index][1] if index < len(self.real) else "scene"

    def get(self, index: int, rng: np.random.Generator | None = None) -> dict:
        """Item ``index``; ``rng`` draws the augmentation (None with ``augment=False``: deterministic)."""
        if index < 0:
            index += len(self)
        if self.augment and rng is None:
            rng = np.random.default_rng()
        image, sample, kind = self.source(index, rng if self.augment else None)
        M = self._matrix(image.shape[1::-1], rng if self.augment else None)
        x = network_input(image, M, self.codec.input_size)
        if self.augment:
            x = self.photometric(x, rng)
        people = self._in_input(sample, kind, M)
        k = sample.skeleton.num_joints
        targets = self.codec.encode([p.keypoints for p in people if not p.is_crowd], num_joints=k)
        targets["heatmap_mask"], targets["paf_mask"] = self._masks(people, kind, k)
        item = {"image": normalize_image(x), "index": index}
        item.update({key: torch.from_numpy(v) for key, v in targets.items()})
        return item

    def ground_truth(self, index: int) -> list[Person]:
        """Evaluation: the people of item ``index`` in input pixels of its plain letterbox (no augmentation),
        crowd regions included (``is_crowd``); ``area`` for OKS as PROTOCOLS.md "Multi-person" has it: a
        composed person's keypoint box enlarged x 1.25 (w x h), a COCO person's annotated area (scaled)."""
        image, sample, kind = self.source(index, None)
        M = letterbox_matrix(image.shape[1::-1], self.codec.input_size)
        people = self._in_input(sample, kind, M)
        out = []
        for p, original in zip(people, sample.people, strict=True):
            if kind == "scene" or original.area is None:
                area = keypoint_area(p.keypoints)
            else:
                area = float(original.area) * M[0, 0] ** 2
            out.append(Person(keypoints=p.keypoints, box=p.box, is_crowd=p.is_crowd, area=area))
        return out

    # ---------------------------------------------------------------------------------------- pieces
    def _in_input(self, sample: Sample, kind: str, M: np.ndarray) -> list[Person]:
        """The sample's people moved into the input by the letterbox matrix ``M`` (left/right joints swapped
        when it mirrors); ``box`` = the annotated box (COCO, scenes) or the keypoint extent (LSP, MPII),
        clipped to the input. Unlabelled joints are zeros."""
        flip = M[0, 0] < 0
        flip_index = sample.skeleton.flip_index
        out = []
        for p in sample.people:
            kp = np.asarray(p.keypoints, dtype=np.float64).copy()
            labelled = kp[:, 2] > 0
            if p.is_crowd or kind in FULLY_ANNOTATED:
                box = np.asarray(p.box, dtype=np.float64)
            else:
                box = extent_box(kp, sample.skeleton)
            kp[:, :2] = apply_affine(kp[:, :2], M)
            kp[~labelled] = 0.0
            if flip:
                kp = kp[flip_index]
            out.append(Person(keypoints=kp, box=transform_boxes(box[None], M, self.codec.input_size)[0],
                              is_crowd=p.is_crowd))
        return out

    def _masks(self, people: list[Person], kind: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(heatmap_mask (K, h, w), paf_mask (L, h, w)) float32 for ``people`` in input pixels (module
        docstring)."""
        w, h = self.codec.heatmap_size
        size, grid = self.codec.input_size, self.codec.heatmap_size
        limbs = self.codec.limbs
        supervised = np.zeros((h, w), bool)
        if kind in FULLY_ANNOTATED:
            supervised[:] = True
        else:
            for p in people:
                if not p.is_crowd and p.num_labelled:
                    supervised[box_cells(_grown(p.box, PARTIAL_CONTEXT), size, grid)] = True
        for p in people:  # crowds and people without a labelled joint: nothing known inside their box
            if (p.is_crowd or not p.num_labelled) and p.box[2] > 0 and p.box[3] > 0:
                supervised[box_cells(p.box, size, grid)] = False
        heatmap_mask = np.repeat(supervised[None], k, axis=0).astype(np.float32)
        paf_mask = np.repeat(supervised[None], len(limbs), axis=0).astype(np.float32)
        if kind == "scene":
            return heatmap_mask, paf_mask
        for p in people:
            missing = p.keypoints[:, 2] <= 0
            if p.is_crowd or not p.num_labelled or not missing.any():
                continue
            cells = box_cells(_grown(p.box, PARTIAL_CONTEXT), size, grid)
            for j in np.flatnonzero(missing):
                heatmap_mask[(j, *cells)] = 0.0
            for li, (a, b) in enumerate(limbs):
                if missing[a] or missing[b]:
                    paf_mask[(li, *cells)] = 0.0
        return heatmap_mask, paf_mask
