"""Pictorial structures on HOG part detectors (``ps``): appearance (:mod:`.parts`) + the tree of springs
(:mod:`.tree`) with exact MAP inference, over the 14 LSP joints rooted at the neck.

Scale search. The model lives at the canonical scale (person keypoint box ``CANONICAL`` px on its longer
side). LSP / LSPet images are person-centred crops, so the person's size is a fraction of the image's:
the training set's ratio r = keypoint-box longer side / image longer side gives ``scales`` (its 20th,
50th and 80th percentiles by default); a test image is resized for each r so that a person of that
ratio has the canonical size, the tree MAP is solved at each, and the configuration with the best total
score (unaries + springs) wins. With a given person box (``predict(image, boxes=...)``) the one scale
making the box's longer side canonical is used instead.

Score of a configuration: ``unary_weight * sum_k u_k(L_k) - strength * sum_edges spring(L_c - L_p)``,
u = the part detector's log-odds (best type), springs in grid cells at the canonical scale.
Joint scores reported = sigmoid of the chosen cell's log-odds; person score = their mean.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from posekit.classic.features import CANONICAL, block_to_pixel, hog_grid, rescale
from posekit.classic.parts import PartDetectors
from posekit.classic.tree import Springs, tree_map
from posekit.data.dataset import read_image
from posekit.skeletons import LSP14, Skeleton
from posekit.types import Prediction


class PictorialStructures:
    """The ``ps`` predictor: ``predict(image) -> [Prediction]`` (one person, the best over the scales).

    parts: the HOG part-type detectors. parents: (K,) tree. springs: in canonical grid cells.
    scales: (S,) person-size ratios searched (module docstring). unary_weight, strength: the score's
    two weights (only their ratio changes the MAP).
    """

    padding = 1.25  # what evaluate.gt_box divides boxes by (a top-down predictor's margin); unused here

    def __init__(self, parts: PartDetectors, parents: np.ndarray, springs: Springs, scales: np.ndarray,
                 unary_weight: float = 1.0, strength: float = 1.0, skeleton: Skeleton = LSP14) -> None:
        self.parts = parts
        self.parents = np.asarray(parents)
        self.springs = springs
        self.scales = np.asarray(scales, dtype=np.float64)
        self.unary_weight = float(unary_weight)
        self.strength = float(strength)
        self.skeleton = skeleton

    # the poselet-conditioned model overrides this: springs that depend on the image
    def image_springs(self, small: np.ndarray, grid: np.ndarray) -> Springs:
        """The springs used for an image at one scale (here: the learned ones, whatever the image)."""
        return self.springs

    def unaries_at(self, image: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray, Springs, np.ndarray]:
        """(unaries (K, by, bx), the resized image's factors (fx, fy), its springs, its HOG grid) for
        ``image`` resized by ``factor``."""
        small = rescale(image, factor)
        grid = hog_grid(small)
        f = np.array([small.shape[1] / image.shape[1], small.shape[0] / image.shape[0]])
        return self.parts.score_maps(grid), f, self.image_springs(small, grid), grid

    def solve(self, unaries: np.ndarray, springs: Springs) -> tuple[np.ndarray, float]:
        """MAP cells (K, 2) and total score of one scale's unaries."""
        return tree_map(self.unary_weight * unaries, self.parents, springs.scaled(self.strength))

    def factors(self, image: np.ndarray) -> list[float]:
        """Resize factors of the scale search for a whole image."""
        side = max(image.shape[:2])
        return [CANONICAL / (r * side) for r in self.scales]

    def infer(self, image: np.ndarray, factors: list[float] | None = None) -> tuple[np.ndarray, float]:
        """Best configuration over the scales: keypoints (K, 3) (x, y in image pixels, score) and its
        total score."""
        best = None
        for factor in factors or self.factors(image):
            unaries, f, springs, _ = self.unaries_at(image, factor)
            cells, total = self.solve(unaries, springs)
            if best is None or total > best[0]:
                best = (total, cells, unaries, f)
        total, cells, unaries, f = best
        xy = (block_to_pixel(cells) + 0.5) / f - 0.5  # grid -> resized pixels -> image pixels
        logit = unaries[np.arange(len(cells)), cells[:, 1], cells[:, 0]]
        return np.concatenate([xy, 1.0 / (1.0 + np.exp(-logit[:, None]))], axis=1), float(total)

    def predict(self, image: str | Path | np.ndarray, boxes: np.ndarray | list | None = None) -> list[Prediction]:
        """Poses for a BGR uint8 image (or a path): one per box when ``boxes`` (N, 4) x, y, w, h are
        given, else the single best person of the scale search. Keypoints in image pixels."""
        if not isinstance(image, np.ndarray):
            image = read_image(image)
        h, w = image.shape[:2]
        if boxes is None:
            kp, _ = self.infer(image)
            return [Prediction(kp, float(kp[:, 2].mean()), np.array([0.0, 0.0, w, h]), self.skeleton)]
        out = []
        for box in np.asarray(boxes, dtype=np.float64).reshape(-1, 4):
            kp, _ = self.infer(image, [CANONICAL / max(box[2], box[3], 1.0)])
            out.append(Prediction(kp, float(kp[:, 2].mean()), box, self.skeleton))
        return out

    # ------------------------------------------------------------------------------ weights file
    def state(self) -> dict:
        """What the weights file holds (plain containers of arrays, loadable with weights_only=True)."""
        return {"parts": self.parts.to_dict(), "parents": self.parents, "springs": self.springs.to_dict(),
                "scales": self.scales, "unary_weight": self.unary_weight, "strength": self.strength}

    @classmethod
    def from_state(cls, state: dict) -> PictorialStructures:
        return cls(PartDetectors.from_dict(state["parts"]), np.asarray(state["parents"]),
                   Springs.from_dict(state["springs"]), np.asarray(state["scales"]), state["unary_weight"],
                   state["strength"])
