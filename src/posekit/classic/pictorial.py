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
u = the part detector's log-odds, springs in grid cells at the canonical scale. Two spring models, chosen
on validation (``use_types``): one Gaussian per edge with u = the best type's log-odds, or one Gaussian
per (edge, child's part type) with the MAP over locations and types jointly (Yang & Ramanan's mixtures
of parts, without their type co-occurrence term): a limb's type (its orientation cluster) then decides
both its template and where it sits relative to its parent.
Joint scores reported = sigmoid of the chosen cell's log-odds; person score = their mean.
"""

from __future__ import annotations

import numpy as np

from posekit.classic.features import CANONICAL, block_to_pixel, hog_grid, rescale
from posekit.classic.parts import PartDetectors
from posekit.classic.tree import Springs, tree_map, tree_map_typed
from posekit.predict.base import Predictor
from posekit.skeletons import LSP14, Skeleton
from posekit.types import Prediction


class PictorialStructures(Predictor):
    """The ``ps`` predictor: ``predict(image) -> [Prediction]`` (one person, the best over the scales).

    parts: the HOG part-type detectors. parents: (K,) tree. springs: in canonical grid cells.
    scales: (S,) person-size ratios searched (module docstring). unary_weight, strength: the score's
    two weights (only their ratio changes the MAP).
    """

    def __init__(self, parts: PartDetectors, parents: np.ndarray, springs: Springs, scales: np.ndarray,
                 unary_weight: float = 1.0, strength: float = 1.0, skeleton: Skeleton = LSP14,
                 type_springs: Springs | None = None, use_types: bool = False) -> None:
        super().__init__(skeleton, device="cpu")  # NumPy / OpenCV only: no network
        self.parts = parts
        self.parents = np.asarray(parents)
        self.springs = springs
        self.scales = np.asarray(scales, dtype=np.float64)
        self.unary_weight = float(unary_weight)
        self.strength = float(strength)
        self.type_springs = type_springs
        self.use_types = bool(use_types)
        if use_types and type_springs is None:
            raise ValueError("use_types needs type_springs")

    # the poselet-conditioned model overrides this: springs that depend on the image
    def image_springs(self, small: np.ndarray, grid: np.ndarray) -> Springs | None:
        """Springs chosen for this image at one scale; None = the model's own (generic, or per part type
        when ``use_types``)."""
        return None

    def unaries_at(self, image: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray, Springs | None]:
        """(part-type scores (K, M, by, bx), the resized image's factors (fx, fy), its springs or None)
        for ``image`` resized by ``factor``."""
        small = rescale(image, factor)
        grid = hog_grid(small)
        f = np.array([small.shape[1] / image.shape[1], small.shape[0] / image.shape[0]])
        return self.parts.type_scores(grid), f, self.image_springs(small, grid)

    def solve(self, type_scores: np.ndarray, springs: Springs | None = None) -> tuple[np.ndarray, float, np.ndarray]:
        """MAP of one scale: (cells (K, 2), total score, each part's chosen log-odds (K,)). Type-conditioned
        springs (:func:`~posekit.classic.tree.tree_map_typed`) when the model uses them and the image
        brings none of its own; otherwise the best type's score per cell and one spring per edge."""
        k = len(self.parents)
        if springs is None and self.use_types:
            cells, types, total = tree_map_typed(self.unary_weight * type_scores, self.parents,
                                                 self.type_springs.scaled(self.strength))
            return cells, total, type_scores[np.arange(k), types, cells[:, 1], cells[:, 0]]
        unaries = type_scores.max(axis=1)
        cells, total = tree_map(self.unary_weight * unaries, self.parents,
                                (springs or self.springs).scaled(self.strength))
        return cells, total, unaries[np.arange(k), cells[:, 1], cells[:, 0]]

    def factors(self, image: np.ndarray) -> list[float]:
        """Resize factors of the scale search for a whole image."""
        side = max(image.shape[:2])
        return [CANONICAL / (r * side) for r in self.scales]

    def infer(self, image: np.ndarray, factors: list[float] | None = None) -> tuple[np.ndarray, float]:
        """Best configuration over the scales: keypoints (K, 3) (x, y in image pixels, score) and its
        total score."""
        best = None
        for factor in factors or self.factors(image):
            scores, f, springs = self.unaries_at(image, factor)
            cells, total, logit = self.solve(scores, springs)
            if best is None or total > best[0]:
                best = (total, cells, logit, f)
        total, cells, logit, f = best
        return self.keypoints(cells, logit, f), float(total)

    @staticmethod
    def keypoints(cells: np.ndarray, logit: np.ndarray, f: np.ndarray) -> np.ndarray:
        """(K, 3) keypoints in image pixels from grid cells of an image resized by factors ``f``."""
        xy = (block_to_pixel(cells) + 0.5) / f - 0.5  # grid -> resized pixels -> image pixels
        return np.concatenate([xy, 1.0 / (1.0 + np.exp(-np.asarray(logit, float)[:, None]))], axis=1)

    def _predict_image(self, image: np.ndarray) -> list[Prediction]:
        """The single best person of the scale search, keypoints in image pixels."""
        h, w = image.shape[:2]
        kp, _ = self.infer(image)
        return [Prediction(kp, float(kp[:, 2].mean()), np.array([0.0, 0.0, w, h]), self.skeleton)]

    def _predict_boxes(self, image: np.ndarray, boxes: np.ndarray) -> list[Prediction]:
        """One pose per (N, 4) x, y, w, h box, searched at the scale the box gives."""
        out = []
        for box in boxes:
            kp, _ = self.infer(image, [CANONICAL / max(box[2], box[3], 1.0)])
            out.append(Prediction(kp, float(kp[:, 2].mean()), box, self.skeleton))
        return out

    # ------------------------------------------------------------------------------ weights file
    def state(self) -> dict:
        """What the weights file holds (plain containers of arrays, loadable with weights_only=True)."""
        out = {"parts": self.parts.to_dict(), "parents": self.parents, "springs": self.springs.to_dict(),
               "scales": self.scales, "unary_weight": self.unary_weight, "strength": self.strength,
               "use_types": self.use_types}
        if self.type_springs is not None:
            out["type_springs"] = self.type_springs.to_dict()
        return out

    @classmethod
    def from_state(cls, state: dict) -> PictorialStructures:
        typed = state.get("type_springs")
        return cls(PartDetectors.from_dict(state["parts"]), np.asarray(state["parents"]),
                   Springs.from_dict(state["springs"]), np.asarray(state["scales"]), state["unary_weight"],
                   state["strength"], type_springs=Springs.from_dict(typed) if typed is not None else None,
                   use_types=bool(state.get("use_types", False)))
