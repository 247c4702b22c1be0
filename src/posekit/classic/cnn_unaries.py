"""Pictorial structures on CNN unaries (``ps_cnn``): the shipped default network's heatmaps as part
scores, the tree of :mod:`posekit.classic.tree` on top, in place of the codec's independent per-joint
arg-max.

Unary of joint k at heatmap cell (x, y): ``temperature * log(max(h_k(x, y), floor))``, with h the
flip-averaged heatmap of the crop (the network was trained with L2 on Gaussians, so h is not a
probability; the floor keeps the log finite and bounds how much an empty map can veto a location).
Springs: Gaussians over child - parent offsets in heatmap cells of the *crop* (the training poses are
mapped into the crop their own keypoint box would get, the same padding and input size as at test time),
multiplied by ``strength``. Only the ratio strength / temperature changes the MAP; both are kept so the
unary scale is explicit. The MAP cell of each joint is then refined to sub-cell precision by the codec's
own DARK refinement around that cell, and scored by the heatmap value there.

The rest of the pipeline is the default predictor's, unchanged (detector, crop, re-crop pass, flip
test, person scoring): :class:`~posekit.predict.classic.TreeDecodingPredictor` replaces only its decoding
step, in every pass.
"""

from __future__ import annotations

import numpy as np

from posekit.classic.tree import Springs, tree_map
from posekit.codecs import heatmap_to_input, input_to_heatmap
from posekit.codecs.heatmap import HeatmapCodec, dark_refine
from posekit.data.transforms import affine_matrix, apply_affine, box_to_center_scale
from posekit.types import Sample, box_from_keypoints


def crop_poses(samples: list[Sample], codec: HeatmapCodec, padding: float) -> tuple[np.ndarray, np.ndarray]:
    """Ground-truth poses of single-person samples in heatmap cells of the crop a top-down predictor
    would take around them (keypoint box x ``padding``, the codec's input aspect): ((N, K, 2) cells,
    (N, K) labelled). People with fewer than 4 labelled joints are skipped."""
    aspect = codec.input_size[0] / codec.input_size[1]
    poses, labelled = [], []
    for s in samples:
        for person in s.people:
            kp = np.asarray(person.keypoints, dtype=np.float64)
            vis = kp[:, 2] > 0
            if vis.sum() < 4:
                continue
            center, size = box_to_center_scale(box_from_keypoints(kp), aspect, padding)
            m = affine_matrix(center, size, tuple(codec.input_size))
            poses.append(input_to_heatmap(apply_affine(kp[:, :2], m), codec.input_size, codec.heatmap_size))
            labelled.append(vis)
    return np.stack(poses), np.stack(labelled)


class TreeDecoder:
    """Heatmaps -> keypoints by exact tree MAP (module docstring).

    parents: (K,) tree. springs: in heatmap cells. temperature, strength, floor: see the module docstring.
    codec: the network's codec (input / heatmap sizes, sigma for the sub-cell refinement).
    """

    def __init__(self, parents: np.ndarray, springs: Springs, codec: HeatmapCodec, temperature: float = 1.0,
                 strength: float = 1.0, floor: float = 1e-2) -> None:
        self.parents = np.asarray(parents)
        self.springs = springs
        self.codec = codec
        self.temperature = float(temperature)
        self.strength = float(strength)
        self.floor = float(floor)

    def cells(self, heatmaps: np.ndarray) -> np.ndarray:
        """(K, h, w) heatmaps of one crop -> (K, 2) int MAP cells (x, y)."""
        unary = self.temperature * np.log(np.maximum(heatmaps.astype(np.float64), self.floor))
        cells, _ = tree_map(unary, self.parents, self.springs.scaled(self.strength))
        return cells

    def decode(self, heatmaps: np.ndarray) -> np.ndarray:
        """(N, K, h, w) heatmaps -> (N, K, 3) keypoints (x, y, score) in crop (input) pixels."""
        hm = np.asarray(heatmaps)
        n, k, h, w = hm.shape
        cells = np.stack([self.cells(m) for m in hm]).reshape(n * k, 2)
        flat = hm.reshape(n * k, h, w)
        refined = dark_refine(flat, cells, self.codec.sigma) if self.codec.refine == "dark" else cells.astype(float)
        xy = heatmap_to_input(refined, self.codec.input_size, self.codec.heatmap_size)
        score = np.clip(flat[np.arange(n * k), cells[:, 1], cells[:, 0]], 0.0, None)
        return np.concatenate([xy, score[:, None]], axis=1).reshape(n, k, 3)
